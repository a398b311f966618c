// Issue 12's proof of Roll back, through the core on the real cluster (OpenSSH nodes, the UCD
// simulator, MariaDB, nginx): step 1 with its filesystem archives, a first-node installer that
// fails after the schema upgrade, then Roll back through the runner. The schema rows and a
// whole-table checksum are back to what they were, every node's install tree is as before, every
// node and the load balancer answer on the old version, and the journal and the report tell it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { renderReport } from '../../src/core/journal/report';
import type { ActionLog } from '../../src/core/runbook/actions';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { LocalTransport } from '../../src/core/remote/local';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { backupHandlers } from '../../src/core/steps/backup';
import { BACKUP_ROOT } from '../../src/core/steps/backup-files';
import { installerHandlers } from '../../src/core/steps/installer';
import { packageHandlers } from '../../src/core/steps/package';
import { rollBack } from '../../src/core/steps/rollback';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { untilBalancerAnswers } from './loadbalancer';
import { databasePrerequisites } from './mariadb';
import { tableOf } from '../fixtures/handlers';

const skip = clusterPrerequisites() ?? databasePrerequisites();

/** The login page as a browser would fetch it (the simulator's certificate is self-signed). */
function loginPage(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject).on('timeout', function (this: { destroy(e: Error): void }) { this.destroy(new Error(`no answer from ${url} within 10 s`)); });
  });
}

