import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstallerDriver, type InstallerEvent } from '../../src/core/ucd/installer/driver';
import { summarizeTranscript } from '../../src/core/ucd/installer/summary';
import { FakeClock } from '../fixtures/installer/clock';
import { ANT_START, DIR_PROMPT, ECHO, INSTALL_DIR_PROMPT, NOTICE, UPGRADE_PROMPT } from '../fixtures/installer/transcripts';

const CLUSTER = { currentVersion: '7.0.5.0', targetVersion: '7.1.2.0' };
const NODE = { name: 'ucd2', installDir: '/opt/ucd/server', os: 'linux' as const };
const CTX = { cluster: CLUSTER, node: NODE, mode: 'guided' as const, notice: { kind: 'answer' as const, note: 'NOTICE acknowledged: proven in this run' } };

const BUILD_FAILED = (msg: string) => `\nBUILD FAILED\n/tmp/ibm-ucd-install/install.with.groovy.xml:54: ${msg}\n\nTotal time: 6 seconds\n`;

/** The installer up to the point where the Java part has the install dir, then `after`. */
function run(after: string, exitCode: number | null = 0) {
  const clock = new FakeClock();
  const d = new InstallerDriver({ ...CTX, clock, quietMs: 3000 });
  d.feed(DIR_PROMPT);
  d.feed('/opt/ucd/server\r\n');
  d.feed(ANT_START + INSTALL_DIR_PROMPT());
  d.feed('/opt/ucd/server\r\n');
  d.feed(after);
  clock.advance(10_000);
  const answersBefore = d.events.filter((e) => e.type === 'answer').length;
  d.feed(NOTICE); // whatever follows, a refused run types nothing more
  d.end(exitCode);
  const refusals = d.events.filter((e): e is Extract<InstallerEvent, { type: 'refusal' }> => e.type === 'refusal');
  const done = d.events.find((e): e is Extract<InstallerEvent, { type: 'done' }> => e.type === 'done');
  return { d, refusals, done, answersBefore, answersAfter: d.events.filter((e) => e.type === 'answer').length };
}

