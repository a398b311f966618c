// What a runbook row says at the default sidebar width: a short label, the state first, the
// duration of a finished step, Run offered on a blocked step, and Explain Step's text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { DEFAULT_GATE_OPTIONS } from '../../src/core/runbook/gates';
import { runPhase } from '../../src/core/runbook/phase';
import { explainStep, nodeDescription, offersRun, stateAndDetail, stepDescription, stepLabel, tookMs } from '../../src/core/runbook/rowText';
import { reduceJournal } from '../../src/core/runbook/state';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { deriveRunbook, type StepView } from '../../src/core/runbook/view';
import { VALID_CLUSTER } from '../fixtures/clusters';

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function views(events: readonly JournalEvent[], nowS = 3600): StepView[] {
  const c = cluster();
  return deriveRunbook(c, reduceJournal(events, c), T0 + nowS * 1000, DEFAULT_GATE_OPTIONS, runPhase(events, c));
}
const view = (events: readonly JournalEvent[], id: StepId) => views(events).find((v) => v.def.id === id)!;

test('every step has a short title of at most 16 characters, unlike the doc title it stands for', () => {
  const shorts = new Set<string>();
  for (const s of STEPS) {
    assert.ok(s.short.length > 0 && s.short.length <= 16, `${s.id}: "${s.short}" is ${s.short.length} characters`);
    assert.notEqual(s.short, s.title, `${s.id}: the short title is not the doc's title`);
    shorts.add(s.short);
  }
  assert.equal(shorts.size, STEPS.length, 'no two steps share a short title');
  // The longest label the tree shows ("11. Verify versions") stays short enough for the state beside it.
  const longest = Math.max(...STEPS.map((s, i) => stepLabel({ number: i + 1, def: s }).length));
  assert.ok(longest <= 20, `the longest label is ${longest} characters`);
});

test('the label is "n. short title"', () => {
  const v = view([], 'verifyStopped');
  assert.equal(stepLabel(v), '5. Prove stopped');
});

test('the description puts the state first, then how long the step took, then its summary', () => {
  const ev: JournalEvent[] = [
    { type: 'started', ts: at(0), id: 'b', kind: 'run', step: 'backup' },
    { type: 'finished', ts: at(192), id: 'b', kind: 'run', step: 'backup', verdict: 'passed', evidence: ['/var/backups/ucd.sql, 12 MB'] },
  ];
  // The report's own duration words (journal/localTime.ts), so the tree and the change record agree.
  assert.equal(stepDescription(view(ev, 'backup')), 'passed 3 min 12 s — /var/backups/ucd.sql, 12 MB');
});

test('a node-scoped step takes from its first node\'s start to its last node\'s end; each node row has its own duration', () => {
  const ev: JournalEvent[] = ['ucd1', 'ucd2', 'ucd3'].flatMap((node, i): JournalEvent[] => [
    { type: 'started', ts: at(i * 10), id: `s${i}`, kind: 'check', step: 'verifyStopped', node },
    { type: 'finished', ts: at(i * 10 + 4), id: `s${i}`, kind: 'check', step: 'verifyStopped', node, verdict: 'passed', evidence: ['no pid file'] },
  ]);
  const v = views(ev, 30).find((x) => x.def.id === 'verifyStopped')!;
  assert.equal(stepDescription(v), 'passed 24 s — 3/3 nodes proven stopped');
  assert.equal(nodeDescription(v.nodes[1]!), 'passed 4 s — no pid file');
});

test('a failed step says how long it ran before failing; an open one has no duration', () => {
  const ev: JournalEvent[] = [
    { type: 'started', ts: at(0), id: 'b', kind: 'run', step: 'backup' },
    { type: 'finished', ts: at(3), id: 'b', kind: 'run', step: 'backup', verdict: 'failed', evidence: ['mysqldump exited 2'] },
  ];
  assert.equal(stepDescription(view(ev, 'backup')), 'failed after 3 s — mysqldump exited 2');
  assert.equal(stepDescription(view([], 'backup')), 'ready');
  assert.match(stepDescription(view([], 'processes')), /^pending — waiting for step 1$/);
});

