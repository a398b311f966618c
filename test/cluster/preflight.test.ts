// Issue 12 item 1, on a real cluster (OpenSSH nodes, the UCD simulator, a real nginx): the
// pre-flight holds the cluster against its file, through the core (runPreflight), read-only, one
// round trip per node. It passes on a good cluster and names the fault on each of: a server the
// file forgot, one node on another version, one node with another server.appdata.dir, one node
// with multiserver off, one node's Java below the target's minimum. And (with the real MariaDB)
// the database reached with the backup command's own client and option file on the backup node,
// the space for the dump and the archives, and the custom files the upgrade would remove.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import type { Check, CheckId } from '../../src/core/preflight/checks';
import { APPDATA_KEY, HA_KEY } from '../../src/core/preflight/probe';
import { renderPreflightReport } from '../../src/core/preflight/report';
import { runPreflight, type PreflightResult } from '../../src/core/preflight/run';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import type { Transport } from '../../src/core/remote/transport';
import { fetchLoginPage } from '../../src/core/ucd/loginPage';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { BACKUP_ARTIFACT, clusterPrerequisites, NODE_DB_OPTION_FILE, startCluster, type TestCluster } from './harness';
import { databasePrerequisites } from './mariadb';
import { untilBalancerAnswers } from './loadbalancer';

const skip = clusterPrerequisites() ?? databasePrerequisites();
let c: TestCluster;
const pools: SshPool[] = [];

interface Run {
  result: PreflightResult;
  execs: Map<string, number>;
  cluster: Cluster;
  /** Origins whose certificate the engineer was asked about, in order. */
  asked: string[];
}

async function preflight(overrides: Record<string, unknown> = {}): Promise<Run> {
  const loaded = loadCluster(c.clusterFile(overrides));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const cluster = loaded.cluster;
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-preflight-'));
  // Host keys from the harness's known_hosts only: an unknown key would be declined, not asked.
  const pool = new SshPool({ hostKeys: new HostKeyPolicy({ knownHostsFiles: [c.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }), sshConfigFile: null, agentSocket: null });
  pools.push(pool);
  const execs = new Map<string, number>();
  const asked: string[] = [];
  const counted = async (n: ClusterNode): Promise<Transport> => {
    const t = await pool.transport(targetFromNode(n));
    return { label: t.label, close: () => t.close(), exec: (cmd, o) => (execs.set(n.name, (execs.get(n.name) ?? 0) + 1), t.exec(cmd, o)) };
  };
  // The simulator's self-signed certificates, accepted as a user would after looking at them.
  // A person takes a moment to compare the fingerprint: any other connection to that server meanwhile must not ask too.
  const prompt = async (cert: { host: string; port: number }): Promise<'always'> => {
    asked.push(`${cert.host}:${cert.port}`);
    await new Promise((r) => setTimeout(r, 300));
    return 'always';
  };
  const trust = { pins: new MemoryPinStore(), prompt, sessionPins: new Map<string, string>() };
  const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, { kind: 'basic', user: c.ucdAdmin.user, password: c.ucdAdmin.password }), pins: trust.pins, prompt: trust.prompt });
  const result = await runPreflight(cluster, { transportFor: counted, servers: (s) => rest.servers(s), loginPage: (url, signal) => fetchLoginPage(url, trust, signal ? { signal } : {}) });
  return { result, execs, cluster, asked };
}

function nodeCheck(r: PreflightResult, node: string, id: CheckId): Check {
  const n = r.nodes.find((x) => x.node === node);
  assert.ok(n, `no result for node ${node}`);
  const ch = n.checks.find((x) => x.id === id);
  assert.ok(ch, `no ${id} check for ${node}: ${JSON.stringify(n.checks)}`);
  return ch;
}

function clusterCheck(r: PreflightResult, id: CheckId): Check {
  const ch = r.clusterChecks.find((x) => x.id === id);
  assert.ok(ch, `no cluster check ${id}`);
  return ch;
}