const cases: Array<{ name: string; out: string; kind: string; waiting: boolean; message: RegExp; hint: RegExp }> = [
  {
    name: 'pid file found (Ant failure with the build file prefix)',
    out: BUILD_FAILED('Found pid file at /opt/ucd/server/var/server.pid. Ensure IBM UrbanCode Deploy is shutdown, /opt/ucd/server/var/server.pid is removed , then start the installation again.'),
    kind: 'pidFile',
    waiting: false,
    message: /ucd2.*\/opt\/ucd\/server\/var\/server\.pid/,
    hint: /step 5.*stale.*remove \/opt\/ucd\/server\/var\/server\.pid/,
  },
  {
    name: 'a connection can be made (the installer waits for Enter; never press it)',
    out: `${ECHO}A connection can be made to configured server host and port. This is a common scenario when going through a load balancer.Please ensure ALL server processes are stopped before continuing. (press enter to continue)\n`,
    kind: 'connection',
    waiting: true,
    message: /ucd2.*load balancer/,
    hint: /Stop ALL servers/,
  },
  {
    name: 'a previously installed version is running',
    out: `${ECHO}A previously installed version of HCL UrbanCode Deploy is running. Please shutdown the running HCL UrbanCode Deploy and start the installation again.\n`,
    kind: 'stillRunning',
    waiting: false,
    message: /ucd2.*still running/,
    hint: /Stop the server on ucd2/,
  },
  {
    name: 'version mismatch on a non-first node, then "The upgrade is canceled." (one refusal)',
    out: `${ECHO}Version mismatch between existing node (7.0.5.0)and installation (7.1.2.0).\n${ECHO}The upgrade is canceled.\n`,
    kind: 'versionMismatch',
    waiting: false,
    message: /ucd2.*\(7\.0\.5\.0/,
    hint: /first node/,
  },
  {
    name: 'the upgrade canceled for another reason',
    out: `${ECHO}\n${ECHO}IBM UrbanCode Deploy with DB2 on IBM z/OS cannot be upgraded to version 7.1.2.0.\n${ECHO}The upgrade is canceled.\n`,
    kind: 'upgradeCanceled',
    waiting: false,
    message: /ucd2 canceled/,
    hint: /lines just before/,
  },
  {
    name: 'downgrade warning',
    out: `${ECHO}WARNING: You appear to be downgrading from 7.1.2.0 to 7.0.5.0. This is an unsupported operation. Are you sure you want to attempt this downgrade? [Type "yes" to confirm]\n`,
    kind: 'downgrade',
    waiting: true,
    message: /older than the installed server \(7\.1\.2\.0\)/,
    hint: /package of the target version/,
  },
  {
    name: 'install directory does not exist',
    out: `${ECHO}The specified directory does not exist. Do you want to create it? Y,n [Default: Y]\n`,
    kind: 'installDirMissing',
    waiting: true,
    message: /\/opt\/ucd\/server does not exist/,
    hint: /Fix installDir for ucd2/,
  },
  {
    name: 'an Ant failure the table does not know',
    out: BUILD_FAILED('java.sql.SQLException: Access denied for user \'ucd\'@\'10.0.0.2\''),
    kind: 'buildFailed',
    waiting: false,
    message: /ucd2 failed \(BUILD FAILED\).*Access denied/,
    hint: /output for the cause/,
  },
];

for (const c of cases) {
  test(`refusal: ${c.name}`, () => {
    const r = run(c.out);
    assert.equal(r.refusals.length, 1, JSON.stringify(r.refusals));
    const [ref] = r.refusals;
    assert.equal(ref.kind, c.kind);
    assert.equal(ref.source, 'installer');
    assert.equal(ref.installerWaiting, c.waiting);
    assert.match(ref.message, c.message);
    assert.match(ref.hint, c.hint);
    assert.equal(r.answersAfter, r.answersBefore, 'nothing typed after a refusal');
    assert.equal(r.answersBefore, 2, 'only the two directory prompts were answered');
    assert.equal(r.d.events.some((e) => e.type === 'unknownPrompt'), false, 'a known refusal is not an unknown prompt');
    assert.equal(r.done?.success, false);
    const outcome = summarizeTranscript(DIR_PROMPT + '/opt/ucd/server\r\n' + ANT_START + INSTALL_DIR_PROMPT() + c.out, CTX, 0);
    assert.deepEqual([outcome.kind, outcome.kind === 'refused' ? outcome.refusal : ''], ['refused', c.kind]);
  });
}

test('refusal: the facts\' wording of the connection message (without the Enter prompt) is recognised too', () => {
  const r = run('A connection can be made to configured server host and port. This is a common scenario when going through a load balancer.Please ensure ALL server processes are stopped before continuing.\n');
  assert.deepEqual(r.refusals.map((x) => x.kind), ['connection']);
});

test('refusal: "Upgrade aborted." is an aborted outcome; exit code 0 does not make it a success', () => {
  const transcript = DIR_PROMPT + ANT_START + INSTALL_DIR_PROMPT() + UPGRADE_PROMPT('7.0.5.0') + 'n\r\n' + `${ECHO}Upgrade aborted.\n`;
  const r = run(`${ECHO}Upgrade aborted.\n`, 0);
  assert.deepEqual(r.refusals.map((x) => x.kind), ['upgradeAborted']);
  assert.equal(r.done?.success, false);
  const outcome = summarizeTranscript(transcript, CTX, 0);
  assert.equal(outcome.kind, 'aborted');
  assert.match(outcome.kind === 'aborted' ? outcome.message : '', /aborted/);
});

test('refusal: no JRE found — install-server.sh loops on the directory prompt; the loop is not fed', () => {
  const clock = new FakeClock();
  const d = new InstallerDriver({ ...CTX, clock, quietMs: 3000 });
  d.feed(DIR_PROMPT);
  d.feed('/opt/ucd/server\r\n');
  d.feed(`Enter the home directory for the JRE/JDK that the new server or already installed server uses. Default []:\n`);
  const first = d.events.filter((e) => e.type === 'refusal');
  assert.deepEqual(first.map((e) => e.type === 'refusal' && e.kind), ['noDefaultJavaHome']);
  // A person pressed Enter in the terminal: the script now loops.
  d.feed('\r\nCould not find java home and one not specified.\n' + DIR_PROMPT);
  const answers = d.events.filter((e) => e.type === 'answer');
  assert.equal(answers.length, 1, 'the directory prompt is not answered again inside the loop');
  const kinds = d.events.filter((e) => e.type === 'refusal').map((e) => e.type === 'refusal' && e.kind);
  assert.deepEqual(kinds, ['noDefaultJavaHome', 'javaHomeMissing']);
});

test('the schema note is informational: it is not a refusal and the run goes on', () => {
  const d = new InstallerDriver({ ...CTX, clock: new FakeClock() });
  d.feed(`${ECHO}Found database upgrades, cancelling currently running processes\n`);
  d.feed(UPGRADE_PROMPT('7.0.5.0'));
  assert.deepEqual(d.events.filter((e) => e.type === 'info').map((e) => e.type === 'info' && e.kind), ['databaseUpgrades']);
  assert.equal(d.events.filter((e) => e.type === 'refusal').length, 0);
  assert.equal(d.state, 'driving');
  assert.deepEqual(d.events.filter((e) => e.type === 'answer').map((e) => e.type === 'answer' && e.value), ['Y']);
});
