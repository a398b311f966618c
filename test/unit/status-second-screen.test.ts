// The status view as a second screen: facts the journal holds with their age, the view's own
// looks at the nodes (which nodes may be probed, newest facts winning), and the run's progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { outageWindow } from '../../src/core/journal/report';
import { deriveRunbook } from '../../src/core/runbook/view';
import { DEFAULT_GATE_OPTIONS } from '../../src/core/runbook/gates';
import { runPhase } from '../../src/core/runbook/phase';
import { reduceJournal } from '../../src/core/runbook/state';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { clusterStatus } from '../../src/core/status/clusterStatus';
import type { NodeFacts } from '../../src/core/status/facts';
import { lookAtCluster, lookPlan, type Look } from '../../src/core/status/look';
import { ago, progressText } from '../../src/core/status/text';
import type { NodeProbe } from '../../src/core/probes/node';
import { VALID_CLUSTER } from '../fixtures/clusters';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

let n = 0;
function started(step: StepId, s: number, node?: string, kind: 'run' | 'check' = 'run'): JournalEvent & { id: string } {
  return { type: 'started', ts: at(s), id: `a${++n}`, kind, step, ...(node ? { node } : {}) };
}
function finished(st: { id: string; step: StepId; node?: string; kind: 'run' | 'check' }, s: number, facts?: NodeFacts, verdict: 'passed' | 'failed' = 'passed', evidence: string[] = []): JournalEvent {
  return { type: 'finished', ts: at(s), id: st.id, kind: st.kind, step: st.step, ...(st.node ? { node: st.node } : {}), verdict, evidence, ...(facts ? { facts } : {}) };
}
function both(step: StepId, s: number, e: number, node?: string, facts?: NodeFacts, kind: 'run' | 'check' = 'run', evidence: string[] = []): JournalEvent[] {
  const st = started(step, s, node, kind);
  return [st, finished({ id: st.id, step, ...(node ? { node } : {}), kind }, e, facts, 'passed', evidence)];
}

function status(events: JournalEvent[], looks?: Map<string, Look>, nowS = 3600, c = cluster(), probing?: Map<string, string>) {
  const state = reduceJournal(events, c);
  const now = T0 + nowS * 1000;
  const views = deriveRunbook(c, state, now, DEFAULT_GATE_OPTIONS, runPhase(events, c));
  return clusterStatus(c, events, state, new Map(), { views, now, ...(looks ? { looks } : {}), ...(probing ? { probing } : {}) });
}

const STOPPED: NodeFacts = { reachable: true, pidFile: { state: 'absent' }, listening: [], serverPid: null };
const RUNNING: NodeFacts = { reachable: true, pidFile: { state: 'live', pid: 4242 }, listening: [8443], serverPid: 4242, version: '7.0.5.0' };

test('what steps 1 to 3 learned is shown with its age: the backup archive, the processes check, each node\'s staged package', () => {
  const staged = { stage: '/home/ucd/.ucd-upgrade-stage/r1', installerDir: '/home/ucd/.ucd-upgrade-stage/r1/ibm-ucd-install', owned: true, treeSha256: 'abcdef0123456789'.repeat(4), entries: 1234 };
  const events: JournalEvent[] = [
    ...both('backup', 10, 70, undefined, undefined, 'run', ['/var/backups/ucd.sql, 12 MiB']),
    { type: 'backup-archive', ts: at(69), id: 'x', what: 'database', where: 'ucd1', path: '/var/backups/ucd-20261123.sql', size: 12 * 1024 * 1024, sha256: '0123456789abcdef'.repeat(4) },
    ...both('processes', 80, 90, undefined, undefined, 'check', ['no processes running']),
    ...both('package', 100, 200, 'ucd2', { staged }),
  ];
  const s = status(events);
  const backup = s.runFacts.find((f) => f.id === 'backup-archive');
  assert.ok(backup, JSON.stringify(s.runFacts));
  assert.match(backup.text, /\/var\/backups\/ucd-20261123\.sql on ucd1, 12 MiB, sha256 0123456789ab…/);
  assert.equal(backup.at, at(69));
  assert.deepEqual(s.runFacts.find((f) => f.id === 'processes'), { id: 'processes', label: 'Step 2, processes', text: 'passed: no processes running', at: at(90) });
  assert.match(s.runFacts.find((f) => f.id === 'storage')?.text ?? '', /not needed: the upgrade starts at 7\.0\.5\.0/);
  const ucd2 = s.rows.find((r) => r.node === 'ucd2');
  assert.deepEqual(ucd2?.staged, { text: `${staged.installerDir} (1234 entries, tree sha256 abcdef012345…, the SSH user's own folder)`, seen: { at: at(200), by: 'step 3 run' } });
  assert.equal(s.rows.find((r) => r.node === 'ucd1')?.staged, undefined, 'nothing staged on ucd1 is said as nothing');
});