/** Paths, sizes and mtimes of what the pre-flight reads (the servers' own logs and state aside). */
function snapshot(): string[] {
  const out: string[] = [];
  const walk = (root: string, rel = ''): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      const st = fs.lstatSync(path.join(root, p));
      out.push(`${root}:${p}:${st.size}:${st.mtimeMs}:${st.mode}`);
      if (e.isDirectory()) walk(root, p);
    }
  };
  for (const n of c.nodes) for (const d of ['conf', 'bin', 'java']) walk(path.join(c.hostInstallDir(n.name), d));
  for (const d of ['conf', 'patches']) walk(path.join(c.hostAppdataDir, d));
  return out.sort();
}

/** Every check but the ones named passed: a fault is named where it is, and nowhere else. */
function onlyThese(r: PreflightResult, failing: readonly string[]): void {
  const bad = [
    ...r.clusterChecks.filter((x) => x.status !== 'pass').map((x) => `cluster:${x.id}`),
    ...r.nodes.flatMap((n) => n.checks.filter((x) => x.status !== 'pass').map((x) => `${n.node}:${x.id}`)),
  ];
  assert.deepEqual(bad.sort(), [...failing].sort(), renderPreflightReport(r));
}

describe('pre-flight on a real cluster', { skip, concurrency: false }, () => {
  before(async () => {
    c = await startCluster({ nodes: 3, loadBalancer: true, database: true });
    await Promise.all(c.nodes.map((n) => c.startServer(n.name)));
    await untilBalancerAnswers(c.loadBalancer!);
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    await c?.stop();
  });

  test('passes on a good cluster, one round trip per node, and lists the patches the upgrade renames', async () => {
    const patch = path.join(c.hostAppdataDir, 'patches', 'APAR-PH12345.jar');
    fs.writeFileSync(patch, 'a patch\n');
    try {
      const before = snapshot();
      const { result, execs, asked } = await preflight();
      assert.deepEqual(snapshot(), before, 'the pre-flight changed nothing it read');
      // ucd.url is the balancer: its certificate is asked about once, not by two connections at once.
      assert.deepEqual(asked, [new URL(c.loadBalancer!.url).host]);
      onlyThese(result, []);
      assert.equal(result.verdict, 'passed');
      assert.deepEqual([...execs.entries()].sort(), c.nodes.map((n) => [n.name, 1]));
      assert.match(clusterCheck(result, 'servers').evidence.join(' '), /UCD lists 3: ucd1 \(.*\), ucd2 .*, ucd3/);
      assert.match(nodeCheck(result, 'ucd1', 'java').evidence.join(' '), /JAVA_HOME=\/opt\/ucd\/server\/java: openjdk version "17\.0\.10"/);
      assert.deepEqual(result.forgotten.map((f) => f.path), [`${c.appdataDir}/patches/APAR-PH12345.jar`]);
      const report = renderPreflightReport(result);
      assert.match(report, /Result: passed\./);
      assert.match(report, /APAR-PH12345\.jar` \(patch\): the upgrade renames it to \.off/);
    } finally {
      fs.rmSync(patch, { force: true });
    }
  });

  test('a running server the cluster file forgot is a failure that names it', async () => {
    const { result } = await preflight({ nodes: JSON.parse(c.clusterFile()).nodes.slice(0, 2) });
    onlyThese(result, ['cluster:servers']);
    assert.equal(result.verdict, 'failed');
    const ev = clusterCheck(result, 'servers').evidence.join('\n');
    assert.match(ev, new RegExp(`UCD lists ucd3 \\(${c.nodes[2]!.host.replace(/\./g, '\\.')}\\), which the cluster file does not`));
    assert.doesNotMatch(ev, /UCD lists ucd[12] .*which the cluster file does not/);
    assert.match(renderPreflightReport(result), /Result: \*\*FAILED\*\*/);
  });

  test('the simulator\'s switch: a server registered in the cluster but in no file', async () => {
    c.setUnlistedServer('ucd-old', '10.99.0.7');
    try {
      const { result } = await preflight();
      onlyThese(result, ['cluster:servers']);
      assert.match(clusterCheck(result, 'servers').evidence.join('\n'), /UCD lists ucd-old \(10\.99\.0\.7\), which the cluster file does not/);
    } finally {
      c.setUnlistedServer('ucd-old', undefined);
    }
  });

  test('one node on another version', async () => {
    c.setInstalledVersion({ node: 'ucd2' }, '7.0.4.0');
    try {
      const { result } = await preflight();
      onlyThese(result, ['ucd2:version']);
      assert.match(nodeCheck(result, 'ucd2', 'version').evidence.join(' '), /ucd2: 7\.0\.4\.0, the cluster file says currentVersion 7\.0\.5\.0/);
    } finally {
      c.setInstalledVersion({ node: 'ucd2' }, c.version);
    }
  });

  test('the shared appdata on another version (a half-done upgrade) is a cluster failure', async () => {
    c.setInstalledVersion('appdata', '7.1.0.0');
    try {
      const { result } = await preflight();
      onlyThese(result, ['cluster:appdataVersion']);
      assert.match(clusterCheck(result, 'appdataVersion').evidence.join(' '), /\/opt\/ucd\/appdata\/conf\/installed\.version \(read on ucd\d\): 7\.1\.0\.0/);
    } finally {
      c.setInstalledVersion('appdata', c.version);
    }
  });

  test('one node with another server.appdata.dir', async () => {
    c.setInstalledProperty('ucd3', APPDATA_KEY, '/opt/ucd/appdata-local');
    try {
      const { result } = await preflight();
      onlyThese(result, ['ucd3:appdataDir']);
      assert.match(nodeCheck(result, 'ucd3', 'appdataDir').evidence.join(' '), /ucd3: server\.appdata\.dir=\/opt\/ucd\/appdata-local, the cluster file says sharedAppdata \/opt\/ucd\/appdata/);
    } finally {
      c.setInstalledProperty('ucd3', APPDATA_KEY, c.appdataDir);
    }
  });

  test('one node with multiserver off', async () => {
    c.setInstalledProperty('ucd2', HA_KEY, 'false');
    try {
      const { result } = await preflight();
      onlyThese(result, ['ucd2:ha']);
      assert.match(nodeCheck(result, 'ucd2', 'ha').evidence.join(' '), /ucd2: com\.urbancode\.ds\.UDeployServer\.multiserver=false/);
    } finally {
      c.setInstalledProperty('ucd2', HA_KEY, 'true');
    }
  });

  test('one node\'s Java below the target\'s minimum (8.2.x needs 17)', async () => {
    c.setJavaVersion('ucd3', '11.0.21');
    try {
      const { result } = await preflight({ targetVersion: '8.2.0.0' });
      onlyThese(result, ['ucd3:java', 'cluster:javaSame']);
      assert.match(nodeCheck(result, 'ucd3', 'java').evidence.join(' '), /openjdk version "11\.0\.21".*Java 11 is below 17/);
      assert.match(nodeCheck(result, 'ucd3', 'java').title, /Java 17 or later \(needed by 8\.2\.0\.0\)/);
      // The same Java 11 is enough for an 8.1 target: only the difference between nodes remains.
      const older = await preflight({ targetVersion: '8.1.0.0' });
      onlyThese(older.result, ['cluster:javaSame']);
    } finally {
      c.setJavaVersion('ucd3', '17.0.10');
    }
  });

  test('the database as the backup reaches it: its client and option file on the backup node, SELECT 1, and room for the dump', async () => {
    const { result, execs } = await preflight();
    // Still one round trip per node: the database check rides in ucd1's own probe.
    assert.deepEqual([...execs.values()], [1, 1, 1]);
    assert.match(clusterCheck(result, 'database').title, /\(ucd1\)/);
    assert.match(clusterCheck(result, 'database').evidence.join(' '), /^ucd1: SELECT 1 answered through the backup command's client and option file; the schema holds \d+ MiB$/);
    assert.match(clusterCheck(result, 'backupSpace').evidence.join(' '), /^ucd1: \/home\/ucdtest(\/backups)? has \d+ MiB free/);
    for (const n of c.nodes) assert.match(nodeCheck(result, n.name, 'archiveSpace').evidence.join(' '), new RegExp(`^${n.name}: the install and the shared conf hold \\d+ MiB; home has \\d+ MiB free$`));

    // The backup's option file wrong: the same client fails on ucd1, and the finding says so and where.
    const file = JSON.parse(c.clusterFile()) as { database: { type: string; backup: Record<string, string> } };
    const broken = { ...file.database, backup: { ...file.database.backup, command: `mariadb-dump --defaults-extra-file=/opt/ucd/server/conf/sim/nope.cnf --single-transaction ucd > ${BACKUP_ARTIFACT}` } };
    const bad = await preflight({ database: broken });
    onlyThese(bad.result, ['cluster:database', 'cluster:backupSpace']);
    assert.equal(clusterCheck(bad.result, 'database').status, 'fail');
    assert.match(clusterCheck(bad.result, 'database').evidence.join(' '), /^ucd1: the backup command's client could not run SELECT 1 \(exit [1-9]\d*\): .*nope\.cnf/);
    assert.match(clusterCheck(bad.result, 'database').hint ?? '', /on ucd1/);
    assert.match(renderPreflightReport(bad.result), /\*\*FAIL\*\* \| Database reachable from where the backup runs \(ucd1\)/);
    assert.ok(NODE_DB_OPTION_FILE.endsWith('db.cnf'));
  });

  test('custom files under opt/tomcat and a custom keystore are listed under their node, so they can be kept', async () => {
    const custom = path.join(c.hostInstallDir('ucd2'), 'opt/tomcat/webapps/custom/index.html');
    const keystore = path.join(c.hostInstallDir('ucd3'), 'conf/company-trust.jks');
    fs.mkdirSync(path.dirname(custom), { recursive: true });
    fs.writeFileSync(custom, '<p>ours</p>\n');
    fs.writeFileSync(keystore, 'not really a keystore\n');
    try {
      const { result } = await preflight();
      onlyThese(result, []);
      const listed = result.forgotten.map((f) => `${f.node ?? '-'} ${f.kind} ${f.path}`);
      assert.deepEqual(listed.sort(), [`ucd2 tomcat ${c.installDir}/opt/tomcat/webapps/custom/index.html`, `ucd3 keystore ${c.installDir}/conf/company-trust.jks`]);
      assert.match(renderPreflightReport(result), /- ucd2: `\/opt\/ucd\/server\/opt\/tomcat\/webapps\/custom\/index\.html` \(tomcat\): .*the upgrade removes custom files under opt\/tomcat/);
    } finally {
      fs.rmSync(path.dirname(custom), { recursive: true, force: true });
      fs.rmSync(keystore, { force: true });
    }
  });

  test('an unreachable node is a failure with the SSH error, and the others are still checked', async () => {
    await c.setFault('ucd2', 'sshdDown', true);
    try {
      const { result } = await preflight();
      assert.equal(nodeCheck(result, 'ucd2', 'reachable').status, 'fail');
      assert.match(nodeCheck(result, 'ucd2', 'reachable').evidence.join(' '), /ucd2/);
      assert.equal(nodeCheck(result, 'ucd1', 'version').status, 'pass');
      assert.equal(nodeCheck(result, 'ucd3', 'ha').status, 'pass');
    } finally {
      await c.setFault('ucd2', 'sshdDown', false);
    }
  });
});
