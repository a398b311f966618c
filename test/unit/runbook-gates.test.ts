import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { hardGates, warnings } from '../../src/core/runbook/gates';
import { reduceJournal } from '../../src/core/runbook/state';
import { STEPS } from '../../src/core/runbook/steps';
import { aggregate, deriveRunbook } from '../../src/core/runbook/view';
import { VALID_CLUSTER, variant } from '../fixtures/clusters';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const OPTS = { stoppedMaxAgeMs: 300_000 };
const PREPARING = { kind: 'preparing' } as const;

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function checked(node: string, verdict: 'passed' | 'failed', s: number, evidence = ['no pid file, nothing on :8443/:7918, no server process']): JournalEvent {
  return { type: 'finished', ts: at(s), id: `c-${node}-${s}`, kind: 'check', step: 'verifyStopped', node, verdict, evidence };
}

test('the runbook has the doc steps in order with their scopes', () => {
  assert.deepEqual(STEPS.map((s) => `${s.id}:${s.scope}`), [
    'backup:cluster', 'processes:cluster', 'package:everyNode', 'stop:everyNode', 'verifyStopped:everyNode',
    'storage:cluster', 'installFirst:firstNode', 'startFirst:firstNode', 'installOthers:otherNodes',
    'startOthers:otherNodes', 'verifyVersions:everyNode',
  ]);
  // Every step of the seed doc (1..11) is covered by some entry.
  const covered = new Set(STEPS.flatMap((s) => s.docSteps));
  for (let i = 1; i <= 11; i++) assert.ok(covered.has(i), `doc step ${i} not covered`);
});

test('the installer is blocked until every node is proven stopped, naming each node', () => {
  const c = cluster();
  const state = reduceJournal([checked('ucd1', 'passed', 0), checked('ucd2', 'failed', 0, ['pid 4242 listening on :8443'])], c);
  const fails = hardGates('installFirst', c, state, T0 + 10_000, OPTS);
  assert.deepEqual(fails.map((f) => f.reason), [
    'ucd2: not stopped (pid 4242 listening on :8443)',
    'ucd3: not proven stopped yet — run Check on step 5',
  ]);
});

test('a stopped-check older than the limit blocks the installer as stale', () => {
  const c = cluster();
  const state = reduceJournal(['ucd1', 'ucd2', 'ucd3'].map((n) => checked(n, 'passed', 0)), c);
  assert.deepEqual(hardGates('installFirst', c, state, T0 + 60_000, OPTS), []);
  const late = hardGates('installFirst', c, state, T0 + 301_000, OPTS);
  assert.equal(late.length, 3);
  assert.match(late[0].reason, /^ucd1: stopped-check is 5 min old \(limit 5 min\) — check again$/);
  const view = deriveRunbook(c, state, T0 + 301_000, OPTS, PREPARING).find((v) => v.def.id === 'verifyStopped');
  assert.equal(view?.state, 'stale');
  assert.match(view?.nodes[0].detail ?? '', /stale: check again/);
});

test('a skipped or hand-confirmed stopped-check is not proof for the installer', () => {
  const c = cluster();
  const state = reduceJournal([
    checked('ucd1', 'passed', 0),
    { type: 'confirmed', ts: at(1), step: 'verifyStopped', node: 'ucd2', note: 'looked at it' },
    { type: 'skipped', ts: at(1), step: 'verifyStopped', node: 'ucd3', reason: 'no time' },
  ], c);
  const reasons = hardGates('installFirst', c, state, T0 + 5_000, OPTS).map((f) => f.reason);
  assert.deepEqual(reasons, [
    'ucd2: confirmed stopped by hand, not proven — run Check on step 5',
    'ucd3: stopped-check was skipped ("no time") — the installer needs a real check',
  ]);
});

