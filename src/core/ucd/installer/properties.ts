// Editing the package's install.properties for a silent upgrade, by Java .properties rules (the
// installer loads it with java.util.Properties through Ant: ISO-8859-1, backslash escapes,
// continuation lines, last occurrence wins). The edit is textual so the file keeps its comments,
// order and other keys.

/** One value written so that Properties.load gives back exactly `value`. */
export function escapePropertyValue(value: string): string {
  let out = '';
  [...value].forEach((ch, i) => {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\f') out += '\\f';
    else if (ch === ' ' && i === 0) out += '\\ ';
    else if ('=:#!'.includes(ch)) out += `\\${ch}`;
    else if (code < 0x20 || code > 0x7e) {
      // Outside printable ASCII: \uXXXX, a surrogate pair as two escapes (the file is Latin-1).
      for (const unit of ch.length === 2 ? [ch.charCodeAt(0), ch.charCodeAt(1)] : [code]) {
        out += `\\u${unit.toString(16).padStart(4, '0')}`;
      }
    } else out += ch;
  });
  return out;
}

/** A logical entry: its natural lines [first, last], key and value as Properties.load sees them. */
interface Entry {
  readonly first: number;
  readonly last: number;
  readonly key: string;
  readonly value: string;
  /** The first line's text up to where the value starts (key and separator, as written). */
  readonly prefix: string;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

function endsWithOddBackslashes(line: string): boolean {
  const m = /\\+$/.exec(line);
  return m !== null && m[0].length % 2 === 1;
}

function splitKey(logical: string): { key: string; valueStart: number } {
  let i = 0;
  while (i < logical.length && /[ \t\f]/.test(logical[i])) i++;
  const keyStart = i;
  while (i < logical.length && !/[=: \t\f]/.test(logical[i])) i += logical[i] === '\\' ? 2 : 1;
  const rawKey = logical.slice(keyStart, Math.min(i, logical.length));
  while (i < logical.length && /[ \t\f]/.test(logical[i])) i++;
  if (i < logical.length && (logical[i] === '=' || logical[i] === ':')) i++;
  while (i < logical.length && /[ \t\f]/.test(logical[i])) i++;
  return { key: unescape(rawKey), valueStart: i };
}

function entries(lines: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (let n = 0; n < lines.length; n++) {
    const trimmed = lines[n].replace(/^[ \t\f]+/, '');
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) continue;
    const first = n;
    let logical = lines[n];
    while (endsWithOddBackslashes(logical) && n + 1 < lines.length) {
      logical = logical.slice(0, -1) + lines[++n].replace(/^[ \t\f]+/, '');
    }
    if (endsWithOddBackslashes(logical)) logical = logical.slice(0, -1);
    const { key, valueStart } = splitKey(logical);
    // The prefix kept when rewriting: the first line up to the value, without a continuation
    // backslash; if the separator was on a later line, '=' keeps key and value apart.
    const firstLine = first < n ? lines[first].slice(0, -1) : lines[first];
    let prefix = firstLine.slice(0, Math.min(valueStart, firstLine.length));
    if (valueStart > firstLine.length && !/[=:]\s*$|[ \t\f]$/.test(prefix)) prefix += '=';
    out.push({ first, last: n, key, value: unescape(logical.slice(valueStart)), prefix });
  }
  return out;
}

function naturalLines(text: string): { lines: string[]; eol: string; finalEol: boolean } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r\n|\r|\n/);
  const finalEol = lines.length > 1 && lines[lines.length - 1] === '';
  if (finalEol) lines.pop();
  if (text === '') lines.length = 0;
  return { lines, eol, finalEol };
}

/** The properties as java.util.Properties.load would read them (last occurrence wins). */
export function readProperties(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of entries(naturalLines(text).lines)) map.set(e.key, e.value);
  return map;
}

/**
 * Sets each key in `updates`: every existing entry for it gets the new value in place (all of
 * them, since the last would win), keeping its key and separator as written; keys not present
 * are appended after a comment saying why. Everything else is kept as it was.
 */
export function setProperties(text: string, updates: ReadonlyArray<readonly [string, string]>, why: string): string {
  const { lines, eol, finalEol } = naturalLines(text);
  const found = entries(lines);
  const replaced = new Map<number, string>();
  const dropped = new Set<number>();
  const missing: Array<readonly [string, string]> = [];
  for (const [key, value] of updates) {
    const hits = found.filter((e) => e.key === key);
    if (hits.length === 0) missing.push([key, value]);
    for (const e of hits) {
      replaced.set(e.first, e.prefix + escapePropertyValue(value));
      for (let n = e.first + 1; n <= e.last; n++) dropped.add(n);
    }
  }
  const out = lines.flatMap((line, n) => (dropped.has(n) ? [] : [replaced.get(n) ?? line]));
  if (missing.length > 0) {
    out.push(`# ${why}`);
    for (const [key, value] of missing) out.push(`${escapeKey(key)}=${escapePropertyValue(value)}`);
  }
  return out.join(eol) + (finalEol || missing.length > 0 ? eol : '');
}

function escapeKey(key: string): string {
  return escapePropertyValue(key).replace(/ /g, '\\ ');
}

/**
 * The package's install.properties prepared for a silent upgrade of `installDir`: nonInteractive
 * so the Java part takes defaults instead of asking, and the server to upgrade.
 */
export function silentInstallProperties(existing: string, installDir: string): string {
  return setProperties(
    existing,
    [
      ['nonInteractive', 'true'],
      ['install.server.dir', installDir],
    ],
    'Set by the UCD HA Upgrade Runbook for a silent upgrade',
  );
}
