import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstallerDriver, type InstallerEvent } from '../../src/core/ucd/installer/driver';
import { FakeClock } from '../fixtures/installer/clock';
import {
  ANT_START,
  COPYING,
  DIR_PROMPT,
  ECHO,
  FIRST_NODE,
  INSTALL_DIR_PROMPT,
  JRE_PROMPT,
  NOTICE,
  OTHER_NODE,
  SCHEMA,
  SUCCESS,
  UPGRADE_PROMPT,
  converse,
  type Turn,
} from '../fixtures/installer/transcripts';

const CLUSTER = { currentVersion: '7.0.5.0', targetVersion: '7.1.2.0' };
const NODE = { name: 'ucd1', installDir: '/opt/ucd/server', os: 'linux' as const };
// This run proved the backup and processes: the NOTICE is acknowledged (installer-notice.test.ts covers the other case).
const PROVEN = { kind: 'answer' as const, note: 'NOTICE acknowledged: proven in this run' };
const GUIDED = { cluster: CLUSTER, node: NODE, mode: 'guided' as const, quietMs: 3000, notice: PROVEN };

const of = <T extends InstallerEvent['type']>(events: readonly InstallerEvent[], type: T) =>
  events.filter((e): e is Extract<InstallerEvent, { type: T }> => e.type === type);

function driver(opts: Partial<ConstructorParameters<typeof InstallerDriver>[0]> = {}) {
  const clock = new FakeClock();
  const d = new InstallerDriver({ ...GUIDED, clock, ...opts });
  return { d, clock };
}

test('first node: answers directory, install dir, Y and the NOTICE in order, sees the schema upgrade, ends successfully', () => {
  const c = converse(FIRST_NODE, GUIDED);
  c.driver.end(0);
  const answers = of(c.events, 'answer');
  assert.deepEqual(
    answers.map((a) => [a.prompt, a.value, a.text]),
    [
      ['upgradeDirectory', '/opt/ucd/server', '/opt/ucd/server\r'],
      ['installDirectory', '/opt/ucd/server', '/opt/ucd/server\r'],
      ['upgradeConfirm', 'Y', 'Y\r'],
      ['notice', '', '\r'],
    ],
  );
  assert.equal(answers[2].shown.version, '7.0.5.0.1050384');
  assert.deepEqual(of(c.events, 'info').map((e) => e.kind), ['databaseUpgrades']);
  assert.deepEqual(of(c.events, 'unknownPrompt'), [], 'long silences after "install:" and "[copy]" are not questions');
  assert.deepEqual(of(c.events, 'refusal'), []);
  const done = of(c.events, 'done');
  assert.equal(done.length, 1);
  assert.equal(done[0].success, true);
  // Progress lines are cleaned: no Ant frame.
  assert.ok(of(c.events, 'progress').some((p) => p.line === 'Found database upgrades, cancelling currently running processes'));
});

test('other node: same answers, no database upgrade; the JRE is never asked when set_env exists', () => {
  const c = converse(OTHER_NODE, { ...GUIDED, node: { ...NODE, name: 'ucd2' } });
  c.driver.end(0);
  assert.deepEqual(of(c.events, 'answer').map((a) => a.prompt), ['upgradeDirectory', 'installDirectory', 'upgradeConfirm', 'notice']);
  assert.deepEqual(of(c.events, 'info').map((e) => e.kind), ['noDatabaseUpgrades']);
  assert.equal(of(c.events, 'done')[0].success, true);
});

test('the JRE prompt, when asked, is answered blank (accept the default) and only then', () => {
  const turns: Turn[] = [
    { out: DIR_PROMPT },
    { expect: 'upgradeDirectory', value: '/opt/ucd/server' },
    { out: JRE_PROMPT('/usr/lib/jvm/java-17-openjdk-amd64') },
    { expect: 'javaHome', value: '' },
    { out: ANT_START + INSTALL_DIR_PROMPT() },
    { expect: 'installDirectory', value: '/opt/ucd/server' },
  ];
  const c = converse(turns, GUIDED);
  const jre = of(c.events, 'answer').find((a) => a.prompt === 'javaHome');
  assert.ok(jre);
  assert.equal(jre.shown.javaHome, '/usr/lib/jvm/java-17-openjdk-amd64');
  assert.match(jre.note, /java-17-openjdk-amd64/);
});

test('a JRE prompt with no default is not answered: blank would make install-server.sh loop', () => {
  const { d } = driver();
  d.feed(DIR_PROMPT);
  d.feed('/opt/ucd/server\r\n');
  d.feed(JRE_PROMPT(''));
  assert.deepEqual(of(d.events, 'answer').map((a) => a.prompt), ['upgradeDirectory']);
  const r = of(d.events, 'refusal');
  assert.equal(r.length, 1);
  assert.equal(r[0].kind, 'noDefaultJavaHome');
  assert.equal(r[0].installerWaiting, true);
  assert.equal(d.state, 'refused');
});

