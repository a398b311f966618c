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
  const text = variant('"host": "10.0.0.3", "user": "ucd"', '"host": "10.0.0.1", "sshPort": 2222, "httpsPort": 9443, "jmsPort": 9918, "user": "ucd"');
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

// "Two entries, one machine": what the text shows is refused at the line that shows it.
const NODE3 = '"host": "10.0.0.3", "user": "ucd"';

function onlyProblem(text: string, line: string) {
  const problems = problemsOf(text);
  assert.equal(problems.length, 1, problems.map((p) => p.message).join('\n'));
  const [p] = problems;
  assert.equal(p.range.startLine, lineOf(text, line));
  return p;
}

test('a host with a trailing dot is refused at its line, with the spelling to use', () => {
  const text = variant(NODE3, '"host": "ucd3.example.com.", "user": "ucd"');
  const p = onlyProblem(text, '"name": "ucd3"');
  assert.match(p.message, /host "ucd3\.example\.com\." of node "ucd3" ends with a dot; write it without the trailing dot \("ucd3\.example\.com"\)/);
  assert.deepEqual(p.path, ['nodes', 2, 'host']);
  assert.equal(p.range.startCharacter, text.split('\n')[p.range.startLine].indexOf('"ucd3.example.com."'));
});

test('the same host in other letter case on the same SSH port is one server', () => {
  const text = variant('"host": "10.0.0.2"', '"host": "ucd.example.com"').replace(NODE3, '"host": "UCD.Example.COM", "user": "ucd"');
  const p = onlyProblem(text, '"name": "ucd3"');
  assert.match(p.message, /Node "ucd3" has the same address and SSH port \(ucd\.example\.com:22\) as nodes\[1\] \(UCD\.Example\.COM is ucd\.example\.com\): two entries for one server/);
});

test('IPv4 with leading zeros is refused as ambiguous (octal), not normalised', () => {
  const text = variant(NODE3, '"host": "010.000.000.001", "user": "ucd"');
  const p = onlyProblem(text, '"name": "ucd3"');
  assert.match(p.message, /"010\.000\.000\.001" of node "ucd3" is an IPv4 address with leading zeros, which resolvers may read as octal/);
  for (const other of ['10.1', '0x0a.0.0.1', '167772161', '10.0.0.256']) {
    const q = onlyProblem(variant(NODE3, `"host": "${other}", "user": "ucd"`), '"name": "ucd3"');
    assert.match(q.message, /short, hex or out-of-range notation/, other);
  }
});

test('an IP written in another notation is the same IP', () => {
  for (const same of ['::ffff:10.0.0.1', '::ffff:a00:1', '0:0:0:0:0:ffff:0a00:0001']) {
    const p = onlyProblem(variant(NODE3, `"host": "${same}", "user": "ucd"`), '"name": "ucd3"');
    assert.match(p.message, /same address and SSH port \(10\.0\.0\.1:22\) as nodes\[0\]/, same);
  }
  assert.match(onlyProblem(variant(NODE3, '"host": "ucd3.123", "user": "ucd"'), '"name": "ucd3"').message, /ends in a numeric label/);
  assert.ok(loadCluster(variant(NODE3, '"host": "fe80::3%eth0", "user": "ucd"')).ok, 'a zoned link-local address is an address, not a crash');
  const v6 = variant('"host": "10.0.0.2"', '"host": "fd00::2"').replace(NODE3, '"host": "FD00:0:0:0:0:0:0:2", "user": "ucd"');
  assert.match(onlyProblem(v6, '"name": "ucd3"').message, /\(fd00::2:22\) as nodes\[1\]/);
});

test('the same sshAlias twice is refused at the second', () => {
  const text = variant('"host": "10.0.0.2", "user": "ucd"', '"host": "10.0.0.2", "sshAlias": "ucd-prod", "user": "ucd"').replace(NODE3, '"host": "10.0.0.3", "sshAlias": "UCD-prod", "user": "ucd"');
  const p = onlyProblem(text, '"name": "ucd3"');
  assert.match(p.message, /Node "ucd3" uses the sshAlias "UCD-prod" of nodes\[1\]/);
  assert.deepEqual(p.path, ['nodes', 2, 'sshAlias']);
});

