// Issue 12: a failed pre-flight recorded in this run blocks step 1 (through the runner, the engine's
// one entry point) until a pre-flight passes or it is skipped with a reason; a run without any
// pre-flight works as before. The events survive a reload of the journal and appear in the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { asEvent } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { renderReport } from '../../src/core/journal/report';
import { finding, type ActionContext } from '../../src/core/runbook/actions';
import { hardGates } from '../../src/core/runbook/gates';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { PREFLIGHT_KEY, reduceJournal } from '../../src/core/runbook/state';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { tableOf } from '../fixtures/handlers';

const T0 = Date.parse('2026-11-23T10:00:00Z');

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function rig(): { session: RunSession; runner: Runner; calls: string[]; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-preflight-gate-'));
  const session = RunSession.open(cluster(), dir, undefined, () => T0);
  const calls: string[] = [];
  const handlers = tableOf({
    backup: {
      run: async (ctx: ActionContext) => {
        calls.push('run backup');
        await ctx.act(ctx.target, 'run', async () => finding('passed', ['dump written']));
      },
    },
  });
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return { session, runner: new Runner(session, { handlers, log }), calls, dir };
}

const FAILED = ['fail: The servers UCD lists are the file\'s nodes: UCD lists ucd4 (10.0.0.4), which the cluster file does not'];

test('without any pre-flight, step 1 runs as before', async () => {
  const r = rig();
  assert.equal((await r.runner.run({ step: 'backup' })).kind, 'done');
  assert.deepEqual(r.calls, ['run backup']);
  r.session.dispose();
});

test('a failed pre-flight blocks step 1, naming the finding; a skip with a reason lets it run', async () => {
  const r = rig();
  r.session.recordPreflight('failed', FAILED);
  const refused = await r.runner.run({ step: 'backup' });
  assert.equal(refused.kind, 'refused');
  assert.match(refused.kind === 'refused' ? refused.reasons.join('\n') : '', /the pre-flight failed \(fail: The servers UCD lists.*ucd4.*\) — fix it and run the pre-flight again, or skip it with a reason/);
  assert.deepEqual(r.calls, [], 'the backup handler was never called');
  assert.equal(r.session.view().find((v) => v.def.id === 'backup')?.state, 'blocked');

  assert.throws(() => r.session.skipPreflight('  '), /reason/i);
  r.session.skipPreflight('ucd4 was decommissioned last week, CHG-42');
  assert.equal((await r.runner.run({ step: 'backup' })).kind, 'done');
  assert.deepEqual(r.calls, ['run backup']);

  // Recorded: the journal read back from disk holds both, and the run report tells them.
  const events = parseJournal(fs.readFileSync(r.session.journalFile, 'utf8')).events;
  assert.deepEqual(events.filter((e) => e.type === 'preflight' || e.type === 'preflight-skipped').map((e) => e.type), ['preflight', 'preflight-skipped']);
  const report = renderReport({ cluster: r.session.cluster, events, views: r.session.view(), readIssues: [], generatedAt: new Date(T0), operator: { user: 'u', machine: 'm' }, journalFile: 'j.jsonl' });
  assert.match(report, /pre-flight failed: fail: The servers UCD lists/);
  assert.match(report, /pre-flight skipped: ucd4 was decommissioned last week, CHG-42/);
  r.session.dispose();
});

test('a pre-flight that passes after a failed one opens step 1; a later failure closes it again', () => {
  const c = cluster();
  const ev = (type: 'preflight', verdict: 'passed' | 'failed' | 'warning', s: number) => ({ type, ts: new Date(T0 + s * 1000).toISOString(), verdict, findings: verdict === 'failed' ? FAILED : ['every check passed'] });
  const gate = (events: Parameters<typeof reduceJournal>[0]) => hardGates('backup', c, reduceJournal(events, c), T0, { stoppedMaxAgeMs: 300_000 });
  assert.equal(gate([ev('preflight', 'failed', 0)]).length, 1);
  assert.deepEqual(gate([ev('preflight', 'failed', 0), ev('preflight', 'passed', 10)]), []);
  assert.deepEqual(gate([ev('preflight', 'warning', 0)]), [], 'warnings never block');
  assert.equal(gate([ev('preflight', 'passed', 0), ev('preflight', 'failed', 10)]).length, 1);
  // Only step 1 is gated by it.
  assert.deepEqual(hardGates('processes', c, reduceJournal([ev('preflight', 'failed', 0)], c), T0, { stoppedMaxAgeMs: 300_000 }), []);
  assert.equal(reduceJournal([ev('preflight', 'failed', 0)], c).get(PREFLIGHT_KEY)?.status, 'failed');
});

test('the journal accepts the pre-flight events without a step, and still refuses other step-less lines', () => {
  assert.ok(asEvent({ type: 'preflight', ts: 'x', verdict: 'passed', findings: [] }));
  assert.ok(asEvent({ type: 'preflight-skipped', ts: 'x', reason: 'r' }));
  assert.equal(asEvent({ type: 'finished', ts: 'x', verdict: 'passed' }), undefined);
});
