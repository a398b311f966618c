// What the tree and the status webview say about an installer that runs detached on its node:
// followed here, not followed, followed by the owner window, or its node's link lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { followingOf, runningDetail } from '../../src/core/runbook/following';
import { DEFAULT_GATE_OPTIONS } from '../../src/core/runbook/gates';
import { runPhase } from '../../src/core/runbook/phase';
import { reduceJournal } from '../../src/core/runbook/state';
import { deriveRunbook } from '../../src/core/runbook/view';
import { clusterStatus } from '../../src/core/status/clusterStatus';
import { VALID_CLUSTER } from '../fixtures/clusters';

function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

const T = '2026-11-23T10:00:00.000Z';
const ucd1 = { step: 'installFirst', node: 'ucd1' } as const;
const base: JournalEvent[] = [
  { type: 'started', ts: T, id: 'a', kind: 'run', ...ucd1 },
  { type: 'detached', ts: T, id: 'a', runId: 'r', pid: 9, dir: '/d/runs/r', ...ucd1 },
];

function ucd1Detail(events: readonly JournalEvent[], carried: boolean, owner = true): { node: string; step: string; status: ReturnType<typeof clusterStatus> } {
  const c = cluster();
  const state = reduceJournal(events, c);
  const following = followingOf(events, () => carried, owner);
  const step = deriveRunbook(c, state, Date.parse(T), DEFAULT_GATE_OPTIONS, runPhase(events, c), following).find((v) => v.def.id === 'installFirst')!;
  return { node: step.nodes[0].detail, step: step.summary, status: clusterStatus(c, events, state, following) };
}

test('a detached installer this window follows: "running on ucd1 (detached; followed)" in the tree and the webview', () => {
  const v = ucd1Detail(base, true);
  assert.equal(v.node, 'running on ucd1 (detached; followed)');
  assert.match(v.step, /, running on ucd1 \(detached; followed\)$/);
  const row = v.status.rows.find((r) => r.node === 'ucd1')!;
  assert.equal(row.installer, 'running on ucd1 (detached; followed)');
  assert.equal(row.installerFollow, 'followed');
  assert.ok(!v.status.warnings.some((w) => w.code === 'connection-lost'));
});

test('not followed here, or followed by the owner window: each said so', () => {
  assert.equal(ucd1Detail(base, false).node, 'running on ucd1 (detached; not followed here — Check follows it again)');
  assert.equal(ucd1Detail(base, true, false).node, 'running on ucd1 (detached; followed by the window that owns the run)');
});

test('the link to its node lost: the tree, the row and a warning say the installer keeps running there; restored, it is followed again', () => {
  const lost: JournalEvent[] = [...base, { type: 'connection-lost', ts: T, id: 'a', message: 'keepalive: no answer for 30 s', ...ucd1 }];
  const v = ucd1Detail(lost, true);
  assert.equal(v.node, 'connection to ucd1 lost; the installer keeps running there');
  const w = v.status.warnings.find((x) => x.code === 'connection-lost');
  assert.deepEqual(w && { node: w.node, message: w.message }, { node: 'ucd1', message: 'connection to ucd1 lost; the installer keeps running there.' });
  assert.equal(v.status.rows.find((r) => r.node === 'ucd1')!.installer, 'connection to ucd1 lost; the installer keeps running there');
  const back = ucd1Detail([...lost, { type: 'connection-restored', ts: T, id: 'a', message: 'back after 40 s', ...ucd1 }], true);
  assert.equal(back.node, 'running on ucd1 (detached; followed)');
});

test('an ordinary running action, and a detached one that ended, say nothing of detachment', () => {
  assert.equal(runningDetail('run', undefined), 'running…');
  assert.equal(runningDetail('check', undefined), 'checking…');
  const ended = ucd1Detail([...base, { type: 'finished', ts: T, id: 'a', kind: 'run', verdict: 'passed', evidence: ['upgraded'], ...ucd1 }], true);
  assert.equal(ended.node, 'upgraded');
  assert.equal(followingOf([...base, { type: 'interrupted', ts: T, id: 'a', reason: 'gone', ...ucd1 }], () => true, true).size, 0);
  const row = ended.status.rows.find((r) => r.node === 'ucd1')!;
  assert.equal(row.installer, 'upgraded');
  assert.equal(row.installerFollow, undefined);
});