test('each fact says when it was seen and by what; a state read from several fields is as old as its oldest part', () => {
  const s = status([
    ...both('verifyStopped', 10, 20, 'ucd1', RUNNING, 'check'),
    ...both('verifyStopped', 30, 40, 'ucd1', { listening: [8443, 7918] }, 'check'),
  ]);
  const r = s.rows[0];
  assert.deepEqual(r.versionSeen, { at: at(20), by: 'step 5 check' });
  assert.deepEqual(r.serverSeen, { at: at(20), by: 'step 5 check' }, 'pid file and process are from 10:00:20');
  assert.equal(r.lastCheck, at(40));
  assert.equal(s.rows[1].serverSeen, undefined, 'a node never checked has no age');
  assert.equal(s.rows[1].server, 'unknown');
});

test('the view\'s own look fills a node never checked, and is newer than older records, field by field', () => {
  const looks = new Map<string, Look>([
    ['ucd1', { kind: 'probed', at: at(500), facts: STOPPED }],
    ['ucd2', { kind: 'probed', at: at(500), facts: RUNNING }],
  ]);
  const s = status(both('verifyStopped', 10, 20, 'ucd1', { ...RUNNING, version: '7.0.5.0' }, 'check'), looks, 3600, cluster(), new Map([['ucd3', at(500)], ['ucd2', at(600)]]));
  const [u1, u2, u3] = s.rows;
  assert.equal(u1.server, 'stopped', 'the look at 10:08:20 is newer than the check at 10:00:20');
  assert.deepEqual(u1.serverSeen, { at: at(500), by: 'status probe' });
  assert.equal(u1.version, '7.0.5.0', 'a field the look did not carry stays from the record');
  assert.deepEqual(u1.versionSeen, { at: at(20), by: 'step 5 check' });
  assert.equal(u2.server, 'running', 'probing again keeps showing what the last look saw');
  assert.deepEqual(u2.look, { kind: 'probing', since: at(600) });
  assert.match(u2.serverDetail, /pid 4242.*:8443/);
  assert.equal(u2.reachable, 'yes');
  assert.equal(u2.lastCheck, at(500));
  assert.deepEqual(u3.look, { kind: 'probing', since: at(500) });
  assert.equal(u3.server, 'unknown');
});

test('a record made after the look wins, and the look is no longer shown for that node', () => {
  const looks = new Map<string, Look>([['ucd1', { kind: 'failed', at: at(100), facts: {}, message: 'ucd1: bad output (exit 2)', hint: 'See the log.' }]]);
  const before = status([], looks);
  const w = before.warnings.find((x) => x.code === 'probe-failed');
  assert.equal(w?.node, 'ucd1');
  assert.match(w?.message ?? '', /ucd1: the status probe got no answer it could read: ucd1: bad output \(exit 2\)\. See the log\./);
  const afterCheck = status(both('verifyStopped', 200, 210, 'ucd1', STOPPED, 'check'), looks);
  assert.equal(afterCheck.rows[0].look, undefined);
  assert.ok(!afterCheck.warnings.some((x) => x.code === 'probe-failed'));
  const probedLooks = new Map<string, Look>([['ucd1', { kind: 'probed', at: at(100), facts: RUNNING }]]);
  const newer = status(both('verifyStopped', 200, 210, 'ucd1', STOPPED, 'check'), probedLooks);
  assert.equal(newer.rows[0].server, 'stopped', 'the check at 10:03:30 is newer than the look at 10:01:40');
  assert.deepEqual(newer.rows[0].serverSeen, { at: at(210), by: 'step 5 check' });
});

test('an unreachable node in the look is the unreachable warning, not a second one', () => {
  const looks = new Map<string, Look>([['ucd3', { kind: 'failed', at: at(5), facts: { reachable: false, unreachableReason: 'connect ECONNREFUSED 10.0.0.3:22' }, message: 'ucd3: connection refused', hint: 'Is sshd running?' }]]);
  const s = status([], looks);
  assert.deepEqual(s.warnings.filter((w) => w.node === 'ucd3').map((w) => w.code), ['unreachable']);
  assert.equal(s.rows[2].reachable, 'no');
});

test('the look leaves alone a node an action works on, and every node in an untrusted workspace', () => {
  const c = cluster();
  const events: JournalEvent[] = [started('installFirst', 10, 'ucd1')];
  const plan = lookPlan(c, reduceJournal(events, c), { trusted: true });
  assert.deepEqual(plan.map((p) => [p.node.name, p.probe]), [['ucd1', false], ['ucd2', true], ['ucd3', true]]);
  const left = plan[0];
  assert.ok(!left.probe);
  assert.match(left.why, /not probed: step 7 \(Run the installer on the first node\) is working on ucd1/);
  const untrusted = lookPlan(c, reduceJournal([], c), { trusted: false });
  assert.ok(untrusted.every((p) => !p.probe && /not trusted/.test(p.why)));
  // A cluster-wide step (the backup) does not keep a node from being looked at.
  const backup = lookPlan(c, reduceJournal([started('backup', 1)], c), { trusted: true });
  assert.ok(backup.every((p) => p.probe));
});

