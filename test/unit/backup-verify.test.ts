import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backupProbeScript, evaluateBackup, parseBackupProbe, type BackupProbe } from '../../src/core/steps/backup-verify';
import { asideName, backupStamp, moveAsideScript, newestStampedScript, parseMoveAside, parseNewestStamped, planBackup } from '../../src/core/steps/backup-artifact';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-backup-'));
}

function probe(file: string): BackupProbe {
  const out = execFileSync('/bin/sh', ['-c', backupProbeScript(file).text], { encoding: 'utf8', cwd: path.dirname(file) });
  const r = parseBackupProbe(out);
  assert.ok(r.ok, r.ok ? '' : r.problem);
  return r.probe;
}

test('a fresh dump passes with path, size and the first 12 hex of its real sha256', () => {
  const dir = tmp();
  // A hostile-looking path is data: spaces, quotes, $(...) and backticks (run with cwd = dir).
  const file = path.join(dir, "ucd dump 'x' $(touch pwned) `touch pwned2`.sql");
  const start = Date.now() - 2000;
  const body = 'CREATE TABLE ds_db_version (release_name varchar(255), ver int);\n'.repeat(100);
  fs.writeFileSync(file, body);
  const p = probe(file);
  assert.deepEqual(fs.readdirSync(dir), [path.basename(file)], 'nothing in the path ran');
  const sha = createHash('sha256').update(body).digest('hex');
  assert.deepEqual({ ...p, nowSec: undefined, mtimeSec: undefined }, { type: 'file', size: body.length, sha256: sha, nowSec: undefined, mtimeSec: undefined });
  const v = evaluateBackup(p, { artifact: file, where: 'ucd1', notBeforeMs: start, localNowMs: Date.now() });
  assert.equal(v.verdict, 'passed');
  assert.equal(v.evidence[0], `${file}, ${body.length} bytes, sha256:${sha.slice(0, 12)}`);
  assert.ok(v.verdict === 'passed' && v.sha256 === sha);
});

test('an empty file fails as empty', () => {
  const file = path.join(tmp(), 'empty.sql');
  fs.writeFileSync(file, '');
  const v = evaluateBackup(probe(file), { artifact: file, where: 'local', notBeforeMs: Date.now() - 60_000 });
  assert.equal(v.verdict, 'failed');
  assert.ok(v.verdict === 'failed' && /is empty/.test(v.reason) && /on this machine/.test(v.reason));
});

test('a dump older than the start of the step fails as old, naming both times', () => {
  const file = path.join(tmp(), 'old.sql');
  fs.writeFileSync(file, 'data');
  const old = new Date('2026-01-02T03:04:05Z');
  fs.utimesSync(file, old, old);
  const v = evaluateBackup(probe(file), { artifact: file, where: 'ucd2', notBeforeMs: Date.now() - 1000 });
  assert.equal(v.verdict, 'failed');
  assert.ok(v.verdict === 'failed' && v.reason.includes('2026-01-02T03:04:05.000Z') && /old backup/.test(v.reason));
  assert.match(v.hint, /Run the backup/);
});

test('written in the same second as the start still counts as new (mtime has 1 s resolution)', () => {
  const file = path.join(tmp(), 'same-second.sql');
  fs.writeFileSync(file, 'x');
  const t = new Date('2026-05-05T05:05:05.000Z');
  fs.utimesSync(file, t, t);
  const p = probe(file);
  assert.equal(evaluateBackup(p, { artifact: file, where: 'local', notBeforeMs: t.getTime() + 700 }).verdict, 'passed');
  assert.equal(evaluateBackup(p, { artifact: file, where: 'local', notBeforeMs: t.getTime() + 1000 }).verdict, 'failed');
});

test('missing file and directory are failures with a hint', () => {
  const dir = tmp();
  const missing = evaluateBackup(probe(path.join(dir, 'nope.sql')), { artifact: 'nope.sql', where: 'ucd1', notBeforeMs: 0 });
  assert.equal(missing.verdict, 'failed');
  assert.ok(missing.verdict === 'failed' && /does not exist on ucd1/.test(missing.reason));
  const isDir = evaluateBackup(probe(dir), { artifact: dir, where: 'ucd1', notBeforeMs: 0 });
  assert.ok(isDir.verdict === 'failed' && /not a regular file/.test(isDir.reason));
});

