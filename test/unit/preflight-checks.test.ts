// The pre-flight's pure checks: each fault is named where it is, with its evidence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import {
  checkAppdataDir, checkHa, checkOwner, checkJava, checkJavaSame, checkLoadBalancer, checkNodeVersion, checkServers, checkSpace, forgottenItems, javaMajor, minimumJava, type NodeOutcome,
} from '../../src/core/preflight/checks';
import type { NodeRead } from '../../src/core/preflight/probe';
import { renderPreflightReport } from '../../src/core/preflight/report';
import { findingsOf, judge } from '../../src/core/preflight/run';
import { VALID_CLUSTER, variant } from '../fixtures/clusters';

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function good(over: Partial<NodeRead> = {}): NodeRead {
  return {
    installVersion: { kind: 'found', version: '7.0.5.0' },
    appdataVersion: { kind: 'found', version: '7.0.5.0' },
    props: { kind: 'found', values: { 'com.urbancode.ds.UDeployServer.multiserver': 'true', 'server.appdata.dir': '/opt/ucd/appdata', 'install.java.home': '/opt/java17' } },
    java: { kind: 'ok', javaHome: '/opt/java17', versionText: 'openjdk version "17.0.9" 2023-10-17', version: '17.0.9' },
    homeFreeKb: 4_000_000,
    installFreeKb: 8_000_000,
    installTreeKb: 600_000,
    patches: [],
    tomcatChanged: [],
    keystores: [],
    sshUser: 'ucd',
    installOwner: 'ucd',
    ...over,
  };
}

const read = (node: string, r: NodeRead = good()): NodeOutcome => ({ node, kind: 'read', read: r });
const LISTED = { kind: 'listed' as const, servers: [{ name: 'ucd1', host: '10.0.0.1' }, { name: 'ucd2', host: '10.0.0.2' }, { name: 'ucd3', host: '10.0.0.3' }] };
const LB = { kind: 'answered' as const, status: 200, version: '7.0.5.0' };
const DB = { kind: 'read' as const, where: 'ucd1', read: { kind: 'ok' as const, schemaBytes: 50 * 1024 * 1024, dumpDir: '/var/backups', dumpFreeKb: 2_000_000 } };

test('the Java minimum follows the target release; Java versions are read in both schemes', () => {
  assert.deepEqual(['7.1.2.0', '8.0.1.0', '8.1.0.0', '8.1.2.1', '8.2.0.0', '8.3.0.0'].map(minimumJava), [8, 8, 11, 11, 17, 17]);
  assert.deepEqual(['1.8.0_392', '11.0.21', '17', '21.0.1'].map(javaMajor), [8, 11, 17, 21]);
  assert.equal(javaMajor('weird'), undefined);
});

test('a good cluster passes every check', () => {
  const c = cluster();
  const r = judge(c, ['ucd1', 'ucd2', 'ucd3'].map((n) => read(n)), LISTED, LB, undefined, '2026-11-23T10:00:00.000Z', DB);
  assert.equal(r.verdict, 'passed', renderPreflightReport(r));
  assert.deepEqual(findingsOf(r), ['every check passed']);
});

