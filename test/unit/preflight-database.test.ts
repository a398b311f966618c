// The pre-flight's database and backup-space checks (issue 12 item 1): the backup command's own
// client and connection options, never its password; the answer parsed; each fault named where it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { checkArchiveSpace, checkBackupSpace, checkDatabase, type DatabaseOutcome } from '../../src/core/preflight/checks';
import { databaseFragment, DB_QUERY, parseDatabaseSection, planDbClient, shellWords } from '../../src/core/preflight/database';
import type { NodeRead } from '../../src/core/preflight/probe';
import { VALID_CLUSTER } from '../fixtures/clusters';

function withBackup(command: string, type = 'mysql'): Cluster {
  const file = VALID_CLUSTER.replace('"mysqldump ucd > /var/backups/ucd.sql"', JSON.stringify(command)).replace(/"type": "mysql"/, `"type": "${type}"`);
  const r = loadCluster(file);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

test('shell words: quotes kept together, a redirection ends the command', () => {
  assert.deepEqual(shellWords(`mysqldump --defaults-extra-file='/etc/my db.cnf' "ucd" > /b/x.sql`), ['mysqldump', '--defaults-extra-file=/etc/my db.cnf', 'ucd', '>', '/b/x.sql']);
});

test('the client follows the dump tool and takes only its connection options and database', () => {
  const p = planDbClient(withBackup('/usr/bin/mariadb-dump --defaults-extra-file=/opt/ucd/db.cnf --single-transaction -h db1 --port=3307 -uucd ucd > /var/backups/u.sql'));
  assert.deepEqual(p, { kind: 'plan', client: '/usr/bin/mariadb', args: ['--defaults-extra-file=/opt/ucd/db.cnf', '-h', 'db1', '--port=3307', '-uucd'], database: 'ucd' });
  const q = planDbClient(withBackup('sudo -u backup mysqldump --single-transaction ucd | gzip > /b/ucd.sql.gz'));
  assert.deepEqual(q, { kind: 'plan', client: 'mysql', args: [], database: 'ucd' });
});

test('a password on the backup command line is never copied; another database product is not checked from here', () => {
  assert.deepEqual(planDbClient(withBackup('mysqldump -psecret ucd > /b/x.sql')), { kind: 'password-on-command-line' });
  assert.deepEqual(planDbClient(withBackup('mysqldump --password=secret ucd > /b/x.sql')), { kind: 'password-on-command-line' });
  assert.equal(planDbClient(withBackup('expdp system schemas=ucd', 'oracle')).kind, 'unsupported');
  assert.equal(planDbClient(withBackup('pg_dump ucd > /b/x.sql')).kind, 'unsupported');
});

test('the probe section: options files first, every word quoted, read-only query', () => {
  const f = databaseFragment({ kind: 'plan', client: 'mysql', args: ['-h', 'db; rm -rf /', '--defaults-extra-file=/e/b.cnf'], database: 'ucd' }, '/var/backups/ucd.sql');
  assert.match(f.body, /'mysql' '--defaults-extra-file=\/e\/b\.cnf' '-h' 'db; rm -rf \/' '--connect-timeout=10'/);
  assert.ok(f.body.includes(`'${DB_QUERY}'`));
  assert.match(DB_QUERY, /^SELECT /);
  assert.match(f.body, /d='\/var\/backups'/);
});

test('the answer: SELECT 1 with the schema size, or the client\'s error', () => {
  assert.deepEqual(parseDatabaseSection('| 1\t52428800\ndb_exit=0\ndump_dir=/var/backups\ndump_kb=1000'), { kind: 'ok', schemaBytes: 52428800, dumpDir: '/var/backups', dumpFreeKb: 1000 });
  const bad = parseDatabaseSection("| ERROR 2002 (HY000): Can't connect to server on 'db1' (115)\ndb_exit=1\ndump_dir=/var\ndump_kb=");
  assert.equal(bad.kind, 'failed');
  assert.match(bad.kind === 'failed' ? bad.output : '', /Can't connect/);
});

const c = withBackup('mysqldump ucd > /var/backups/ucd.sql');
const ok = (free: number): DatabaseOutcome => ({ kind: 'read', where: 'ucd1', read: { kind: 'ok', schemaBytes: 300 * 1024 * 1024, dumpDir: '/var/backups', dumpFreeKb: free } });

test('database and dump space: pass, fail and not-checked each name where', () => {
  assert.equal(checkDatabase(ok(10_000_000)).status, 'pass');
  const down = checkDatabase({ kind: 'read', where: 'ucd1', read: { kind: 'failed', exit: '1', output: 'ERROR 1045 (28000): Access denied', dumpDir: '/var/backups' } });
  assert.equal(down.status, 'fail');
  assert.match(down.evidence.join(' '), /^ucd1: .*Access denied/);
  assert.match(down.hint ?? '', /on ucd1/);
  const full = checkBackupSpace(c, ok(100 * 1024));
  assert.equal(full.status, 'fail');
  assert.match(full.evidence.join(' '), /ucd1: \/var\/backups has 100 MiB free.*300 MiB/);
  assert.equal(checkBackupSpace(c, ok(400 * 1024)).status, 'pass');
  assert.equal(checkDatabase({ kind: 'not-checked', where: 'this machine', why: 'x', hint: 'y' }).status, 'warn');
});

test('archive space: the install tree plus the staged package must fit in the home', () => {
  const read = { homeFreeKb: 1_000_000, installTreeKb: 800_000 } as NodeRead;
  assert.equal(checkArchiveSpace('ucd2', read, undefined).status, 'pass');
  const tight = checkArchiveSpace('ucd2', read, 100 * 1024 * 1024);
  assert.equal(tight.status, 'fail');
  assert.match(tight.hint ?? '', /on ucd2/);
  assert.equal(checkArchiveSpace('ucd2', { homeFreeKb: 1 } as NodeRead, undefined).status, 'warn');
});