test('HTTPS and JMS ports that collide on one host are refused, at the port when written', () => {
  // Same address, another SSH port: a second server on that machine, but on the first one's ports.
  const shared = variant(NODE3, '"host": "10.0.0.1", "sshPort": 2222, "user": "ucd"');
  const problems = problemsOf(shared);
  assert.deepEqual(problems.map((p) => p.path), [['nodes', 2, 'httpsPort'], ['nodes', 2, 'jmsPort']]);
  assert.match(problems[0].message, /httpsPort 8443 of node "ucd3" is also the httpsPort of nodes\[0\] on the same host 10\.0\.0\.1/);
  assert.equal(problems[0].range.startLine, lineOf(shared, '"name": "ucd3"'));
  // Its own ports must differ too, and the problem points at the port written.
  const own = variant(NODE3, '"host": "10.0.0.3", "httpsPort": 7918, "user": "ucd"');
  const p = onlyProblem(own, '"name": "ucd3"');
  assert.match(p.message, /jmsPort 7918 of node "ucd3" is also its own httpsPort/);
  assert.deepEqual(p.path, ['nodes', 2, 'jmsPort']);
  const written = variant(NODE3, '"host": "10.0.0.3",\n      "jmsPort": 8443, "user": "ucd"');
  assert.match(onlyProblem(written, '"jmsPort": 8443').message, /jmsPort 8443 of node "ucd3" is also its own httpsPort/);
  const distinct = variant(NODE3, '"host": "10.0.0.1", "sshPort": 2222, "httpsPort": 9443, "jmsPort": 9918, "user": "ucd"');
  assert.ok(loadCluster(distinct).ok, 'another server on the same machine with its own ports is fine');
});

test('an install dir of / or with .. is refused; //, /./ and a trailing / say the normal form', () => {
  const at = (dir: string) => onlyProblem(variant('"user": "ucd", "installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', `"user": "ucd", "installDir": ${JSON.stringify(dir)} },\n    { "name": "ucd3"`), '"name": "ucd2"').message;
  assert.match(at('/'), /installDir "\/" of "ucd2" is the root of the file system/);
  assert.match(at('/opt/ucd/../server'), /has a "\.\." segment/);
  assert.match(at('/opt/..'), /has a "\.\." segment/);
  assert.match(at('/opt//ucd/server'), /not written normalised .*write it as "\/opt\/ucd\/server"/);
  assert.match(at('/opt/./ucd/server'), /write it as "\/opt\/ucd\/server"/);
  assert.match(at('/opt/ucd/server/'), /write it as "\/opt\/ucd\/server"/);
  assert.ok(loadCluster(variant('"installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', '"installDir": "/opt/ucd..old/server" },\n    { "name": "ucd3"')).ok, 'dots inside a name are a name');
});

test('a Windows install dir of C:\\ or with .. is refused too', () => {
  const win = (dir: string) => variant('"installDir": "/opt/ucd/server" },\n    { "name": "ucd3"', `"installDir": ${JSON.stringify(dir)}, "os": "windows", "startCommand": "net start ucd", "stopCommand": "net stop ucd" },\n    { "name": "ucd3"`);
  assert.match(onlyProblem(win('C:\\'), '"name": "ucd2"').message, /root of the file system/);
  assert.match(onlyProblem(win('C:\\ucd\\..\\x'), '"name": "ucd2"').message, /"\.\." segment/);
  assert.match(onlyProblem(win('C:\\ucd\\\\server'), '"name": "ucd2"').message, /write it as "C:\\ucd\\server"/);
  assert.ok(loadCluster(win('C:\\Program Files\\ucd\\server')).ok);
});

test('a file nested 10,000 levels deep is one problem at line 1, not a stack overflow', () => {
  for (const deep of ['['.repeat(10_000) + ']'.repeat(10_000), '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), `{\n "nodes": ${'['.repeat(100_000)}`]) {
    const r = loadCluster(deep);
    assert.equal(r.ok, false);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0].message, /nests objects and lists more than 64 levels deep/);
    assert.deepEqual(r.problems[0].range, { startLine: 0, startCharacter: 0, endLine: 0, endCharacter: 1 });
  }
  // Brackets inside strings and comments are not nesting.
  assert.ok(loadCluster(VALID_CLUSTER.replace('// a comment', `// ${'['.repeat(500)}`)).ok);
});

test('{timestamp} must name the file in both the backup command and the artifact, or in neither', () => {
  const text = variant('"artifact": "/var/backups/ucd.sql"', '"artifact": "/var/backups/ucd-{timestamp}.sql"');
  const p = onlyProblem(text, '"backup"');
  assert.match(p.message, /database\.backup\.artifact uses \{timestamp\} but the command does not/);
  assert.deepEqual(p.path, ['database', 'backup', 'command']);
  const other = variant('"mysqldump ucd > /var/backups/ucd.sql"', '"mysqldump ucd > /var/backups/ucd-{timestamp}.sql"');
  assert.match(onlyProblem(other, '"backup"').message, /database\.backup\.command uses \{timestamp\} but the artifact does not/);
  const both = variant('"command": "mysqldump ucd > /var/backups/ucd.sql", "artifact": "/var/backups/ucd.sql"', '"command": "mysqldump ucd > /var/backups/ucd-{timestamp}.sql", "artifact": "/var/backups/ucd-{timestamp}.sql"');
  const r = loadCluster(both);
  assert.ok(r.ok, JSON.stringify(r.problems));
  assert.equal(r.cluster.database.backup.artifact, '/var/backups/ucd-{timestamp}.sql');
});
