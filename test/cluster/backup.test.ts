// Step 1 run twice against the real MariaDB, over SSH on the first node as the cluster file says:
// the second backup never writes over the first; both files exist and the journal records both.
// Beside each dump, the node's install and the shared appdata's configuration are archived in a
// folder of their own per run (the SSH user's, 0700), each archive's sha256 recorded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { JournalEvent } from '../../src/core/journal/events';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { LocalTransport } from '../../src/core/remote/local';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { backupHandlers, type BackupDeps } from '../../src/core/steps/backup';
import { BACKUP_ARTIFACT, NODE_DB_OPTION_FILE, clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { databasePrerequisites } from './mariadb';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites() ?? databasePrerequisites();

describe('step 1 twice against the real database', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pool: SshPool;
  before(async () => {
    tc = await startCluster({ nodes: 1, database: true });
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-backup-kh-'));
    pool = new SshPool({
      hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], globalKnownHostsFiles: [], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
      sshConfigFile: null,
      agentSocket: null,
    });
  });
  after(async () => {
    await pool?.closeAll();
    await tc?.stop();
  });

  function rig(text: string, extra: Partial<BackupDeps> = {}) {
    const r = loadCluster(text);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const session = RunSession.open(r.cluster, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-backup-run-')));
    const lines: string[] = [];
    const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const handlers = backupHandlers({ local: () => new LocalTransport(), transportFor: async (n) => pool.transport(targetFromNode(n)), ...extra });
    const ctx: ActionContext = actionContext({ cluster: r.cluster, session, target: { step: 'backup' }, log, signal: new AbortController().signal });
    const evidence = () => session.journal.events.flatMap((e) => (e.type === 'finished' && e.step === 'backup' ? [{ verdict: e.verdict, evidence: [...e.evidence] }] : []));
    return { session, handlers, ctx, lines, evidence };
  }

  /** The node's file as this machine sees it. */
  const onHost = (nodePath: string): string => path.join(tc.hostHomeDir('ucd1'), path.relative(tc.homeDir, nodePath));
  const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

  test('fixed artifact: the first, verified dump is moved aside with its time stamp, never overwritten, and both are recorded', async () => {
    const r = rig(tc.clusterFile());
    await r.handlers.run!(r.ctx);
    const [first] = r.evidence();
    assert.equal(first?.verdict, 'passed', JSON.stringify(first));
    const firstFile = onHost(BACKUP_ARTIFACT);
    const firstSha = sha(firstFile);
    const firstStat = fs.statSync(firstFile);
    assert.ok(first.evidence[0].startsWith(`${BACKUP_ARTIFACT}, ${firstStat.size} bytes, sha256:${firstSha.slice(0, 12)}`), first.evidence.join(' | '));
    assert.doesNotMatch(fs.readFileSync(firstFile, 'utf8'), /after-first-backup/);

    // The database changes between the two runs: the second dump must hold it, the first must not.
    await tc.database!.query("INSERT INTO ds_db_version VALUES ('after-first-backup', 99)");
    await r.handlers.run!(r.ctx);
    const [, second] = r.evidence();
    assert.equal(second?.verdict, 'passed', JSON.stringify(second));

    const stamp = new Date(Math.floor(firstStat.mtimeMs / 1000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
    const keptNode = BACKUP_ARTIFACT.replace(/\.sql$/, `.${stamp}.sql`);
    const kept = onHost(keptNode);
    assert.deepEqual(fs.readdirSync(path.dirname(firstFile)).sort(), [path.basename(BACKUP_ARTIFACT), path.basename(keptNode)].sort());
    assert.equal(sha(kept), firstSha, 'the first backup is byte for byte what the first run verified');
    assert.doesNotMatch(fs.readFileSync(kept, 'utf8'), /after-first-backup/);
    assert.match(fs.readFileSync(firstFile, 'utf8'), /after-first-backup/, 'the second dump is a new backup of the changed database');
    assert.ok(second.evidence[0].startsWith(`${BACKUP_ARTIFACT}, ${fs.statSync(firstFile).size} bytes, sha256:${sha(firstFile).slice(0, 12)}`), second.evidence.join(' | '));
    assert.ok(second.evidence.some((e) => e.startsWith(`earlier backup kept as ${keptNode} (${firstStat.size} bytes, sha256:${firstSha.slice(0, 12)}`)), second.evidence.join(' | '));
    assert.ok(r.lines.some((l) => l.includes('[ucd1]') && l.includes(`moved to ${keptNode}`)), 'the move is in the log with its node');
    await tc.database!.query("DELETE FROM ds_db_version WHERE release_name = 'after-first-backup'");
  });

  test('{timestamp}: each run writes its own dump over SSH; both exist and both are recorded', async () => {
    const artifact = `${tc.homeDir}/backups/ucd-{timestamp}.sql`;
    const text = tc.clusterFile({
      database: { type: 'mariadb', backup: { node: 'ucd1', command: `mariadb-dump --defaults-extra-file=${NODE_DB_OPTION_FILE} --single-transaction ucd > "${artifact}"`, artifact } },
    });
    // Two runs a minute apart by the clock that names them, without waiting a minute.
    const clock = [new Date(Date.now() - 120_000), new Date(Date.now() - 60_000)];
    const names = clock.map((d) => artifact.replace('{timestamp}', d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')));
    const r = rig(text, { now: () => clock.shift() ?? new Date() });
    await r.handlers.run!(r.ctx);
    const firstSha = sha(onHost(names[0]));
    await r.handlers.run!(r.ctx);
    const [one, two] = r.evidence();
    assert.equal(one?.verdict, 'passed', JSON.stringify(one));
    assert.equal(two?.verdict, 'passed', JSON.stringify(two));
    assert.ok(one.evidence[0].startsWith(`${names[0]}, `), one.evidence.join(' | '));
    assert.ok(two.evidence[0].startsWith(`${names[1]}, `), two.evidence.join(' | '));
    assert.equal(sha(onHost(names[0])), firstSha, 'the first dump is untouched');
    assert.match(fs.readFileSync(onHost(names[1]), 'utf8'), /CREATE TABLE `ds_db_version`/);
    await r.handlers.check!(r.ctx);
    const [, , check] = r.evidence();
    assert.ok(check.evidence[0].startsWith(`${names[1]}, `), `Check judges the newest: ${check.evidence.join(' | ')}`);

    // The filesystem side: one folder per run, both kept, each archive as recorded.
    const archives = r.session.journal.events.filter((e): e is Extract<JournalEvent, { type: 'backup-archive' }> => e.type === 'backup-archive' && e.what !== 'database');
    assert.deepEqual(archives.map((a) => path.basename(path.dirname(a.path))), [0, 0, 1, 1].map((i) => `${r.session.cluster.name}-${names[i].match(/ucd-(\w+)\.sql$/)![1]}`));
    for (const a of archives) {
      assert.equal(sha(onHost(a.path)), a.sha256, `${a.path} is byte for byte what was recorded`);
      assert.equal(fs.statSync(path.dirname(onHost(a.path))).mode & 0o777, 0o700);
    }
    assert.ok(one.evidence.some((e) => e.startsWith(`ucd1: install tree in ${archives[0].path}, `)), one.evidence.join(' | '));
    assert.ok(one.evidence.some((e) => e.startsWith(`ucd1: shared appdata conf and patches in ${archives[1].path}, `)), one.evidence.join(' | '));
    const listing = execFileSync('tar', ['-tzf', onHost(archives[0].path)], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('./conf/installed.version'), 'the install archive holds conf');
    assert.ok(!listing.some((l) => l.startsWith('./var/log/') || l === './var/server.pid'), 'but no logs and no pid file');
  });
});