test('clock skew between the node and this machine is corrected and reported', () => {
  const local = Date.parse('2026-11-24T12:00:00Z');
  // The node's clock is 10 minutes ahead; its file written "12:05" node time is really 11:55.
  const p: BackupProbe = { type: 'file', size: 10, mtimeSec: (local + 5 * 60_000) / 1000, sha256: 'a'.repeat(64), nowSec: (local + 10 * 60_000) / 1000 };
  const v = evaluateBackup(p, { artifact: '/b.sql', where: 'ucd1', notBeforeMs: local - 60_000, localNowMs: local });
  assert.equal(v.verdict, 'failed', 'really written before the start');
  assert.ok(v.evidence.some((e) => /differs by 600 s/.test(e)));
});

test('parser: cut-short or foreign output is a problem, not a verdict', () => {
  assert.equal(parseBackupProbe('bash: no such file').ok, false);
  assert.deepEqual(parseBackupProbe('UCD-BACKUP-PROBE 1\nnow=1\ntype=file\nsize=3\n'), { ok: false, problem: 'the probe output was cut short' });
  const noSum = parseBackupProbe('UCD-BACKUP-PROBE 1\nnow=100\ntype=file\nsize=3\nmtime=90\nsha256=\nEND\n');
  assert.deepEqual(noSum, { ok: true, probe: { type: 'file', size: 3, mtimeSec: 90, nowSec: 100 } });
  assert.ok(noSum.ok);
  const v = evaluateBackup(noSum.probe, { artifact: '/x', where: 'local', notBeforeMs: 0 });
  assert.equal(v.verdict, 'warning');
  assert.match(v.evidence[0], /sha256:unavailable/);
});

test('an earlier backup\'s aside name keeps its extension and carries its time stamp', () => {
  const s = backupStamp(new Date('2026-12-01T10:15:00.999Z'));
  assert.equal(s, '20261201T101500Z');
  assert.equal(asideName('/var/backups/ucd.sql', s), '/var/backups/ucd.20261201T101500Z.sql');
  assert.equal(asideName('/var/backups/ucd-before-upgrade.sql.gz', s), '/var/backups/ucd-before-upgrade.20261201T101500Z.sql.gz');
  assert.equal(asideName('/var/backups/dump', s), '/var/backups/dump.20261201T101500Z');
  assert.equal(asideName('/b/.hidden', s), '/b/.hidden.20261201T101500Z');
  const plan = planBackup({ command: 'mysqldump ucd > "/b/ucd-{timestamp}.sql" && ls /b/*{timestamp}*', artifact: '/b/ucd-{timestamp}.sql' }, s);
  assert.deepEqual(plan, { command: 'mysqldump ucd > "/b/ucd-20261201T101500Z.sql" && ls /b/*20261201T101500Z*', artifact: '/b/ucd-20261201T101500Z.sql', stamped: true });
  assert.equal(planBackup({ command: 'x > /b/u.sql', artifact: '/b/u.sql' }, s).stamped, false);
});

test('the newest stamped backup is found by its stamp; a hostile folder name stays a name', () => {
  const dir = path.join(tmp(), "it's $(touch pwned) dir");
  fs.mkdirSync(dir);
  for (const f of ['ucd-20261201T101500Z.sql', 'ucd-20261201T093000Z.sql', 'ucd-20261202T000000Z.sql.partial', 'ucd-2026.sql']) fs.writeFileSync(path.join(dir, f), 'x');
  fs.mkdirSync(path.join(dir, 'ucd-20261203T000000Z.sql'));
  const run = (pattern: string) => parseNewestStamped(execFileSync('/bin/sh', ['-c', newestStampedScript(pattern).text], { encoding: 'utf8', cwd: path.dirname(dir) }));
  assert.deepEqual(run(`${dir}/ucd-{timestamp}.sql`), { ok: true, path: `${dir}/ucd-20261201T101500Z.sql` }, 'the newest regular file, by its stamp');
  assert.deepEqual(run(`${dir}/none-{timestamp}.sql`), { ok: true });
  assert.ok(!fs.existsSync(path.join(path.dirname(dir), 'pwned')), 'nothing in the path ran');
  assert.equal(parseNewestStamped('garbage').ok, false);
});

test('moving an earlier backup aside never writes over a file already at the new name', () => {
  const dir = tmp();
  const a = path.join(dir, 'ucd.sql');
  const b = path.join(dir, 'ucd.20261201T101500Z.sql');
  const move = () => parseMoveAside(execFileSync('/bin/sh', ['-c', moveAsideScript(a, b).text], { encoding: 'utf8' }));
  fs.writeFileSync(a, 'one');
  assert.equal(move(), 'moved');
  assert.deepEqual([fs.existsSync(a), fs.readFileSync(b, 'utf8')], [false, 'one']);
  fs.writeFileSync(a, 'two');
  assert.equal(move(), 'exists');
  assert.deepEqual([fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8')], ['two', 'one']);
});