test('a server UCD lists that the file does not is a failure naming it; one the file lists but UCD does not only warns', () => {
  const c = cluster();
  const extra = checkServers(c, { kind: 'listed', servers: [...LISTED.servers, { name: 'ucd4.example.test', host: '10.0.0.4' }] });
  assert.equal(extra.status, 'fail');
  assert.match(extra.evidence.join('\n'), /UCD lists ucd4\.example\.test \(10\.0\.0\.4\), which the cluster file does not/);
  const missing = checkServers(c, { kind: 'listed', servers: LISTED.servers.slice(0, 2) });
  assert.equal(missing.status, 'warn');
  assert.match(missing.evidence.join('\n'), /ucd3 \(10\.0\.0\.3\) is not in UCD's list/);
  // Matched by short host name too (UCD may list FQDNs).
  assert.equal(checkServers(c, { kind: 'listed', servers: [{ name: 'ucd1.corp.example' }, { host: '10.0.0.2' }, { name: 'UCD3' }] }).status, 'pass');
  const down = checkServers(c, { kind: 'error', message: 'GET https://lb/rest/server: HTTP 401', hint: 'Check the credential.' });
  assert.equal(down.status, 'fail');
  assert.match(down.hint ?? '', /a server the file forgot cannot be ruled out/);
});

test('another version, multiserver off, another appdata dir: each fails on its node with the value found', () => {
  const c = cluster();
  const v = checkNodeVersion(c, 'ucd2', good({ installVersion: { kind: 'found', version: '7.0.4.0' } }));
  assert.equal(v.status, 'fail');
  assert.match(v.evidence[0] ?? '', /ucd2: 7\.0\.4\.0, the cluster file says currentVersion 7\.0\.5\.0/);
  assert.equal(checkNodeVersion(c, 'ucd2', good({ installVersion: { kind: 'missing' } })).status, 'fail');

  const ha = checkHa('ucd3', good({ props: { kind: 'found', values: { 'com.urbancode.ds.UDeployServer.multiserver': 'false', 'server.appdata.dir': '/opt/ucd/appdata' } } }));
  assert.equal(ha.status, 'fail');
  assert.match(ha.evidence[0] ?? '', /multiserver=false/);
  assert.match(checkHa('ucd3', good({ props: { kind: 'found', values: {} } })).evidence[0] ?? '', /no com\.urbancode\.ds\.UDeployServer\.multiserver/);
  assert.equal(checkHa('ucd3', good({ props: { kind: 'found', values: { 'com.urbancode.ds.UDeployServer.multiserver': 'TRUE' } } })).status, 'pass');

  const ad = checkAppdataDir(c, 'ucd1', good({ props: { kind: 'found', values: { 'server.appdata.dir': '/opt/ucd/server/appdata' } } }));
  assert.equal(ad.status, 'fail');
  assert.match(ad.evidence[0] ?? '', /server\.appdata\.dir=\/opt\/ucd\/server\/appdata, the cluster file says sharedAppdata \/opt\/ucd\/appdata/);
  assert.equal(checkAppdataDir(c, 'ucd1', good({ props: { kind: 'found', values: { 'server.appdata.dir': '/opt/ucd/appdata/' } } })).status, 'pass', 'a trailing slash is the same folder');
  assert.equal(checkAppdataDir(c, 'ucd1', good({ props: { kind: 'missing' } })).status, 'fail');
});

test('Java below the minimum fails; another major between nodes fails, another update only warns', () => {
  const c82 = cluster(variant('"targetVersion": "7.1.2.0"', '"targetVersion": "8.2.0.0"'));
  const j11 = good({ java: { kind: 'ok', javaHome: '/opt/java11', versionText: 'openjdk version "11.0.21"', version: '11.0.21' }, props: { kind: 'found', values: { 'install.java.home': '/opt/java11' } } });
  const low = checkJava(c82, 'ucd2', j11);
  assert.equal(low.status, 'fail');
  assert.match(low.evidence.join(' '), /Java 11 is below 17/);
  assert.equal(checkJava(cluster(variant('"targetVersion": "7.1.2.0"', '"targetVersion": "8.1.0.0"')), 'ucd2', j11).status, 'pass');
  assert.equal(checkJava(c82, 'ucd2', good({ java: { kind: 'no-set-env' } })).status, 'fail');
  assert.match(checkJava(c82, 'ucd2', good({ java: { kind: 'java-failed', javaHome: '/gone', output: 'sh: /gone/bin/java: not found' } })).evidence[0] ?? '', /\/gone\/bin\/java -version failed/);
  const mismatch = checkJava(c82, 'ucd1', good({ props: { kind: 'found', values: { 'install.java.home': '/opt/other' } } }));
  assert.equal(mismatch.status, 'warn');
  assert.match(mismatch.evidence.join(' '), /install\.java\.home=\/opt\/other differs/);

  assert.equal(checkJavaSame([read('ucd1'), read('ucd2', j11)]).status, 'fail');
  const upd = good({ java: { kind: 'ok', javaHome: '/opt/java17', versionText: '', version: '17.0.10' } });
  assert.equal(checkJavaSame([read('ucd1'), read('ucd2', upd)]).status, 'warn');
  assert.equal(checkJavaSame([read('ucd1'), read('ucd2')]).status, 'pass');
});

test('space, load balancer and the unreachable node', () => {
  const c = cluster();
  assert.equal(checkSpace('ucd1', good({ homeFreeKb: 100 * 1024 }), 200 * 1024 * 1024).status, 'fail');
  assert.equal(checkSpace('ucd1', good({ homeFreeKb: 1000 * 1024 }), 200 * 1024 * 1024).status, 'pass');
  assert.equal(checkLoadBalancer(c, { kind: 'answered', status: 200, version: '7.0.4.0' }).status, 'fail');
  assert.equal(checkLoadBalancer(c, { kind: 'answered', status: 502 }).status, 'fail');
  assert.equal(checkLoadBalancer(c, { kind: 'error', message: 'connect ECONNREFUSED', hint: 'h' }).status, 'fail');
  const r = judge(c, [read('ucd1'), { node: 'ucd2', kind: 'unreached', message: 'ucd2: connection refused', hint: 'Start sshd.' }, read('ucd3')], LISTED, LB, undefined, 'now', DB);
  assert.equal(r.verdict, 'failed');
  assert.deepEqual(findingsOf(r), ['fail: ucd2: Reachable over SSH, host key known: ucd2: connection refused']);
  assert.match(renderPreflightReport(r), /\| ucd2 \| \*\*FAIL\*\* \| Reachable over SSH, host key known \| ucd2: connection refused \| Start sshd\. \|/);
});

test('what the upgrade changes is listed, never a failure: patches (not .off ones), opt/tomcat changes, keystores', () => {
  const c = cluster();
  const r1 = good({ patches: ['APAR-1.jar', 'old.jar.off'], tomcatChanged: ['/opt/ucd/server/opt/tomcat/conf/server.xml'], keystores: ['/opt/ucd/server/conf/custom.jks', '/opt/ucd/appdata/conf/encryption.keystore'] });
  const r2 = good({ patches: ['APAR-1.jar', 'old.jar.off'], keystores: ['/opt/ucd/appdata/conf/encryption.keystore'] });
  const items = forgottenItems([read('ucd1', r1), read('ucd2', r2)], c);
  assert.deepEqual(items.map((i) => `${i.kind} ${i.node ?? '-'} ${i.path}`), [
    'patch - /opt/ucd/appdata/patches/APAR-1.jar',
    'tomcat ucd1 /opt/ucd/server/opt/tomcat/conf/server.xml',
    'keystore ucd1 /opt/ucd/server/conf/custom.jks',
    'keystore - /opt/ucd/appdata/conf/encryption.keystore',
  ]);
  assert.match(items[0]?.note ?? '', /renames it to \.off/);
  const r = judge(c, [read('ucd1', r1), read('ucd2', r2), read('ucd3')], LISTED, LB, undefined, 'now', DB);
  assert.equal(r.verdict, 'passed');
  assert.match(renderPreflightReport(r), /`\/opt\/ucd\/server\/conf\/custom\.jks` \(keystore\)/);
});

test('the SSH user must own the install (a root upgrade leaves files the server cannot use)', () => {
  assert.equal(checkOwner('ucd1', good()).status, 'pass');
  const root = checkOwner('ucd1', good({ sshUser: 'root' }));
  assert.equal(root.status, 'fail');
  assert.match(root.evidence[0] ?? '', /SSH user root, the install is owned by ucd/);
  assert.equal(checkOwner('ucd1', good({ installOwner: undefined })).status, 'warn');
});
