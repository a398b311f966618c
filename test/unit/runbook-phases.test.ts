// The run's phases, from the journal: before the installer, upgrading, complete. The demo's
// finding: five minutes after "Outcome: complete" the stopped-checks went stale, the report said
// "in progress: next: step 5" and Run on step 5 offered to kill upgraded, running servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent, Target, Verdict } from '../../src/core/journal/events';
import { renderReport } from '../../src/core/journal/report';
import { hardGates } from '../../src/core/runbook/gates';
import { runPhase, upgradedNodes } from '../../src/core/runbook/phase';
import { Runner, runRefusals } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { reduceJournal } from '../../src/core/runbook/state';
import type { StepId } from '../../src/core/runbook/steps';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { tableOf } from '../fixtures/handlers';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const OPTS = { stoppedMaxAgeMs: 300_000 };

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function session(): { s: RunSession; clock: { now: number } } {
  const clock = { now: T0 };
  return { s: RunSession.open(cluster(), fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-phase-')), undefined, () => clock.now), clock };
}

function record(s: RunSession, step: StepId, node: string | undefined, kind: 'run' | 'check', verdict: Verdict = 'passed', evidence = ['ok']): void {
  const t: Target = node ? { step, node } : { step };
  s.finish(s.begin(t, kind), t, kind, verdict, evidence);
}

const ALL = ['ucd1', 'ucd2', 'ucd3'];
const OTHERS = ['ucd2', 'ucd3'];

/** The doc's order, every step proven by a probe, one second apart. */
function wholeUpgrade(s: RunSession, clock: { now: number }, upTo: StepId = 'verifyVersions'): void {
  const plan: [StepId, readonly (string | undefined)[]][] = [
    ['backup', [undefined]], ['processes', [undefined]], ['package', ALL], ['stop', ALL], ['verifyStopped', ALL],
    ['installFirst', ['ucd1']], ['startFirst', ['ucd1']], ['verifyStopped', OTHERS], ['installOthers', OTHERS], ['startOthers', OTHERS], ['verifyVersions', ALL],
  ];
  for (const [step, nodes] of plan) {
    for (const n of nodes) {
      clock.now += 1000;
      record(s, step, n, step === 'verifyVersions' || step === 'verifyStopped' ? 'check' : 'run');
    }
    if (step === upTo) return;
  }
}

test('phase: preparing until an installer Run starts, upgrading after, complete when every node is verified', () => {
  const { s, clock } = session();
  assert.equal(s.phase().kind, 'preparing');
  record(s, 'installFirst', 'ucd1', 'check', 'failed');
  assert.equal(s.phase().kind, 'preparing', 'a Check of step 7 changes nothing');
  wholeUpgrade(s, clock, 'installFirst');
  const upgrading = s.phase();
  assert.equal(upgrading.kind, 'upgrading');
  wholeUpgrade(s, clock);
  assert.equal(s.phase().kind, 'complete');
});

test('a complete run stays complete: five minutes on, nothing is stale, the report says complete, step 5 is not offered', async () => {
  const { s, clock } = session();
  wholeUpgrade(s, clock);
  clock.now += 6 * 60_000;
  const views = s.view(OPTS);
  const v5 = views.find((v) => v.def.id === 'verifyStopped');
  assert.equal(v5?.state, 'passed', v5?.nodes.map((n) => `${n.node}:${n.state}`).join(' '));
  assert.ok(views.every((v) => ['passed', 'notNeeded'].includes(v.state)), views.map((v) => `${v.number}:${v.state}`).join(' '));
  for (const id of ['stop', 'verifyStopped'] as StepId[]) {
    const v = views.find((x) => x.def.id === id);
    assert.equal(v?.actions.run, false, `${id}: Run not offered on the step`);
    assert.ok(v?.nodes.every((n) => !n.actions.run), `${id}: Run not offered on any node`);
  }
  const md = renderReport({ cluster: s.cluster, events: s.journal.events, views, generatedAt: new Date(clock.now) });
  assert.match(md, /^\| Outcome \| complete: a probe showed every node on 7\.1\.2\.0 at /m);

  // A later look at a step before the installer (here step 5 failing: the servers run) reopens nothing.
  record(s, 'verifyStopped', 'ucd2', 'check', 'failed', ['pid 4242 listening on :8443']);
  const later = renderReport({ cluster: s.cluster, events: s.journal.events, views: s.view(OPTS), generatedAt: new Date(clock.now) });
  assert.match(later, /^\| Outcome \| complete: /m);

  const runner = new Runner(s, { handlers: tableOf({}), log: { info() {}, warn() {}, error() {} } });
  const refused = await runner.run({ step: 'verifyStopped', node: 'ucd1' });
  assert.deepEqual(refused, { kind: 'refused', reasons: ['ucd1 is already on 7.1.2.0: stopping it is not part of this upgrade any more'] });
  const stopAll = await runner.run({ step: 'stop' });
  assert.deepEqual(stopAll.kind === 'refused' && stopAll.reasons, ALL.map((n) => `${n} is already on 7.1.2.0: stopping it is not part of this upgrade any more`));
});

test('mid-upgrade: steps 1–5 are history; only nodes not yet upgraded still need a fresh stopped-check', () => {
  const { s, clock } = session();
  wholeUpgrade(s, clock, 'startFirst');
  clock.now += 10 * 60_000;
  const views = s.view(OPTS);
  const v5 = views.find((v) => v.def.id === 'verifyStopped');
  assert.deepEqual(v5?.nodes.map((n) => `${n.node}:${n.state}`), ['ucd1:passed', 'ucd2:stale', 'ucd3:stale'], 'an upgraded node\'s old proof does not age');
  assert.equal(v5?.history, true);
  const v9 = views.find((v) => v.def.id === 'installOthers');
  assert.equal(v9?.state, 'blocked', 'step 9 waits for fresh proofs of ucd2 and ucd3, not for step 5 as a whole');
  assert.deepEqual(v9?.reasons, ['ucd2: stopped-check is 10 min old (limit 5 min) — check again', 'ucd3: stopped-check is 10 min old (limit 5 min) — check again']);
  const md = renderReport({ cluster: s.cluster, events: s.journal.events, views, generatedAt: new Date(clock.now) });
  assert.match(md, /^\| Outcome \| in progress: 3 steps open \(next: step 9, Run the installer on the other nodes\) \|/m);
  assert.deepEqual([...upgradedNodes(s.cluster, s.state())], ['ucd1']);
  // Stopping ucd2 (still on the old version) is still part of the upgrade; stopping ucd1 is not.
  assert.deepEqual(runRefusals(s.cluster, s.state(), clock.now, OPTS, { step: 'stop', node: 'ucd2' }), []);
  assert.equal(runRefusals(s.cluster, s.state(), clock.now, OPTS, { step: 'stop', node: 'ucd1' }).length, 1);
});

test('before the installer, an old stopped-check is stale and holds up what follows, as before', () => {
  const { s, clock } = session();
  wholeUpgrade(s, clock, 'verifyStopped');
  clock.now += 10 * 60_000;
  const views = s.view(OPTS);
  assert.equal(views.find((v) => v.def.id === 'verifyStopped')?.state, 'stale');
  const md = renderReport({ cluster: s.cluster, events: s.journal.events, views, generatedAt: new Date(clock.now) });
  assert.match(md, /next: step 5, Ensure each server is stopped/);
});

test('runPhase is a pure fold: a reset of step 11 afterwards does not reopen a complete run', () => {
  const c = cluster();
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  const ev = (node: string, s: number, verdict: Verdict): JournalEvent => ({ type: 'finished', ts: at(s), id: `v-${node}-${s}`, kind: 'check', step: 'verifyVersions', node, verdict, evidence: [] });
  assert.equal(runPhase([ev('ucd1', 1, 'passed'), ev('ucd2', 2, 'passed'), ev('ucd3', 3, 'failed')], c).kind, 'preparing');
  const done = [ev('ucd1', 1, 'passed'), ev('ucd2', 2, 'passed'), ev('ucd3', 3, 'passed')];
  assert.deepEqual(runPhase(done, c), { kind: 'complete', since: at(3) });
  assert.deepEqual(runPhase([...done, { type: 'reset', ts: at(4), step: 'verifyVersions', reason: 'x' }], c), { kind: 'complete', since: at(3) });
  // A confirmation by hand is not a probe: not complete.
  assert.equal(runPhase([ev('ucd1', 1, 'passed'), ev('ucd2', 2, 'passed'), { type: 'confirmed', ts: at(3), step: 'verifyVersions', node: 'ucd3', note: 'looks fine' }], c).kind, 'preparing');
  // And hardGates stays a function of state: a confirmed restart of the first node opens nothing.
  const confirmed = reduceJournal([{ type: 'confirmed', ts: at(1), step: 'startFirst', node: 'ucd1', note: 'up' }], c);
  assert.equal(hardGates('installOthers', c, confirmed, T0, OPTS, 'ucd2')[0].node, 'ucd1');
});
