import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import { CLUSTER_TEMPLATE } from '../../src/core/cluster/template';
import { SUPPORTED_KEYWORDS } from '../../src/core/cluster/schemaCheck';
import schema from '../../schemas/ucd-cluster.schema.json';
import { VALID_CLUSTER, lineOf, variant } from '../fixtures/clusters';

function problemsOf(text: string) {
  const r = loadCluster(text);
  assert.equal(r.ok, false, 'expected problems');
  return r.problems;
}

test('a valid file loads with defaults applied', () => {
  const r = loadCluster(VALID_CLUSTER);
  assert.ok(r.ok, JSON.stringify(r.problems));
  const c = r.cluster;
  assert.equal(c.nodes.length, 3);
  assert.equal(c.nodes[0].sshPort, 22);
  assert.equal(c.nodes[0].httpsPort, 8443);
  assert.equal(c.nodes[0].jmsPort, 7918);
  assert.equal(c.nodes[0].os, 'linux');
  assert.equal(c.nodes[0].stopCommand, '/opt/ucd/server/bin/server stop');
  assert.deepEqual(c.database.backup.runOn, { kind: 'local' });
  assert.deepEqual(c.package, { kind: 'remote', path: '/tmp/ibm-ucd-install' });
  assert.equal(c.installerMode, 'guided');
  assert.equal(c.fips, false);
});

test('the Create-cluster-file template is itself a valid cluster file', () => {
  const r = loadCluster(CLUSTER_TEMPLATE);
  assert.ok(r.ok, JSON.stringify(r.problems));
  assert.deepEqual(r.cluster.database.backup.runOn, { kind: 'node', node: 'ucd1' });
});

test('every schema property has a description, and the loader understands every keyword used', () => {
  const walk = (s: Record<string, unknown>, where: string): void => {
    for (const k of Object.keys(s)) assert.ok(SUPPORTED_KEYWORDS.has(k), `unsupported keyword ${k} at ${where}`);
    for (const [name, sub] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) {
      assert.ok(typeof sub.description === 'string' && sub.description.length > 5, `no description for ${where}.${name}`);
      walk(sub, `${where}.${name}`);
    }
    if (s.items) walk(s.items as Record<string, unknown>, `${where}[]`);
  };
  walk(schema as unknown as Record<string, unknown>, '$');
});

test('duplicate node names point at the second name', () => {
  const text = variant('"name": "ucd2"', '"name": "ucd1"');
  const [p] = problemsOf(text);
  assert.match(p.message, /Duplicate node name "ucd1"/);
  assert.equal(p.range.startLine, lineOf(text, '"host": "10.0.0.2"'));
  assert.deepEqual(p.path, ['nodes', 1, 'name']);
});

test('two nodes with one address and port are reported', () => {
  const text = variant('"host": "10.0.0.3"', '"host": "10.0.0.1"');
  const [p] = problemsOf(text);
  assert.match(p.message, /same address and SSH port \(10\.0\.0\.1:22\)/);
  assert.equal(p.range.startLine, lineOf(text, '"name": "ucd3"'));
});

test('same address on different SSH ports is two servers, not a duplicate', () => {
  const text = variant('"host": "10.0.0.3", "user": "ucd"', '"host": "10.0.0.1", "sshPort": 2222, "user": "ucd"');
  assert.ok(loadCluster(text).ok);
});

test('a relative install dir is an error at its line', () => {
  const text = variant('"user": "ucd", "installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', '"user": "ucd", "installDir": "opt/ucd/server" },\n    { "name": "ucd3"');
  const [p] = problemsOf(text);
  assert.match(p.message, /installDir of "ucd2" must be an absolute path/);
  assert.equal(p.range.startLine, lineOf(text, '"name": "ucd2"'));
});

test('a first node that does not exist names the nodes that do', () => {
  const text = variant('"firstNode": "ucd1"', '"firstNode": "ucd9"');
  const [p] = problemsOf(text);
  assert.match(p.message, /firstNode "ucd9" is not one of the nodes \(ucd1, ucd2, ucd3\)/);
  assert.equal(p.range.startLine, lineOf(text, '"firstNode"'));
  assert.equal(p.range.startCharacter, text.split('\n')[p.range.startLine].indexOf('"ucd9"'));
});

test('an unknown version format is reported by the schema at its value', () => {
  const text = variant('"targetVersion": "7.1.2.0"', '"targetVersion": "7.1"');
  const [p] = problemsOf(text);
  assert.match(p.message, /"targetVersion" is not valid/);
  assert.equal(p.range.startLine, lineOf(text, '"targetVersion"'));
});

test('a target not newer than the current version is refused', () => {
  const [p] = problemsOf(variant('"targetVersion": "7.1.2.0"', '"targetVersion": "7.0.5.0"'));
  assert.match(p.message, /must be newer than currentVersion 7\.0\.5\.0/);
});

test('a misspelt property gets a suggestion and points at the key', () => {
  const text = variant('"user": "ucd", "installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', '"usr": "ucd", "installDir": "/opt/ucd/server" },\n    { "name": "ucd3"');
  const [p] = problemsOf(text);
  assert.equal(p.message, 'Unknown property "usr". Did you mean "user"?');
  assert.equal(p.range.startLine, lineOf(text, '"usr"'));
});

test('missing required properties and wrong types are each reported', () => {
  const text = variant('"host": "10.0.0.2", ', '"sshPort": "22", ');
  const problems = problemsOf(text);
  const messages = problems.map((p) => p.message);
  assert.ok(messages.some((m) => /Missing required property "host" in nodes\[1\]/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /"sshPort" must be a whole number, not text/.test(m)), messages.join('\n'));
});

test('a syntax error points at its line and the file never throws', () => {
  const text = variant('"firstNode": "ucd1",', '"firstNode": "ucd1"');
  const problems = problemsOf(text);
  assert.match(problems[0].message, /JSON syntax: a comma is expected/);
  assert.equal(problems[0].range.startLine, lineOf(text, '"sharedAppdata"'));
  for (const junk of ['', '[]', '{', '"x"', '{"nodes": [1, null]}', '\u0000']) {
    const r = loadCluster(junk);
    assert.equal(r.ok, false, `junk ${JSON.stringify(junk)} should not load`);
  }
});

test('package needs exactly one of localFile and remotePath', () => {
  const [p] = problemsOf(variant('"package": { "remotePath": "/tmp/ibm-ucd-install" }', '"package": { "remotePath": "/a", "localFile": "/b.zip" }'));
  assert.match(p.message, /exactly one of "localFile"/);
});

test('a backup node must be a node of the cluster', () => {
  const text = variant('"artifact": "/var/backups/ucd.sql"', '"node": "db9", "artifact": "/var/backups/ucd.sql"');
  const [p] = problemsOf(text);
  assert.match(p.message, /database\.backup\.node "db9" is not one of the nodes/);
});

test('windows nodes need their service commands and a Windows path', () => {
  const text = variant('"installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', '"installDir": "/opt/ucd/server", "os": "windows" },\n    { "name": "ucd3"');
  const messages = problemsOf(text).map((p) => p.message);
  assert.ok(messages.some((m) => /absolute Windows path/.test(m)));
  assert.ok(messages.some((m) => /give its startCommand/.test(m)));
});