describe('Roll back a failed first-node upgrade on a real cluster, through the core', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true, loadBalancer: true });
    pkg = tc.buildPackage({ failAfterSchema: true });
  });
  after(async () => {
    await tc?.stop();
  });

  /** Every file of the node's install that a rollback must bring back, with its content hash (what the archive holds). */
  async function installManifest(node: string): Promise<string> {
    const r = await tc.inNode(node, `cd ${tc.installDir} && find . \\( -path ./var/log -o -path ./var/temp -o -path ./var/server.pid \\) -prune -o -type f -print | LC_ALL=C sort | xargs -d '\\n' sha256sum`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }
  async function installedVersion(node: string, where: 'install' | 'appdata'): Promise<string> {
    const dir = where === 'install' ? tc.installDir : tc.appdataDir;
    return (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${dir}/conf/installed.version`)).stdout.trim();
  }
  const tableChecksum = async () => (await tc.database!.query('CHECKSUM TABLE ds_db_version')).trim();

  test('step 1 archives every node; the installer fails after the schema upgrade; Roll back brings the old version back, proven', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    await untilBalancerAnswers(tc.loadBalancer!);
    const r = loadCluster(tc.clusterFile({ package: { localFile: pkg.file } }));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const cluster: Cluster = r.cluster;
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-rollback-'));
    const lines: string[] = [];
    const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const certs: UnknownCertificate[] = [];
    const pool = new SshPool({
      hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
      sshConfigFile: null,
      agentSocket: null,
    });
    const transportFor = async (n: Cluster['nodes'][number]) => pool.transport(targetFromNode(n));
    const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (c: UnknownCertificate) => (certs.push(c), 'always' as const) };
    const handlers = tableOf({
      backup: backupHandlers({ local: () => new LocalTransport(), transportFor }),
      package: packageHandlers({ transportFor }),
      ...stoppedHandlers({ transportFor, confirm: async () => true, options: { settleMs: 10_000, pollMs: 500, killGraceSeconds: 2 } }),
      installFirst: installerHandlers('installFirst', { transportFor, trust, confirm: async () => true, handOver: async () => assert.fail('no prompt of the upgrade is unknown'), quietMs: 3_000 }),
    });
    const asked: { question: string; detail: string }[] = [];
    const session = RunSession.open(cluster, ws);
    const runner = new Runner(session, {
      handlers,
      log,
      rollback: (ctx) => rollBack(ctx, { transportFor, local: () => new LocalTransport(), trust, confirm: async (question, detail) => (asked.push({ question, detail }), true), settleMs: 20_000, startTimeoutMs: 60_000, balancerTimeoutMs: 30_000, pollMs: 500 }),
    });
    const tail = () => `\n--- log tail ---\n${lines.slice(-40).join('\n')}`;
    try {
      // Before anything: nothing to roll back, and nothing is touched.
      const early = await runner.rollback();
      assert.equal(early.kind, 'refused', JSON.stringify(early));
      assert.match(early.kind === 'refused' ? early.reasons.join(' | ') : '', /no installer has started/);
      assert.equal(asked.length, 0, 'a refused rollback asks nothing');

      const rowsBefore = await tc.database!.schemaVersions();
      const sumBefore = await tableChecksum();
      const manifests = new Map<string, string>();
      for (const n of tc.nodes) manifests.set(n.name, await installManifest(n.name));
      const appdataBefore = (await tc.inNode(tc.nodes[0].name, `cd ${tc.appdataDir} && find conf patches -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum`)).stdout;

      // Step 1: the dump and the archives, each with its sha256, as the node's files really are.
      assert.deepEqual(await runner.run({ step: 'backup' }), { kind: 'done' });
      const b = session.state().get('backup');
      assert.ok(b && b.status !== 'running' && 'evidence' in b && (b.status === 'passed' || b.status === 'warning'), `${JSON.stringify(b)}${tail()}`);
      const archives = session.journal.events.filter((e): e is Extract<JournalEvent, { type: 'backup-archive' }> => e.type === 'backup-archive');
      assert.deepEqual(archives.map((a) => `${a.what}@${a.where}`).sort(), ['appdata@ucd1', 'database@ucd1', 'install@ucd1', 'install@ucd2']);
      for (const a of archives) {
        const onHost = path.join(tc.hostHomeDir(a.where), path.relative(tc.homeDir, a.path));
        const bytes = fs.readFileSync(onHost);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), a.sha256, `${a.path} on ${a.where}: the recorded sha256 is the file's`);
        assert.equal(bytes.length, a.size);
        assert.ok(b.evidence.some((e) => e.includes(a.sha256.slice(0, 12))), `step 1's evidence names ${a.path}: ${b.evidence.join(' | ')}`);
        if (a.what !== 'database') {
          assert.ok(a.path.startsWith(`${tc.homeDir}/${BACKUP_ROOT}/`), a.path);
          const folder = fs.statSync(path.dirname(onHost));
          assert.equal(folder.mode & 0o777, 0o700, `${path.dirname(a.path)} is the SSH user's alone`);
        }
      }

      // The upgrade: package, shutdown, then the first node's installer fails after the schema.
      assert.deepEqual(await runner.run({ step: 'package' }), { kind: 'done' });
      assert.deepEqual(await runner.run({ step: 'stop' }), { kind: 'done' });
      assert.deepEqual(await runner.run({ step: 'installFirst' }), { kind: 'done' });
      const inst = session.state().get('installFirst@ucd1');
      assert.equal(inst?.status, 'failed', `${JSON.stringify(inst)}${tail()}`);
      assert.notDeepEqual(await tc.database!.schemaVersions(), rowsBefore, 'the schema was upgraded before the installer failed');
      assert.equal(await installedVersion('ucd1', 'install'), pkg.version, 'ucd1 holds the new files');
      assert.equal(await installedVersion('ucd1', 'appdata'), tc.version, 'the appdata was not updated: a half-upgraded cluster');

      // Roll back, through the runner.
      const result = await runner.rollback();
      assert.equal(result.kind, 'done', `${JSON.stringify(result)}${tail()}`);
      assert.equal(result.kind === 'done' && result.verdict, 'passed', `${JSON.stringify(result)}${tail()}`);
      assert.equal(asked.length, 1);
      const backupAt = archives.find((a) => a.what === 'database')!.ts;
      assert.match(asked[0].question, new RegExp(`Roll back ${cluster.name} to ${tc.version.replace(/\./g, '\\.')}, from the backup of ${backupAt}\\? Everything done on the servers since then is lost\\.`));
      assert.match(asked[0].detail, /^Lost: everything done on the servers since the backup of /);

      // The database: the same rows and the same whole-table checksum as before the upgrade.
      assert.deepEqual(await tc.database!.schemaVersions(), rowsBefore);
      assert.equal(await tableChecksum(), sumBefore);
      // The files: every install tree and the appdata's configuration as they were.
      for (const n of tc.nodes) {
        assert.equal(await installManifest(n.name), manifests.get(n.name), `${n.name}'s install tree is the old one again`);
        assert.equal(await installedVersion(n.name, 'install'), tc.version);
      }
      assert.equal((await tc.inNode(tc.nodes[0].name, `cd ${tc.appdataDir} && find conf patches -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum`)).stdout, appdataBefore);
      assert.equal(await installedVersion('ucd1', 'appdata'), tc.version);
      // Every node and the balancer answer on the old version (seen here, not only by the core).
      for (const n of tc.nodes) {
        const page = await loginPage(`https://${n.host}:8443/`);
        assert.match(page, new RegExp(`class="productVersion">v\\. ${tc.version.replace(/\./g, '\\.')}<`), `${n.name}'s login page`);
      }
      const lb = await tc.loadBalancer!.get('/');
      assert.equal(lb.status, 200);
      assert.match(lb.body, new RegExp(`class="productVersion">v\\. ${tc.version.replace(/\./g, '\\.')}<`));

      // The journal, stage by stage; and the report.
      const events = parseJournal(fs.readFileSync(session.journalFile, 'utf8')).events;
      const stages = events.filter((e): e is Extract<JournalEvent, { type: 'rollback' }> => e.type === 'rollback' && e.verdict !== 'started' && !e.evidence.some((x) => x.startsWith('refused: ')));
      assert.deepEqual(stages.map((e) => `${e.stage} ${e.verdict}`), ['begin passed', 'stop passed', 'checksums passed', 'database passed', 'files passed', 'start passed', 'verify passed', 'end passed']);
      const verify = stages.find((e) => e.stage === 'verify')!;
      assert.ok(verify.evidence.some((l) => new RegExp(`^load balancer answers v\\. ${tc.version.replace(/\./g, '\\.')}`).test(l)), verify.evidence.join(' | '));
      const report = renderReport({ cluster, events, views: session.view(), generatedAt: new Date() });
      assert.match(report, new RegExp(`\\| Outcome \\| rolled back to ${tc.version.replace(/\./g, '\\.')} at `));
      const section = report.slice(report.indexOf('## Rollback'), report.indexOf('## Appendix'));
      assert.match(section, /Outcome: rolled back at /);
      for (const label of ['every server stopped', 'archives checked', 'database restored', 'files restored', 'servers started', 'old version verified']) {
        assert.match(section, new RegExp(`\\| ${label} \\| passed \\|`), `the report's Rollback section has "${label}"`);
      }
    } finally {
      session.dispose();
      await pool.closeAll();
    }
  });
});
