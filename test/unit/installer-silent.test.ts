import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InstallerInputError, installPropertiesPath, installerCommand, silentInputLines } from '../../src/core/ucd/installer/command';
import { escapePropertyValue, readProperties, setProperties, silentInstallProperties } from '../../src/core/ucd/installer/properties';

const ROOT = path.resolve(__dirname, '../../..');
const NODE = { name: 'ucd1', installDir: '/opt/ucd/server', os: 'linux' as const };

// Shaped like the package's install.properties: comments, blank lines, keys in an order.
const PACKAGE_PROPS = [
  '# Server installation properties',
  '#   set nonInteractive=true to install without prompts',
  '',
  'install.server.dir=/opt/ibm-ucd/server',
  'install.java.home=',
  '',
  '! database settings',
  'install.server.web.https.port = 8443',
  'server.appdata.dir : /opt/ibm-ucd/server/appdata',
  '',
].join('\n');

test('silent properties: nonInteractive added, install.server.dir set in place, everything else untouched', () => {
  const out = silentInstallProperties(PACKAGE_PROPS, '/opt/ucd/server');
  const before = PACKAGE_PROPS.split('\n');
  const after = out.split('\n');
  assert.equal(after[3], 'install.server.dir=/opt/ucd/server', 'replaced where it was');
  // (the last element of each split is the empty text after the final newline)
  before.slice(0, -1).forEach((line, i) => {
    if (i !== 3) assert.equal(after[i], line, `line ${i + 1} kept`);
  });
  assert.deepEqual(after.slice(before.length - 1), ['# Set by the UCD HA Upgrade Runbook for a silent upgrade', 'nonInteractive=true', '']);
  const props = readProperties(out);
  assert.equal(props.get('nonInteractive'), 'true');
  assert.equal(props.get('install.server.dir'), '/opt/ucd/server');
  assert.equal(props.get('install.server.web.https.port'), '8443');
  assert.equal(props.get('server.appdata.dir'), '/opt/ibm-ucd/server/appdata');
});

test('silent properties: every duplicate is set (the last one wins in Java), separators and CRLF are kept', () => {
  const text = 'nonInteractive = false\r\ninstall.server.dir:/a\r\nx=1\r\ninstall.server.dir /b';
  const out = silentInstallProperties(text, '/opt/ucd/server');
  assert.equal(out, 'nonInteractive = true\r\ninstall.server.dir:/opt/ucd/server\r\nx=1\r\ninstall.server.dir /opt/ucd/server');
  assert.equal(readProperties(out).get('install.server.dir'), '/opt/ucd/server');
});

test('silent properties: a value continued over several lines is replaced as a whole', () => {
  const text = 'install.server.dir=/opt/\\\n    ibm-ucd/\\\n    server\nnext=1\n';
  assert.equal(readProperties(text).get('install.server.dir'), '/opt/ibm-ucd/server');
  const out = setProperties(text, [['install.server.dir', '/srv/ucd']], 'why');
  assert.equal(out, 'install.server.dir=/srv/ucd\nnext=1\n');
  const keyOnly = setProperties('install.server.dir\\\n  =/old\n', [['install.server.dir', '/new']], 'why');
  assert.equal(readProperties(keyOnly).get('install.server.dir'), '/new');
});

const HOSTILE = ['C:\\Program Files\\ucd\\server', ' leading space', 'a=b:c#d!e', 'ünïcødé', 'emoji 😀', 'line\nbreak\r\ttab', '\\u0041 literal', 'trailing\\'];

test('property values round-trip through Java .properties escaping', () => {
  for (const v of HOSTILE) {
    const text = setProperties('', [['install.server.dir', v]], 'test');
    assert.equal(readProperties(text).get('install.server.dir'), v, JSON.stringify(v));
    assert.match(escapePropertyValue(v), /^[\x20-\x7e]*$/, 'the file stays printable ASCII (it is read as Latin-1)');
  }
});

