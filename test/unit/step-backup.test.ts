import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { loadCluster } from '../../src/core/cluster/load';
import type { ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { LocalTransport } from '../../src/core/remote/local';
import { backupHandlers } from '../../src/core/steps/backup';
import { VALID_CLUSTER } from '../fixtures/clusters';

function setup(command: string, artifact: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-backup-'));
  const text = VALID_CLUSTER.replace('"command": "mysqldump ucd > /var/backups/ucd.sql", "artifact": "/var/backups/ucd.sql"', `"command": ${JSON.stringify(command)}, "artifact": ${JSON.stringify(artifact)}`);
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const session = RunSession.open(r.cluster, dir);
  const lines: string[] = [];
  const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const handlers = backupHandlers({ local: () => new LocalTransport(), transportFor: () => Promise.reject(new Error('no nodes here')) });
  const ctx = { cluster: r.cluster, session, target: { step: 'backup' as const }, log, signal: new AbortController().signal };
  return { dir, session, lines, handlers, ctx };
}

test('Run backs up locally, streams the output to the log, and records size and checksum', async () => {
  const out = path.join(os.tmpdir(), `ucd-dump-${process.pid}-${Date.now()}.sql`);
  const { session, lines, handlers, ctx } = setup(`echo dumping; printf 'CREATE TABLE ds_db_version;' > '${out}'`, out);
  await handlers.run!(ctx);
  const o = session.state().get('backup');
  assert.equal(o?.status, 'passed');
  const sha = createHash('sha256').update('CREATE TABLE ds_db_version;').digest('hex');
  assert.ok(o && 'evidence' in o && o.evidence[0].includes(`27 bytes, sha256:${sha.slice(0, 12)}`), JSON.stringify(o));
  assert.ok(lines.includes('[local] dumping'), 'the command output streamed into the log');
  assert.ok(lines.some((l) => /^\[local\] exit 0 after/.test(l)), 'exit code and duration logged');
  fs.rmSync(out, { force: true });
});

test('a failing backup command fails the step with its exit code and error text', async () => {
  const { session, handlers, ctx } = setup(`echo 'Access denied for user' >&2; exit 2`, '/tmp/never-written.sql');
  await handlers.run!(ctx);
  const o = session.state().get('backup');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && /exited 2: Access denied/.test(o.evidence[0]));
});

test('Check refuses a backup file older than this upgrade run, and an empty one', async () => {
  const old = path.join(os.tmpdir(), `ucd-old-${process.pid}.sql`);
  fs.writeFileSync(old, 'old dump');
  fs.utimesSync(old, new Date('2020-01-01'), new Date('2020-01-01'));
  const a = setup('true', old);
  await a.handlers.check!(a.ctx);
  const o = a.session.state().get('backup');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'hint' in o && /Run the backup step now/.test(o.hint ?? ''));

  fs.writeFileSync(old, '');
  const b = setup('true', old);
  await b.handlers.check!(b.ctx);
  const e = b.session.state().get('backup');
  assert.ok(e && 'evidence' in e && /0 bytes/.test(e.evidence[0]));
  fs.rmSync(old, { force: true });
});
