// The cluster file's privilege and installOwner: defaults, a node's own over the cluster's, and
// mistakes shown at their line.
import assert from 'node:assert/strict';
import test from 'node:test';
import { loadCluster } from '../../src/core/cluster/load';
import { CLUSTER_TEMPLATE } from '../../src/core/cluster/template';
import { lineOf, variant } from '../fixtures/clusters';

const NODES = '  "nodes": [\n';
const withTop = (top: string): string => variant(NODES, `${top}\n${NODES}`);

test('no privilege means none, for every node', () => {
  const r = loadCluster(variant(NODES, NODES));
  assert.ok(r.ok);
  for (const n of r.cluster.nodes) assert.deepEqual(n.rights, { privilege: { method: 'none' } });
});

test('the cluster default applies to each node, and a node\'s own fields win one by one', () => {
  const text = withTop('  "privilege": { "method": "sudo", "passwordEnv": "SUDO_PW" },\n  "installOwner": "ucd",')
    .replace('{ "name": "ucd2", "host": "10.0.0.2", "user": "ucd",', '{ "name": "ucd2", "host": "10.0.0.2", "user": "alice", "privilege": { "as": "installOwner", "password": false }, "installOwner": "ucdsvc",')
    .replace('{ "name": "ucd3", "host": "10.0.0.3", "user": "ucd",', '{ "name": "ucd3", "host": "10.0.0.3", "user": "ucd", "privilege": { "method": "none" },');
  const r = loadCluster(text);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  const [a, b, c] = r.cluster.nodes;
  assert.deepEqual(a!.rights, { privilege: { method: 'sudo', as: 'root', password: true, passwordEnv: 'SUDO_PW' }, installOwner: 'ucd' });
  assert.deepEqual(b!.rights, { privilege: { method: 'sudo', as: 'installOwner', password: false, passwordEnv: 'SUDO_PW' }, installOwner: 'ucdsvc' });
  assert.deepEqual(c!.rights, { privilege: { method: 'none' }, installOwner: 'ucd' });
});

test('sudo "as": "installOwner" without an installOwner is a problem at the privilege line', () => {
  const text = withTop('  "privilege": {\n    "method": "sudo",\n    "as": "installOwner"\n  },');
  const r = loadCluster(text);
  assert.equal(r.ok, false);
  const p = r.problems.find((x) => /installOwner/.test(x.message));
  assert.ok(p, JSON.stringify(r.problems));
  assert.equal(p.range.startLine, lineOf(text, '"privilege"'));
  assert.match(p.message, /Node "ucd1"/);
});

test('a bad method, user name or variable name is shown at its line', () => {
  for (const [top, needle] of [
    ['  "privilege": { "method": "su" },', '"privilege"'],
    ['  "installOwner": "ucd; rm -rf /",', '"installOwner"'],
    ['  "privilege": { "method": "sudo", "passwordEnv": "MY PW" },', '"privilege"'],
    ['  "privilege": { "method": "sudo", "password": "hunter2" },', '"privilege"'],
  ] as const) {
    const text = withTop(top);
    const r = loadCluster(text);
    assert.equal(r.ok, false, top);
    assert.ok(r.problems.some((p) => p.range.startLine === lineOf(text, needle)), `${top}: ${JSON.stringify(r.problems)}`);
  }
});

test('the template shows the sudo example and still loads', () => {
  assert.match(CLUSTER_TEMPLATE, /"privilege": \{ "method": "sudo", "as": "root", "password": true, "passwordEnv": "UCD_SUDO_PASSWORD" \}/);
  assert.match(CLUSTER_TEMPLATE, /"installOwner": "ucd"/);
  const r = loadCluster(CLUSTER_TEMPLATE);
  assert.ok(r.ok);
  assert.deepEqual(r.cluster.nodes[0]!.rights, { privilege: { method: 'none' } });
});