test('java.util.Properties reads our file exactly as intended (the installer\'s own parser)', (t) => {
  // Running a .java file directly needs the JDK's compiler module, not just a JRE.
  const java = spawnSync('java', ['--list-modules'], { encoding: 'utf8' });
  if (java.error || !/^jdk\.compiler@/m.test(java.stdout ?? '')) {
    t.skip('no JDK on this machine (Debian package openjdk-17-jdk-headless)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'props-'));
  try {
    const entries: Array<[string, string]> = HOSTILE.map((v, i) => [`k${i}`, v]);
    const file = path.join(dir, 'install.properties');
    fs.writeFileSync(file, setProperties(PACKAGE_PROPS, entries, 'test'), 'latin1');
    const r = spawnSync('java', [path.join(ROOT, 'test/fixtures/installer/PropsDump.java'), file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const hex = (s: string) => [...s].flatMap((c) => (c.length === 2 ? [c.charCodeAt(0), c.charCodeAt(1)] : [c.charCodeAt(0)])).map((n) => n.toString(16)).join(',');
    const javaSees = new Map(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
    for (const [k, v] of entries) assert.equal(javaSees.get(hex(k)), hex(v), `${k}=${JSON.stringify(v)}`);
    assert.equal(javaSees.get(hex('install.server.web.https.port')), hex('8443'), 'the package\'s keys are kept');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('installer command lines: -fips only when asked, every value quoted', () => {
  const base = { node: NODE, packageDir: "/tmp/ucd pkg/it's", mode: 'guided' as const };
  assert.equal(installerCommand({ ...base, fips: false }).script.text, `cd '/tmp/ucd pkg/it'\\''s' && ./install-server.sh `);
  assert.equal(installerCommand({ ...base, fips: true }).script.text, `cd '/tmp/ucd pkg/it'\\''s' && ./install-server.sh '-fips'`);
  const guided = installerCommand({ ...base, fips: false });
  assert.equal(guided.pty, true);
  const silent = installerCommand({ ...base, fips: true, mode: 'silent' });
  assert.equal(silent.pty, false);
  assert.equal(silent.script.text, `cd '/tmp/ucd pkg/it'\\''s' && printf '%s\\n' '/opt/ucd/server' '' '' | ./install-server.sh '-fips'`);
  const win = installerCommand({ node: { ...NODE, os: 'windows', installDir: 'C:\\UCD\\server' }, packageDir: "C:\\pkg\\it's", fips: true, mode: 'silent' });
  assert.equal(win.os, 'windows');
  assert.equal(win.script.text, `Set-Location -LiteralPath 'C:\\pkg\\it''s'; @('C:\\UCD\\server', '', '') | & .\\install-server.bat '-fips'`);
  assert.equal(installPropertiesPath('/tmp/pkg/', 'linux'), '/tmp/pkg/install.properties');
  assert.equal(installPropertiesPath('C:\\pkg', 'windows'), 'C:\\pkg\\install.properties');
});

test('silent input: an unsafe install dir is refused before anything runs', () => {
  assert.throws(() => silentInputLines({ ...NODE, installDir: '/opt/ucd\nY' }), InstallerInputError);
  assert.deepEqual(silentInputLines({ ...NODE, installDir: '/opt/a\\b' }), ['/opt/a\\\\b', '', '']);
});

test('silent command run by a real shell: hostile paths stay data, input is fed then closed even if ours stays open', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inst-'));
  try {
    const pkg = path.join(dir, `pkg '$(touch pwned)' "; touch pwned2`);
    fs.mkdirSync(pkg);
    // Reads like install-server.sh: plain `read`, then more reads until end of input.
    fs.writeFileSync(
      path.join(pkg, 'install-server.sh'),
      '#!/bin/sh\necho "args=[$*]"\nread INSTALL_SERVER_DIR; echo "dir=[$INSTALL_SERVER_DIR]"\nread JAVA_HOME; echo "jre=[$JAVA_HOME]"\nwhile read x; do echo "more=[$x]"; done\necho EOF\n',
      { mode: 0o755 },
    );
    const node = { ...NODE, installDir: '/opt/ucd $HOME `id` \\x/server' };
    const cmd = installerCommand({ node, packageDir: pkg, fips: true, mode: 'silent' });
    const child = spawn('/bin/sh', ['-c', cmd.script.text], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    // Our end of stdin is deliberately never closed: the command must not depend on it.
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`installer blocked on standard input; output so far: ${out}`));
      }, 10_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0);
    assert.equal(out, 'args=[-fips]\ndir=[/opt/ucd $HOME `id` \\x/server]\njre=[]\nmore=[]\nEOF\n');
    assert.equal(fs.existsSync(path.join(dir, 'pwned')) || fs.existsSync(path.join(dir, 'pwned2')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