test('a previous version other than currentVersion gets no Y: the runbook stops and hands over', () => {
  const { d } = driver();
  d.feed(ANT_START + INSTALL_DIR_PROMPT());
  d.feed(UPGRADE_PROMPT('7.0.4.2.1038002'));
  const answers = of(d.events, 'answer');
  assert.deepEqual(answers.map((a) => a.prompt), ['installDirectory']);
  const [r] = of(d.events, 'refusal');
  assert.equal(r.kind, 'unexpectedPreviousVersion');
  assert.equal(r.source, 'runbook');
  assert.equal(r.installerWaiting, true);
  assert.match(r.message, /ucd1.*7\.0\.4\.2\.1038002.*7\.0\.5\.0/);
  // Nothing more is typed, even if the NOTICE were to follow.
  d.feed(NOTICE);
  assert.equal(of(d.events, 'answer').length, 1);
});

test('a prompt split across chunks anywhere (inside ANSI codes and CRLF) is answered once, when complete', () => {
  const coloured: Turn[] = FIRST_NODE.map((t) =>
    'out' in t && t.out.includes('previous version') ? { out: `\x1b[1;33m${t.out.replace('\n', '\x1b[0m\r\n')}` } : t,
  );
  for (const size of [1, 2, 3, 7, 13]) {
    const split = (s: string) => s.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
    const c = converse(coloured, GUIDED, split);
    c.driver.end(0);
    assert.deepEqual(
      of(c.events, 'answer').map((a) => `${a.prompt}=${a.value}`),
      ['upgradeDirectory=/opt/ucd/server', 'installDirectory=/opt/ucd/server', 'upgradeConfirm=Y', 'notice='],
      `chunks of ${size}`,
    );
    assert.equal(of(c.events, 'done')[0].success, true, `chunks of ${size}`);
  }
});

test('a prompt is not answered before its last character arrives', () => {
  const { d } = driver();
  const text = UPGRADE_PROMPT('7.0.5.0').trimEnd();
  d.feed(text.slice(0, -1));
  assert.equal(of(d.events, 'answer').length, 0);
  d.feed(text.slice(-1));
  assert.deepEqual(of(d.events, 'answer').map((a) => a.value), ['Y']);
});

test('prompts wrapped across lines (at spaces, or mid-word) and without a trailing newline still match', () => {
  const { d } = driver();
  d.feed('Enter the directory of the server to upgrade(leave blank for\r\ninstalling to a clean direc\r\ntory).');
  assert.deepEqual(of(d.events, 'answer').map((a) => a.prompt), ['upgradeDirectory']);
  d.feed('/opt/ucd/server\r\n');
  const folded = NOTICE.replace(/(.{1,79})( |$)/gm, '$1\n');
  d.feed(folded);
  assert.deepEqual(of(d.events, 'answer').map((a) => a.prompt), ['upgradeDirectory', 'notice']);
});

test('HCL-branded product names are accepted at the install-directory prompt', () => {
  for (const product of ['HCL UrbanCode Deploy', 'HCL Launch', 'HCL DevOps Deploy']) {
    const { d } = driver();
    d.feed(INSTALL_DIR_PROMPT(product, '/opt/hcl/server'));
    const [a] = of(d.events, 'answer');
    assert.equal(a?.prompt, 'installDirectory', product);
    assert.equal(a.shown.product, product);
    assert.equal(a.shown.defaultDir, '/opt/hcl/server');
  }
});

test('an unknown question is handed over after the quiet period, not before, and nothing is answered after', () => {
  const { d, clock } = driver();
  d.feed(ANT_START);
  d.feed(`${ECHO}Will this server be used as a node in a high availability cluster? y,N\n`);
  clock.advance(2999);
  assert.equal(of(d.events, 'unknownPrompt').length, 0, 'not before the quiet period');
  clock.advance(1);
  const [u] = of(d.events, 'unknownPrompt');
  assert.equal(u?.reason, 'unrecognised');
  assert.match(u.tail, /high availability cluster\? y,N$/);
  assert.match(u.message, /ucd1/);
  assert.equal(d.state, 'handedOver');
  // The engineer now types in the terminal; the driver must not type too.
  d.feed('y\r\n');
  d.feed(UPGRADE_PROMPT('7.0.5.0'));
  assert.equal(of(d.events, 'answer').length, 0);
  clock.advance(10_000);
  assert.equal(of(d.events, 'unknownPrompt').length, 1, 'reported once');
});