test('the look probes the nodes at once, says each as it starts and answers, and turns a throw into that node\'s failure', async () => {
  const c = cluster();
  const plan = lookPlan(c, reduceJournal([started('stop', 1, 'ucd3')], c), { trusted: true });
  const asked: string[] = [];
  const release: (() => void)[] = [];
  const seen: [string, string][] = [];
  const probe = (node: { name: string }): Promise<NodeProbe> => {
    asked.push(node.name);
    return new Promise((resolve, reject) => release.push(() => (node.name === 'ucd2' ? reject(new Error('socket hang up')) : resolve({ kind: 'failed', node: node.name, message: `${node.name}: no route to host`, hint: 'Check the network.', remoteKind: 'unreachable' }))));
  };
  const done = lookAtCluster(plan, probe, { started: (node) => seen.push([node, 'probing']), answered: (node, look) => seen.push([node, look.kind]) }, new AbortController().signal, () => new Date(T0));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked.sort(), ['ucd1', 'ucd2'], 'both probes are out before either answered; ucd3 is never asked');
  release.forEach((f) => f());
  await done;
  assert.deepEqual(seen.sort(), [['ucd1', 'failed'], ['ucd1', 'probing'], ['ucd2', 'failed'], ['ucd2', 'probing'], ['ucd3', 'left']]);
});

test('the progress: the step the run is at, time since the first action, and the outage as the report computes it', () => {
  const c = cluster();
  const early = status([...both('backup', 60, 120), ...both('processes', 130, 140, undefined, undefined, 'check')], undefined, 600);
  assert.deepEqual(early.progress.at, { number: 3, title: STEPS[2].title, state: 'ready' });
  assert.equal(early.progress.done, 3, 'steps 1 and 2, and step 6, not needed from 6.1.1.5 on');
  assert.equal(early.progress.steps, 11);
  assert.equal(early.progress.since, at(60));
  assert.equal(early.progress.outage.kind, 'none');
  const t = progressText(early.progress, T0 + 600 * 1000);
  assert.equal(t.step, `step 3 of 11: ${STEPS[2].title} (not started)`);
  assert.equal(t.elapsed, '9 min 0 s since the first action');
  assert.match(t.outage, /^none yet/);

  const down: JournalEvent[] = [...both('backup', 60, 120), ...c.nodes.flatMap((x, i) => both('verifyStopped', 200 + i, 300 + i * 10, x.name, STOPPED, 'check'))];
  const mid = status(down, undefined, 900);
  assert.deepEqual(mid.progress.outage, outageWindow(down, c.nodes.map((x) => x.name)));
  assert.equal(mid.progress.outage.kind, 'ongoing');
  assert.match(progressText(mid.progress, T0 + 900 * 1000).outage, /^9 min 40 s so far: every server down since ucd3 was proven stopped/);
  const up = [...down, ...both('startFirst', 400, 500, 'ucd1')];
  const over = progressText(status(up, undefined, 1200).progress, T0 + 1200 * 1000);
  assert.equal(over.outage, '3 min 0 s, over: ucd1 was back at the target');
});

test('a complete run says so, and its elapsed time stops at the last result', () => {
  const c = cluster();
  const events = [...both('backup', 0, 60), ...c.nodes.flatMap((x, i) => both('verifyVersions', 100, 200 + i, x.name, { version: '7.1.2.0' }, 'check'))];
  // Every other step settled by hand, as a finished run's journal has them.
  const settled: JournalEvent[] = STEPS.filter((d) => d.id !== 'backup' && d.id !== 'verifyVersions').map((d, i) => ({ type: 'skipped', ts: at(80 + i), reason: 'test', step: d.id }));
  const s = status([...events.slice(0, 2), ...settled, ...events.slice(2)], undefined, 7200);
  assert.equal(s.progress.complete, true, JSON.stringify(s.progress));
  assert.equal(s.progress.until, at(202));
  const t = progressText(s.progress, T0 + 7200 * 1000);
  assert.equal(t.step, 'complete: all 11 steps done');
  assert.equal(t.elapsed, '3 min 22 s in all');
});

test('ages read as a person says them, from the clock', () => {
  assert.equal(ago(at(0), T0 + 5_000), 'just now');
  assert.equal(ago(at(0), T0 + 42_000), '42 s ago');
  assert.equal(ago(at(0), T0 + 5 * 60_000 + 10_000), '5 min ago');
  assert.equal(ago(at(0), T0 + (2 * 3600 + 5 * 60) * 1000), '2 h 5 min ago');
  assert.equal(ago(at(60), T0), 'just now', 'a clock behind the record is not a negative age');
  assert.equal(ago('not a time', T0), 'at an unknown time');
});
