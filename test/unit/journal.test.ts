import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { Journal, mask, parseJournal } from '../../src/core/journal/journal';
import { RunSession } from '../../src/core/runbook/session';
import { VALID_CLUSTER } from '../fixtures/clusters';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-journal-'));
}
function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  return r.cluster;
}

test('a skip survives reopening the session (a window reload)', () => {
  const dir = tmp();
  const s1 = RunSession.open(cluster(), dir);
  s1.skip({ step: 'backup' }, '  DBA took it: CHG-1 ');
  const s2 = RunSession.open(cluster(), dir);
  const v = s2.view().find((x) => x.def.id === 'backup');
  assert.equal(v?.state, 'skipped');
  assert.deepEqual(v?.outcome, { status: 'skipped', at: v?.outcome?.at, reason: 'DBA took it: CHG-1' });
  const lines = fs.readFileSync(s2.journalFile, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2, 'run-opened once, then the skip');
});

test('an action running when the window closed is interrupted after reopening, and recorded so', () => {
  const dir = tmp();
  const s1 = RunSession.open(cluster(), dir);
  s1.begin({ step: 'verifyStopped', node: 'ucd2' }, 'check');
  const s2 = RunSession.open(cluster(), dir);
  assert.deepEqual(s2.interruptedOnOpen, [{ step: 'verifyStopped', node: 'ucd2' }]);
  const node = s2.view().find((x) => x.def.id === 'verifyStopped')?.nodes.find((n) => n.node === 'ucd2');
  assert.equal(node?.state, 'interrupted');
  // A third open finds nothing dangling: the interruption is in the journal.
  assert.deepEqual(RunSession.open(cluster(), dir).interruptedOnOpen, []);
});

test('a truncated last line is reported, kept, and sealed; later appends stay readable', () => {
  const dir = tmp();
  const s1 = RunSession.open(cluster(), dir);
  s1.confirm({ step: 'processes' }, 'dashboard empty');
  fs.appendFileSync(s1.journalFile, '{"type":"skipped","ts":"2026-11-2');
  const s2 = RunSession.open(cluster(), dir);
  assert.equal(s2.readIssues.length, 1);
  assert.equal(s2.readIssues[0].problem, 'truncated');
  assert.equal(s2.readIssues[0].line, 3);
  assert.equal(s2.view().find((x) => x.def.id === 'processes')?.state, 'confirmed');
  s2.skip({ step: 'backup' }, 'done by DBA');
  const text = fs.readFileSync(s2.journalFile, 'utf8');
  assert.ok(text.includes('{"type":"skipped","ts":"2026-11-2\n'), 'the torn bytes are kept');
  const again = parseJournal(text);
  assert.equal(again.events.filter((e) => e.type === 'skipped').length, 1);
  assert.equal(again.issues.length, 1);
  assert.equal(again.issues[0].problem, 'unreadable');
});

test('secrets never reach the journal', () => {
  const dir = tmp();
  const file = path.join(dir, 'j.jsonl');
  const j = Journal.open(file, () => ['hunter2"x']);
  j.append({ type: 'confirmed', ts: new Date().toISOString(), step: 'backup', note: 'password was hunter2"x oops' });
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes('hunter2'), text);
  assert.match(text, /password was \*\*\* oops/);
  assert.equal(mask('ab ab', ['ab']), 'ab ab', 'too-short secrets are not masked');
});

test('skip and confirm need text, and a node must belong to the step', () => {
  const s = RunSession.open(cluster(), tmp());
  assert.throws(() => s.skip({ step: 'backup' }, '   '), /reason is required/);
  assert.throws(() => s.confirm({ step: 'installFirst', node: 'ucd2' }, 'x'), /does not concern node ucd2/);
});