test('new output before the quiet period ends cancels the unknown-prompt suspicion', () => {
  const { d, clock } = driver();
  d.feed(`${ECHO}Checking the configuration:\n`);
  clock.advance(2000);
  d.feed(COPYING);
  clock.advance(60_000);
  assert.equal(of(d.events, 'unknownPrompt').length, 0, 'the last line is progress, not a question');
});

test('ordinary progress never looks like a prompt, however long it is quiet', () => {
  const { d, clock } = driver();
  for (const line of [ANT_START, COPYING, SCHEMA, `${ECHO}Upgrading the database schema\n`, 'upgrade-db:\n']) {
    d.feed(line);
    clock.advance(600_000);
  }
  assert.equal(of(d.events, 'unknownPrompt').length, 0);
});

test('an install dir with a newline is never typed (it would answer the next questions too)', () => {
  const { d } = driver({ node: { ...NODE, installDir: '/opt/ucd/server\nY' } });
  d.feed(DIR_PROMPT);
  assert.equal(of(d.events, 'answer').length, 0);
  const [r] = of(d.events, 'refusal');
  assert.equal(r.kind, 'unsafeAnswer');
  assert.match(r.message, /ucd1/);
});

test('backslashes in the directory are doubled for the shell\'s read, but not for the Java prompt', () => {
  const { d } = driver({ node: { ...NODE, installDir: '/opt/ucd\\x/server' } });
  d.feed(DIR_PROMPT);
  d.feed('echo\r\n');
  d.feed(INSTALL_DIR_PROMPT());
  assert.deepEqual(of(d.events, 'answer').map((a) => a.value), ['/opt/ucd\\\\x/server', '/opt/ucd\\x/server']);
});

test('a prompt asked again after two answers is handed over instead of answered forever', () => {
  const { d } = driver();
  for (let i = 0; i < 3; i++) {
    d.feed(INSTALL_DIR_PROMPT());
    d.feed('/opt/ucd/server\r\n');
  }
  assert.equal(of(d.events, 'answer').length, 2);
  const [r] = of(d.events, 'refusal');
  assert.equal(r.kind, 'repeatedPrompt');
  assert.equal(r.installerWaiting, true);
});

test('exit code 0 without BUILD SUCCESSFUL is not success (install-server.sh always exits 0)', () => {
  const { d } = driver();
  d.feed(ANT_START + COPYING);
  d.end(0);
  const [done] = of(d.events, 'done');
  assert.equal(done.success, false);
  assert.match(done.message, /without BUILD SUCCESSFUL/);
});

test('a line-ending option of NL is used for piped input', () => {
  const { d } = driver({ lineEnding: '\n' });
  d.feed(DIR_PROMPT);
  assert.equal(of(d.events, 'answer')[0].text, '/opt/ucd/server\n');
});

test('silent mode answers nothing, ignores the prompts nonInteractive prints, and flags other quiet questions', () => {
  const { d, clock } = driver({ mode: 'silent' });
  d.feed(DIR_PROMPT + ANT_START + INSTALL_DIR_PROMPT() + NOTICE);
  clock.advance(60_000);
  assert.equal(of(d.events, 'answer').length, 0);
  assert.equal(of(d.events, 'unknownPrompt').length, 0, 'printed known prompts followed by silent work are normal');
  d.feed(`${ECHO}Do you want to continue? (y/n)\n`);
  clock.advance(3000);
  const [u] = of(d.events, 'unknownPrompt');
  assert.equal(u?.reason, 'silentQuiet');
  assert.equal(d.state, 'driving', 'advisory only in silent mode');
  d.feed(SCHEMA + SUCCESS);
  d.end(0);
  assert.equal(of(d.events, 'done')[0].success, true);
});

test('silent mode: quiet at the shell\'s directory prompt is the known 7.0.4.2 hang and is reported', () => {
  const { d, clock } = driver({ mode: 'silent' });
  d.feed(DIR_PROMPT);
  clock.advance(2999);
  assert.equal(of(d.events, 'unknownPrompt').length, 0);
  clock.advance(1);
  const [u] = of(d.events, 'unknownPrompt');
  assert.equal(u?.reason, 'silentQuiet');
  assert.match(u.tail, /^Enter the directory of the server to upgrade/);
  assert.equal(of(d.events, 'answer').length, 0, 'silent mode never types');
});

test('the NOTICE hard-wrapped at 40 columns (9 lines) is still one prompt', () => {
  const { d } = driver();
  const plain = NOTICE.split('\n').map((l) => l.replace(/^ {5}\[echo\] ?/, '')).join(' ').replace(/\s+/g, ' ').trim();
  d.feed(COPYING);
  d.feed(plain.replace(/(.{40})/g, '$1\r\n') + '\r\n');
  assert.deepEqual(of(d.events, 'answer').map((a) => a.prompt), ['notice']);
});
