'use strict';
// Java .properties reading as java.util.Properties.load does it (the product reads installed.properties
// and install.properties that way): comments, key/value separators, backslash escapes, \uXXXX and
// continuation lines; the last occurrence of a key wins. The runbook edits install.properties with
// escapes, so the simulator must read them back the same way.
const fs = require('fs');

function unescape(s) {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return { t: '\t', n: '\n', r: '\r', f: '\f' }[e] ?? e;
  });
}

function oddBackslashes(line) {
  const m = /\\+$/.exec(line);
  return m !== null && m[0].length % 2 === 1;
}

/** text → { key: value } */
function parseProperties(text) {
  const out = {};
  const lines = String(text).split(/\r\n|\r|\n/);
  for (let n = 0; n < lines.length; n++) {
    let logical = lines[n].replace(/^[ \t\f]+/, '');
    if (logical === '' || logical[0] === '#' || logical[0] === '!') continue;
    while (oddBackslashes(logical) && n + 1 < lines.length) logical = logical.slice(0, -1) + lines[++n].replace(/^[ \t\f]+/, '');
    if (oddBackslashes(logical)) logical = logical.slice(0, -1);
    let i = 0;
    while (i < logical.length && !/[=: \t\f]/.test(logical[i])) i += logical[i] === '\\' ? 2 : 1;
    const key = unescape(logical.slice(0, Math.min(i, logical.length)));
    while (i < logical.length && /[ \t\f]/.test(logical[i])) i++;
    if (i < logical.length && (logical[i] === '=' || logical[i] === ':')) i++;
    while (i < logical.length && /[ \t\f]/.test(logical[i])) i++;
    out[key] = unescape(logical.slice(i));
  }
  return out;
}

/** The file's properties, or {} when it cannot be read. */
function readProperties(file) {
  try {
    return parseProperties(fs.readFileSync(file, 'latin1'));
  } catch {
    return {};
  }
}

module.exports = { parseProperties, readProperties };