test('before 6.1.1.5 the storage step must be settled before the installer; after, it is not needed', () => {
  const old = cluster(variant('"currentVersion": "7.0.5.0"', '"currentVersion": "6.1.0.3"'));
  const state = reduceJournal(['ucd1', 'ucd2', 'ucd3'].map((n) => checked(n, 'passed', 0)), old);
  assert.match(hardGates('installFirst', old, state, T0, OPTS)[0].reason, /network storage must be updated first \(upgrade starts at 6\.1\.0\.3/);
  const storageNew = deriveRunbook(cluster(), state, T0, OPTS, PREPARING).find((v) => v.def.id === 'storage');
  assert.equal(storageNew?.state, 'notNeeded');
  assert.match(storageNew?.summary ?? '', /not needed: upgrade starts at 7\.0\.5\.0/);
});

test('other nodes wait for the first node back online at the target version', () => {
  const c = cluster();
  const base: JournalEvent[] = ['ucd2', 'ucd3'].map((n) => checked(n, 'passed', 0));
  let fails = hardGates('installOthers', c, reduceJournal(base, c), T0 + 1000, OPTS);
  assert.deepEqual(fails.map((f) => f.reason), ['ucd1: first node not back online at 7.1.2.0 yet — step 8']);
  const online: JournalEvent = { type: 'finished', ts: at(1), id: 's1', kind: 'check', step: 'startFirst', node: 'ucd1', verdict: 'passed', evidence: ['online at 7.1.2.0'] };
  fails = hardGates('installOthers', c, reduceJournal([...base, online], c), T0 + 2000, OPTS);
  assert.deepEqual(fails, []);
  const failedStart: JournalEvent = { ...online, verdict: 'failed', evidence: ['login page shows 7.0.5.0'] };
  assert.equal(hardGates('installOthers', c, reduceJournal([...base, failedStart], c), T0 + 2000, OPTS).length, 1);
});

test('an other node already upgraded may be back online; one still on the old version must be stopped', () => {
  const c = cluster();
  const online: JournalEvent = { type: 'finished', ts: at(1), id: 's1', kind: 'check', step: 'startFirst', node: 'ucd1', verdict: 'passed', evidence: [] };
  const ucd2Upgraded: JournalEvent = { type: 'finished', ts: at(2), id: 'i2', kind: 'run', step: 'installOthers', node: 'ucd2', verdict: 'passed', evidence: [] };
  const events = [online, ucd2Upgraded, checked('ucd2', 'failed', 3, ['pid 9 listening on :8443']), checked('ucd3', 'failed', 3, ['pid 7 listening on :8443'])];
  const state = reduceJournal(events, c);
  assert.deepEqual(hardGates('installOthers', c, state, T0 + 4000, OPTS, 'ucd3').map((f) => f.node), ['ucd3']);
  // The whole step would run the installer on ucd2 again, while it runs: every node it covers must be down.
  assert.deepEqual(hardGates('installOthers', c, state, T0 + 4000, OPTS).map((f) => f.node), ['ucd2', 'ucd3']);
});

test('a missing backup, or one older than the shutdown, warns at the installer', () => {
  const c = cluster();
  assert.match(warnings('installFirst', reduceJournal([], c))[0].reason, /no database backup recorded/);
  const stop: JournalEvent = { type: 'finished', ts: at(100), id: 'st', kind: 'run', step: 'stop', node: 'ucd1', verdict: 'passed', evidence: [] };
  const backupBefore: JournalEvent = { type: 'finished', ts: at(50), id: 'b', kind: 'run', step: 'backup', verdict: 'passed', evidence: ['/var/backups/ucd.sql'] };
  assert.match(warnings('installFirst', reduceJournal([backupBefore, stop], c))[0].reason, /older than the shutdown/);
  const backupAfter: JournalEvent = { ...backupBefore, ts: at(150) };
  assert.deepEqual(warnings('installFirst', reduceJournal([stop, backupAfter], c)), []);
});

test('a step that is done no longer repeats the warnings about starting it', () => {
  const c = cluster();
  const installed: JournalEvent = { type: 'finished', ts: at(9), id: 'i', kind: 'run', step: 'installFirst', node: 'ucd1', verdict: 'passed', evidence: [] };
  const before = deriveRunbook(c, reduceJournal([], c), T0, OPTS, PREPARING).find((s) => s.def.id === 'installFirst');
  assert.match(before?.warnings[0] ?? '', /no database backup recorded/);
  const after = deriveRunbook(c, reduceJournal([installed], c), T0, OPTS, PREPARING).find((s) => s.def.id === 'installFirst');
  assert.deepEqual(after?.warnings, []);
});

test('the tree summary counts nodes and the first open step makes later ones pending', () => {
  const c = cluster();
  const state = reduceJournal([checked('ucd1', 'passed', 0), checked('ucd2', 'passed', 0)], c);
  const views = deriveRunbook(c, state, T0 + 1000, OPTS, PREPARING);
  const v5 = views.find((v) => v.def.id === 'verifyStopped');
  assert.equal(v5?.summary, '2/3 nodes proven stopped');
  assert.deepEqual(v5?.nodes.map((n) => n.state), ['passed', 'passed', 'pending']);
  assert.equal(views[0].state, 'ready');
  assert.equal(views[1].state, 'pending');
  assert.equal(views[1].summary, 'waiting for step 1');
  const v7 = views.find((v) => v.def.id === 'installFirst');
  assert.equal(v7?.state, 'blocked');
  assert.equal(v7?.actions.run, false);
  assert.equal(v7?.actions.check, true);
  assert.deepEqual(v7?.nodes.map((n) => n.node), ['ucd1']);
  assert.deepEqual(views.find((v) => v.def.id === 'installOthers')?.nodes.map((n) => n.node), ['ucd2', 'ucd3']);
});

test('a step-level skip of a node-scoped step applies to each node; reset brings it back', () => {
  const c = cluster();
  const ev: JournalEvent[] = [{ type: 'skipped', ts: at(0), step: 'package', reason: 'already extracted by hand' }];
  let v = deriveRunbook(c, reduceJournal(ev, c), T0, OPTS, PREPARING).find((x) => x.def.id === 'package');
  assert.equal(v?.state, 'skipped');
  assert.deepEqual(v?.nodes.map((n) => n.detail), Array(3).fill('skipped: already extracted by hand'));
  ev.push({ type: 'reset', ts: at(1), step: 'package', node: 'ucd2', reason: 'x' });
  v = deriveRunbook(c, reduceJournal(ev, c), T0, OPTS, PREPARING).find((x) => x.def.id === 'package');
  assert.deepEqual(v?.nodes.map((n) => n.state), ['skipped', 'pending', 'skipped']);
});

test('aggregate picks the most urgent node state', () => {
  assert.equal(aggregate(['passed', 'running', 'failed'], false, false), 'running');
  assert.equal(aggregate(['passed', 'failed'], false, false), 'failed');
  assert.equal(aggregate(['passed', 'interrupted'], false, false), 'interrupted');
  assert.equal(aggregate(['passed', 'confirmed'], false, false), 'passed');
  assert.equal(aggregate(['confirmed', 'confirmed'], false, false), 'confirmed');
  assert.equal(aggregate(['passed', 'ready'], true, false), 'blocked');
  assert.equal(aggregate(['ready'], false, true), 'pending');
});

test('only a probe opens the installer and restart gates: confirmed or skipped records do not', () => {
  const c = cluster();
  const stopped = ['ucd2', 'ucd3'].map((n) => checked(n, 'passed', 0));
  const confirmedOnline: JournalEvent = { type: 'confirmed', ts: at(1), step: 'startFirst', node: 'ucd1', note: 'it is up' };
  assert.deepEqual(hardGates('installOthers', c, reduceJournal([...stopped, confirmedOnline], c), T0 + 2000, OPTS, 'ucd2').map((f) => f.reason), [
    'ucd1: first node not proven back online at 7.1.2.0: its restart was confirmed by hand, not proven — run Check on step 8',
  ]);
  const skippedInstall: JournalEvent = { type: 'skipped', ts: at(1), step: 'installFirst', node: 'ucd1', reason: 'done earlier' };
  assert.deepEqual(hardGates('startFirst', c, reduceJournal([skippedInstall], c), T0, OPTS).map((f) => f.reason), [
    'ucd1: its upgrade was skipped ("done earlier"), not proven — run Check on step 7',
  ]);
  const confirmedInstall: JournalEvent = { type: 'confirmed', ts: at(1), step: 'installOthers', node: 'ucd2', note: 'by hand' };
  assert.equal(hardGates('startOthers', c, reduceJournal([confirmedInstall], c), T0, OPTS, 'ucd2').length, 1);
  const checkedInstall: JournalEvent = { type: 'finished', ts: at(2), id: 'i2', kind: 'check', step: 'installOthers', node: 'ucd2', verdict: 'passed', evidence: ['conf/installed.version 7.1.2.0'] };
  assert.deepEqual(hardGates('startOthers', c, reduceJournal([confirmedInstall, checkedInstall], c), T0, OPTS, 'ucd2'), []);
});

test('a node row is blocked by every gate of the action, including one that names another node', () => {
  const c = cluster();
  const state = reduceJournal(['ucd2', 'ucd3'].map((n) => checked(n, 'passed', 0)), c);
  const v9 = deriveRunbook(c, state, T0 + 1000, OPTS, PREPARING).find((v) => v.def.id === 'installOthers');
  assert.deepEqual(v9?.nodes.map((n) => [n.node, n.state, n.actions.run]), [['ucd2', 'blocked', false], ['ucd3', 'blocked', false]]);
  assert.equal(v9?.nodes[0].detail, 'ucd1: first node not back online at 7.1.2.0 yet — step 8');
});
