// The run's transcripts on disk (issue 13): beside the journal, masked like it, each line with its
// time, level and step; a node's lines in its own file; the probe's framing at debug level and out
// of the node's file; a second logger (a reload, the command line) appends to what is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeTranscript, runTranscript, RunLog, type LogLevel } from '../../src/core/journal/transcript';
import { SecretValues } from '../../src/core/journal/secrets';
import { MARK } from '../../src/core/probes/sections';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { loadCluster } from '../../src/core/cluster/load';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { tableOf } from '../fixtures/handlers';

const NODES = ['ucd1', 'ucd2', 'ucd3'];
const AT = new Date('2026-11-24T09:00:00.250Z');

function setup(): { dir: string; journal: string; secrets: SecretValues; shown: [LogLevel, string][]; log: RunLog } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-transcript-'));
  const journal = path.join(dir, '.ucd-upgrade', 'demo-7.0.5.0-to-7.1.2.0.jsonl');
  const secrets = new SecretValues();
  const shown: [LogLevel, string][] = [];
  const log = new RunLog(secrets.mask, (level, line) => shown.push([level, line]), 'Europe/Berlin', () => AT);
  log.attach(journal, NODES);
  return { dir, journal, secrets, shown, log };
}

const read = (f: string) => fs.readFileSync(f, 'utf8');

test('lines go beside the journal: the run\'s transcript has all, a node\'s has its own, each with time, level and step', () => {
  const { journal, log, shown } = setup();
  const step5 = log.forStep({ step: 'verifyStopped' });
  step5.info('[ucd1] $ probe');
  step5.warn('[ucd2] ! no such file');
  log.forStep({ step: 'processes' }).info('[ucd] current activity: none');
  log.info('cluster demo: 3 nodes');
  const run = read(runTranscript(journal));
  assert.equal(path.dirname(runTranscript(journal)), journal.replace(/\.jsonl$/, '.logs'));
  assert.deepEqual(run.trimEnd().split('\n'), [
    '2026-11-24 10:00:00.250 +01:00 [info] [step 5] [ucd1] $ probe',
    '2026-11-24 10:00:00.250 +01:00 [warn] [step 5] [ucd2] ! no such file',
    '2026-11-24 10:00:00.250 +01:00 [info] [step 2] [ucd] current activity: none',
    '2026-11-24 10:00:00.250 +01:00 [info] [run] cluster demo: 3 nodes',
  ]);
  assert.equal(read(nodeTranscript(journal, 'ucd1')), '2026-11-24 10:00:00.250 +01:00 [info] [step 5] [ucd1] $ probe\n');
  assert.equal(read(nodeTranscript(journal, 'ucd2')), '2026-11-24 10:00:00.250 +01:00 [warn] [step 5] [ucd2] ! no such file\n');
  assert.ok(!fs.existsSync(nodeTranscript(journal, 'ucd')), '"[ucd]" is not a node: no file of its own');
  // What is shown carries the step too (the output channel stamps its own time).
  assert.deepEqual(shown[0], ['info', '[step 5] [ucd1] $ probe']);
});

test('the probe\'s framing is debug: in the run\'s transcript, not in the node\'s', () => {
  const { journal, log, shown } = setup();
  const s = log.forStep({ step: 'verifyStopped', node: 'ucd3' });
  s.info(`[ucd3] | ${MARK}:0a1b2c3d4e5f begin processes`);
  s.info('[ucd3] | 4242 java');
  assert.match(read(runTranscript(journal)), /\[debug\] \[step 5\] \[ucd3\] \| @@ucd-probe:0a1b2c3d4e5f begin processes/);
  assert.equal(read(nodeTranscript(journal, 'ucd3')), '2026-11-24 10:00:00.250 +01:00 [info] [step 5] [ucd3] | 4242 java\n');
  assert.deepEqual(shown.map(([l]) => l), ['debug', 'info']);
});

