import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { reduceJournal } from '../../src/core/runbook/state';
import { clusterStatus } from '../../src/core/status/clusterStatus';
import type { NodeFacts } from '../../src/core/status/facts';
import { VALID_CLUSTER, variant } from '../fixtures/clusters';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function fin(step: 'verifyStopped' | 'stop' | 'installFirst' | 'verifyVersions', node: string, s: number, facts: NodeFacts, verdict: 'passed' | 'failed' = 'passed'): JournalEvent {
  return { type: 'finished', ts: at(s), id: `${step}-${node}-${s}`, kind: 'check', step, node, verdict, evidence: [], facts };
}

function status(events: JournalEvent[], c = cluster()) {
  return clusterStatus(c, events, reduceJournal(events, c));
}

test('a node still running after the shutdown began is the most serious warning, with its evidence', () => {
  const s = status([
    fin('verifyStopped', 'ucd1', 1, { reachable: true, pidFile: { state: 'absent' }, listening: [], serverPid: null }),
    fin('verifyStopped', 'ucd2', 2, { reachable: true, pidFile: { state: 'live', pid: 4242 }, listening: [8443], serverPid: 4242 }, 'failed'),
    fin('verifyStopped', 'ucd3', 3, { reachable: true, pidFile: { state: 'stale', pid: 77 }, listening: [], serverPid: null }, 'failed'),
  ]);
  assert.equal(s.warnings[0].code, 'still-running');
  assert.equal(s.warnings[0].node, 'ucd2');
  assert.match(s.warnings[0].message, /pid 4242.*:8443/);
  assert.deepEqual(s.rows.map((r) => r.server), ['stopped', 'running', 'stale-pid']);
  assert.ok(s.warnings.some((w) => w.code === 'stale-pid' && w.node === 'ucd3'));
  assert.equal(s.rows[1].lastCheck, at(2));
});

test('a running server before the shutdown is a fact, not a warning', () => {
  const s = status([fin('verifyVersions', 'ucd1', 1, { reachable: true, version: '7.0.5.0', pidFile: { state: 'live', pid: 10 }, listening: [8443, 7918], serverPid: 10 })]);
  assert.equal(s.rows[0].server, 'running');
  assert.ok(!s.warnings.some((w) => w.code === 'still-running'));
});

test('later facts win field by field; versions that differ are warned about until they agree', () => {
  const mid = status([
    fin('verifyVersions', 'ucd1', 1, { version: '7.0.5.0', reachable: true }),
    fin('verifyVersions', 'ucd2', 1, { version: '7.0.5.0' }),
    fin('installFirst', 'ucd1', 5, { version: '7.1.2.0', installer: 'upgraded' }),
  ]);
  assert.equal(mid.rows[0].version, '7.1.2.0');
  assert.equal(mid.rows[0].reachable, 'yes', 'an older fact survives a newer record that did not mention it');
  assert.equal(mid.rows[0].installer, 'upgraded');
  const differ = mid.warnings.find((w) => w.code === 'versions-differ');
  assert.ok(differ);
  assert.match(differ.message, /ucd1 on 7\.1\.2\.0/);
  const end = status([
    fin('verifyVersions', 'ucd1', 1, { version: '7.1.2.0' }),
    fin('verifyVersions', 'ucd2', 1, { version: '7.1.2.0' }),
    fin('verifyVersions', 'ucd3', 1, { version: '7.1.2.0' }),
  ]);
  assert.ok(!end.warnings.some((w) => w.code === 'versions-differ'));
});

test('host key changed, storage to move, missing backup and FIPS are warned in order of seriousness', () => {
  const c = cluster(variant('"currentVersion": "7.0.5.0"', '"currentVersion": "6.1.0.0", "fips": true'));
  const s = status([fin('verifyStopped', 'ucd2', 1, { reachable: false, hostKeyChanged: true }, 'failed')], c);
  assert.deepEqual(s.warnings.map((w) => w.code), ['host-key-changed', 'storage-must-move', 'backup-missing', 'fips']);
  assert.equal(s.rows[1].reachable, 'no');
});

test('an unreachable node says why', () => {
  const s = status([fin('verifyStopped', 'ucd3', 1, { reachable: false, unreachableReason: 'connection refused on 10.0.0.3:22' }, 'failed')]);
  const w = s.warnings.find((x) => x.code === 'unreachable');
  assert.ok(w);
  assert.match(w.message, /ucd3.*connection refused/);
});

test('a backup taken before the shutdown is a note, not a warning, and backup notes end once the first node is upgraded', () => {
  const backup: JournalEvent = { type: 'finished', ts: at(1), id: 'b', kind: 'run', step: 'backup', verdict: 'passed', evidence: [] };
  const stop: JournalEvent = { type: 'finished', ts: at(5), id: 's', kind: 'run', step: 'stop', node: 'ucd1', verdict: 'passed', evidence: [] };
  const mid = status([backup, stop]);
  const note = mid.warnings.find((w) => w.code === 'backup-before-shutdown');
  assert.equal(note?.severity, 'info');
  assert.ok(!mid.warnings.some((w) => w.code === 'backup-missing'));
  const upgraded: JournalEvent = { type: 'finished', ts: at(9), id: 'i', kind: 'run', step: 'installFirst', node: 'ucd1', verdict: 'passed', evidence: [] };
  const end = status([backup, stop, upgraded]);
  assert.ok(!end.warnings.some((w) => w.code.startsWith('backup')), JSON.stringify(end.warnings));
});

test('a node on a version the cluster file does not expect is an error that names it', () => {
  const s = status([fin('verifyStopped', 'ucd3', 1, { version: '6.1.0.0' })]);
  const w = s.warnings.find((x) => x.code === 'unexpected-version');
  assert.equal(w?.severity, 'error');
  assert.match(w?.message ?? '', /ucd3 runs 6\.1\.0\.0.*from 7\.0\.5\.0 to 7\.1\.2\.0/);
});