test('a node that failed only because its host key was dismissed reads "waiting for trust", not failed; Run and Check stay offered', () => {
  const waiting = 'waiting for trust: the host key of node ucd2 (10.0.0.2:22, ssh-ed25519 SHA256:abc) is not known and was not accepted; nothing was sent to it.';
  const ev: JournalEvent[] = ['ucd1', 'ucd2', 'ucd3'].flatMap((node, i): JournalEvent[] => [
    { type: 'started', ts: at(i), id: `s${i}`, kind: 'check', step: 'verifyStopped', node },
    { type: 'finished', ts: at(i + 2), id: `s${i}`, kind: 'check', step: 'verifyStopped', node, verdict: node === 'ucd2' ? 'failed' : 'passed', evidence: [node === 'ucd2' ? waiting : 'no pid file'] },
  ]);
  const v = views(ev, 30).find((x) => x.def.id === 'verifyStopped')!;
  const ucd2 = v.nodes.find((n) => n.node === 'ucd2')!;
  assert.equal(ucd2.state, 'waitingForTrust');
  assert.equal(nodeDescription(ucd2), waiting);
  assert.ok(ucd2.actions.check && ucd2.actions.run, 'asked again on the next Check or Run');
  assert.equal(v.state, 'waitingForTrust');
  assert.equal(stepDescription(v), 'waiting for trust — 2/3 nodes proven stopped, 1 waiting for trust');
  // A node that failed for another reason as well is failed: that is the more urgent state.
  const worse: JournalEvent[] = [...ev,
    { type: 'started', ts: at(10), id: 'x', kind: 'check', step: 'verifyStopped', node: 'ucd3' },
    { type: 'finished', ts: at(12), id: 'x', kind: 'check', step: 'verifyStopped', node: 'ucd3', verdict: 'failed', evidence: ['pid 20 listening on :8443'] }];
  assert.equal(views(worse, 30).find((x) => x.def.id === 'verifyStopped')!.state, 'failed');
});

test('a result recorded without its start (a skip, a confirmation, an old journal) has no duration', () => {
  assert.equal(tookMs([{ status: 'passed', at: at(5), kind: 'check', evidence: [] }]), undefined);
  assert.equal(tookMs([{ status: 'skipped', at: at(5), reason: 'x' }]), undefined);
  assert.equal(tookMs([undefined]), undefined);
  const skipped = view([{ type: 'skipped', ts: at(1), step: 'backup', reason: 'taken by the DBA team' }], 'backup');
  assert.equal(stepDescription(skipped), 'skipped: taken by the DBA team');
});

test('the state word and its reason make one phrase, not two', () => {
  assert.equal(stateAndDetail('blocked', 'blocked: ucd1: not proven stopped yet'), 'blocked: ucd1: not proven stopped yet');
  assert.equal(stateAndDetail('running', 'running on ucd1 (detached; followed)'), 'running on ucd1 (detached; followed)');
  assert.equal(stateAndDetail('passed', 'done', 1500), 'passed 2 s — done');
});

test('a blocked step offers Run (the runner answers with the gate); a step that may not run for another reason does not', () => {
  const blocked = view([], 'installFirst');
  assert.equal(blocked.state, 'blocked');
  assert.equal(blocked.actions.run, false, 'the view itself says Run would not go through');
  assert.equal(offersRun(blocked.state, blocked.actions.run), true);
  assert.match(stepDescription(blocked), /^blocked: /);
  assert.equal(offersRun('notNeeded', false), false);
  assert.equal(offersRun('running', false), false);
  assert.equal(offersRun('passed', false), false, 'a step that would stop an upgraded server stays without Run');
});

test('a raw SSH library error in a record is shown as what happened and what to do', () => {
  const ev: JournalEvent[] = [
    { type: 'started', ts: at(0), id: 'p', kind: 'run', step: 'package', node: 'ucd2' },
    { type: 'finished', ts: at(2), id: 'p', kind: 'run', step: 'package', node: 'ucd2', verdict: 'failed', evidence: ['ended without a result: Channel has been closed'] },
  ];
  const node = view(ev, 'package').nodes.find((n) => n.node === 'ucd2')!;
  const text = nodeDescription(node);
  assert.doesNotMatch(text, /Channel has been closed/);
  assert.match(text, /^failed after 2 s — ended without a result: The SSH connection to node ucd2 was lost/);
  assert.match(text, /Check the step to see where ucd2 is now/);
});

test('Explain Step on step 6 when not needed says why there is nothing to do, with the doc\'s words', () => {
  const v = view([], 'storage');
  assert.equal(v.state, 'notNeeded');
  const e = explainStep(v);
  assert.equal(e.message, '6. Update network storage (upgrades from before 6.1.1.5)');
  assert.match(e.detail, /^State: not needed: upgrade starts at 7\.0\.5\.0/);
  assert.match(e.detail, /Nothing to do: upgrade starts at 7\.0\.5\.0 \(6\.1\.1\.5 or later\)\./);
  assert.match(e.detail, /The doc: If you are upgrading from a version before 6\.1\.1\.5/);
  // A blocked step lists its gates.
  assert.match(explainStep(view([], 'installFirst')).detail, /Blocked by:\n• /);
});