test('secrets are masked on disk and on screen, also one learnt after the logger was made', () => {
  const { journal, log, shown, secrets } = setup();
  secrets.add('s3cr3t-pass');
  log.forStep({ step: 'backup' }).info('[ucd1] $ mysqldump --password=s3cr3t-pass ucd');
  log.error('json-escaped "s3cr3t-pass"');
  const all = read(runTranscript(journal)) + read(nodeTranscript(journal, 'ucd1')) + JSON.stringify(shown);
  assert.ok(!all.includes('s3cr3t-pass'), all);
  assert.match(read(nodeTranscript(journal, 'ucd1')), /--password=\*\*\* ucd/);
});

test('a continuation line keeps the first line\'s step; a second logger on the same run appends', () => {
  const { journal, log } = setup();
  log.forStep({ step: 'installFirst', node: 'ucd1' }).info('[ucd1] pre-flight probe exit 0\nline two');
  const again = new RunLog(() => [], () => undefined, 'UTC', () => AT);
  again.attach(journal, NODES);
  again.forStep({ step: 'startFirst' }).info('[ucd1] started');
  assert.deepEqual(read(nodeTranscript(journal, 'ucd1')).trimEnd().split('\n'), [
    '2026-11-24 10:00:00.250 +01:00 [info] [step 7] [ucd1] pre-flight probe exit 0',
    '2026-11-24 10:00:00.250 +01:00 [info] [step 7] line two',
    '2026-11-24 09:00:00.250 +00:00 [info] [step 8] [ucd1] started',
  ]);
});

test('Show Log on a node nothing was logged about yet gets a file that says so; no run, no file', () => {
  const { journal, log } = setup();
  const f = log.nodeFile('ucd2');
  assert.equal(f, nodeTranscript(journal, 'ucd2'));
  assert.match(read(f!), /^2026-11-24 10:00:00\.250 \+01:00 \[info\] \[run\] \[ucd2\] transcript of ucd2 for demo-7\.0\.5\.0-to-7\.1\.2\.0\.jsonl; nothing else logged about ucd2 yet\n$/);
  log.forStep({ step: 'stop' }).info('[ucd2] stopping');
  assert.equal(log.nodeFile('ucd2'), f);
  assert.equal(read(f!).split('\n').length, 3, 'created once, then appended');
  assert.equal(new RunLog(() => []).nodeFile('ucd2'), undefined);
});

test('a transcript that cannot be written is said once and never stops the caller', () => {
  const { dir, journal, log, shown } = setup();
  // The folder the transcripts go in is a file: nothing can be created under it.
  fs.mkdirSync(path.dirname(journal), { recursive: true });
  fs.writeFileSync(journal.replace(/\.jsonl$/, '.logs'), 'in the way');
  log.info('one');
  log.info('two');
  const errors = shown.filter(([l]) => l === 'error');
  assert.equal(errors.length, 1, JSON.stringify(shown));
  assert.match(errors[0][1], /the transcript .*run\.log cannot be written .*; the steps and the journal go on/);
  assert.deepEqual(shown.filter(([l]) => l === 'info').map(([, m]) => m), ['one', 'two']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the runner gives each action a log that names its step', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-transcript-'));
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  const session = RunSession.open(r.cluster, dir);
  const log = new RunLog(() => [], () => undefined, 'UTC', () => AT);
  log.attach(session.journalFile, NODES);
  const runner = new Runner(session, {
    log,
    handlers: tableOf({ package: { check: async (ctx) => ctx.log.info('[ucd2] install-server.sh present') } }),
  });
  await runner.check({ step: 'package', node: 'ucd2' });
  await runner.skip({ step: 'backup' }, 'taken by the DBA');
  session.dispose();
  assert.match(read(nodeTranscript(session.journalFile, 'ucd2')), /\[info\] \[step 3\] \[ucd2\] install-server\.sh present\n$/);
  assert.match(read(runTranscript(session.journalFile)), /\[info\] \[step 1\] Back up the database: skipped — taken by the DBA\n$/);
});
