// Roll back's rules, from the journal: when it is refused (and that nothing is asked or done then),
// which backup it restores from, the runner's entry (recorded refusals, one action at a time), the
// safe answer, and the report's Rollback section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { renderReport } from '../../src/core/journal/report';
import { Runner } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { rollBack, rollbackQuestion, rollbackRefusals, rollbackSource, type RollbackDeps } from '../../src/core/steps/rollback';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { VALID_CLUSTER, variant } from '../fixtures/clusters';
import { tableOf } from '../fixtures/handlers';

const WITH_RESTORE = variant('"backup": { "command": "mysqldump ucd > /var/backups/ucd.sql", "artifact": "/var/backups/ucd.sql" }', '"backup": { "command": "mysqldump ucd > /var/backups/ucd.sql", "artifact": "/var/backups/ucd.sql" }, "restore": { "command": "mysql ucd" }');

function load(text: string): Cluster {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function open(text = WITH_RESTORE) {
  const cluster = load(text);
  const session = RunSession.open(cluster, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-rb-')));
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  return { cluster, session, lines, log };
}

const SHA = (c: string) => c.repeat(64);

function recordBackup(session: RunSession, id: string, opts: { skipNode?: string } = {}): void {
  session.recordBackupArchive({ id, what: 'database', where: 'local', path: `/var/backups/${id}.sql`, size: 10, sha256: SHA('a') });
  for (const n of ['ucd1', 'ucd2', 'ucd3']) {
    if (n !== opts.skipNode) session.recordBackupArchive({ id, what: 'install', where: n, path: `/home/ucd/.ucd-upgrade-backup/${id}/install.tar.gz`, size: 20, sha256: SHA('b') });
  }
  session.recordBackupArchive({ id, what: 'appdata', where: 'ucd1', path: `/home/ucd/.ucd-upgrade-backup/${id}/appdata.tar.gz`, size: 5, sha256: SHA('c') });
}

function startInstaller(session: RunSession): void {
  const t = { step: 'installFirst' as const, node: 'ucd1' };
  const id = session.begin(t, 'run');
  session.finish(id, t, 'run', 'failed', ['BUILD FAILED']);
}

/** Deps that fail the test if the rollback reaches any node. */
function noNodes(asked: string[] = [], answer = false): RollbackDeps {
  const never = () => Promise.reject(new Error('no node may be reached'));
  return {
    transportFor: never,
    local: () => assert.fail('the local machine may not be used'),
    trust: { pins: new MemoryPinStore(), sessionPins: new Map(), prompt: async () => 'cancel' as const },
    confirm: async (q) => (asked.push(q), answer),
  };
}

test('refused before any installer, without a restore command, and without a complete backup', () => {
  const plain = open(VALID_CLUSTER);
  assert.deepEqual(rollbackRefusals(plain.cluster, plain.session.journal.events), [
    'no installer has started in this run: there is nothing to roll back (the servers and the database are on the old version)',
    'the cluster file has no database.restore.command: the runbook never guesses how to write to the database; add the command that reads the dump on its standard input',
    'no backup of this run is recorded with its checksums (step 1): there is nothing to restore from',
  ]);
  const r = open();
  recordBackup(r.session, 'b1', { skipNode: 'ucd3' });
  startInstaller(r.session);
  assert.deepEqual(rollbackRefusals(r.cluster, r.session.journal.events), [
    'the newest backup of this run (step 1) is incomplete: the install archive of ucd3 is not recorded; run step 1 again before any installer, or restore by hand',
  ]);
  recordBackup(r.session, 'b2');
  assert.deepEqual(rollbackRefusals(r.cluster, r.session.journal.events), []);
});

test('the source is the newest complete backup, and the question says what is lost and since when', () => {
  const r = open();
  recordBackup(r.session, 'b1');
  recordBackup(r.session, 'b2');
  recordBackup(r.session, 'b3', { skipNode: 'ucd2' });
  const src = rollbackSource(r.session.journal.events, r.cluster);
  assert.ok(src.ok);
  assert.equal(src.source.backupId, 'b2');
  assert.equal(src.source.dump.path, '/var/backups/b2.sql');
  assert.deepEqual([...src.source.installs.keys()], ['ucd1', 'ucd2', 'ucd3']);
  const q = rollbackQuestion(r.cluster, src.source);
  assert.equal(q.question, `Roll back demo to 7.0.5.0, from the backup of ${src.source.at}? Everything done on the servers since then is lost.`);
  assert.match(q.detail, /^Lost: everything done on the servers since the backup of .*artifacts and versions added since\./);
  assert.match(q.detail, /Restore the database from \/var\/backups\/b2\.sql on local \(10 bytes, sha256:aaaaaaaaaaaa\)/);
});

test('the runner records a refusal and asks nothing; the safe answer does nothing and is recorded', async () => {
  const r = open();
  const asked: string[] = [];
  const runner = new Runner(r.session, { handlers: tableOf({}), log: r.log, rollback: (ctx) => rollBack(ctx, noNodes(asked)) });
  const refused = await runner.rollback();
  assert.equal(refused.kind, 'refused');
  assert.equal(asked.length, 0);
  const rec = r.session.journal.events.filter((e) => e.type === 'rollback');
  assert.equal(rec.length, 1);
  assert.ok(rec[0]?.type === 'rollback' && rec[0].stage === 'begin' && rec[0].verdict === 'failed' && /^refused: no installer has started/.test(rec[0].evidence[0] ?? ''), JSON.stringify(rec));

  recordBackup(r.session, 'b1');
  startInstaller(r.session);
  const declined = await runner.rollback();
  assert.deepEqual(declined, { kind: 'declined' });
  assert.equal(asked.length, 1);
  const last = r.session.journal.events.at(-1);
  assert.ok(last?.type === 'rollback' && last.stage === 'begin' && last.verdict === 'failed' && last.evidence[0] === 'declined: nothing was done', JSON.stringify(last));
});

test('while any action runs, Roll back does not start; while it runs, nothing else does', async () => {
  const r = open();
  recordBackup(r.session, 'b1');
  startInstaller(r.session);
  let release!: () => void;
  const held = new Promise<void>((res) => (release = res));
  const runner = new Runner(r.session, {
    handlers: tableOf({ verifyVersions: { check: async () => held } }),
    log: r.log,
    rollback: async () => {
      await held;
      return { kind: 'declined' };
    },
  });
  const check = runner.check({ step: 'verifyVersions', node: 'ucd2' });
  assert.deepEqual(await runner.rollback(), { kind: 'busy', running: 'Check of Verify every node is on the target version on ucd2 is still running' });
  release();
  await check;
  let releaseRb!: () => void;
  const rbHeld = new Promise<void>((res) => (releaseRb = res));
  const runner2 = new Runner(r.session, { handlers: tableOf({ backup: { run: async () => undefined } }), log: r.log, rollback: async () => (await rbHeld, { kind: 'declined' as const }) });
  const rb = runner2.rollback();
  const other = await runner2.run({ step: 'backup' });
  assert.deepEqual(other, { kind: 'busy', running: 'Roll back is still running' });
  releaseRb();
  assert.deepEqual(await rb, { kind: 'declined' });
});

test('a stage that fails ends the rollback there, nothing after it runs, and the report says so', async () => {
  const r = open();
  recordBackup(r.session, 'b1');
  startInstaller(r.session);
  // No node can be reached, so no server is proven stopped: the rollback ends there, restoring nothing.
  const outcome = await rollBack({ cluster: r.cluster, session: r.session, log: r.log, signal: new AbortController().signal }, noNodes([], true));
  assert.equal(outcome.kind, 'done');
  assert.equal(outcome.kind === 'done' && outcome.verdict, 'failed');
  const stages = r.session.journal.events.flatMap((e) => (e.type === 'rollback' && e.verdict !== 'started' ? [`${e.stage} ${e.verdict}`] : []));
  assert.deepEqual(stages, ['begin passed', 'stop failed', 'end failed']);
  const report = renderReport({ cluster: r.cluster, events: r.session.journal.events, views: r.session.view(), generatedAt: '2026-12-02T01:00:00Z' });
  assert.match(report, /\| Outcome \| ROLLBACK FAILED at /);
  const section = report.slice(report.indexOf('## Rollback'), report.indexOf('## Appendix'));
  assert.match(section, /Outcome: FAILED at .*roll back stopped at "stop every server and prove it stopped"/);
  assert.match(section, /\| every server stopped \| FAILED \|/);
  assert.match(section, /\| install \| ucd3 \| \/home\/ucd\/\.ucd-upgrade-backup\/b1\/install\.tar\.gz \| 20 bytes \| b{64} \|/);
  assert.doesNotMatch(section, /database restored/);
});
