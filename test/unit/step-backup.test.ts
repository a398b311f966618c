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
import { actionContext } from '../../src/core/runbook/runner';

function setup(command: string, artifact: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-backup-'));
  const text = VALID_CLUSTER.replace('"command": "mysqldump ucd > /var/backups/ucd.sql", "artifact": "/var/backups/ucd.sql"', `"command": ${JSON.stringify(command)}, "artifact": ${JSON.stringify(artifact)}`);
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const session = RunSession.open(r.cluster, dir);
  const lines: string[] = [];
  const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const handlers = backupHandlers({ local: () => new LocalTransport(), transportFor: () => Promise.reject(new Error("no nodes here")), files: false });
  const ctx = actionContext({ cluster: r.cluster, session, target: { step: 'backup' as const }, log, signal: new AbortController().signal });
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

function finishedEvidence(session: RunSession): string[][] {
  return session.journal.events.flatMap((e) => (e.type === 'finished' && e.step === 'backup' ? [[...e.evidence]] : []));
}

test('Run again with a fixed artifact: the earlier verified backup is moved aside with its time stamp, kept and recorded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-rerun-'));
  const out = path.join(dir, 'ucd.sql');
  // Each run writes its own content, so the file tells which run wrote it.
  const { session, handlers, ctx } = setup(`date +%s%N > ${out}`, out);
  await handlers.run!(ctx);
  assert.equal(session.state().get('backup')?.status, 'passed');
  const first = fs.readFileSync(out, 'utf8');
  const firstMtime = fs.statSync(out).mtime;
  const stamp = firstMtime.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  await handlers.run!(ctx);
  assert.equal(session.state().get('backup')?.status, 'passed', JSON.stringify(session.state().get('backup')));
  const kept = path.join(dir, `ucd.${stamp}.sql`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['ucd.sql', `ucd.${stamp}.sql`].sort());
  assert.equal(fs.readFileSync(kept, 'utf8'), first, 'the first backup is intact under its stamped name');
  assert.notEqual(fs.readFileSync(out, 'utf8'), first, 'the second run wrote a new file');
  const sha = createHash('sha256').update(first).digest('hex');
  const [one, two] = finishedEvidence(session);
  assert.ok(one[0].startsWith(`${out}, ${first.length} bytes, sha256:${sha.slice(0, 12)}`), one.join(' | '));
  assert.ok(two.some((e) => e === `earlier backup kept as ${kept} (${first.length} bytes, sha256:${sha.slice(0, 12)}, modified ${new Date(Math.floor(firstMtime.getTime() / 1000) * 1000).toISOString()})`), two.join(' | '));
});

test('{timestamp} in command and artifact: each run writes its own file; Check judges the newest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-stamped-'));
  // Inside double quotes, as people write paths: the stamp needs no quoting there either.
  const { session, handlers, ctx } = setup(`date +%s%N > "${dir}/ucd {timestamp}.sql"`, `${dir}/ucd {timestamp}.sql`);
  const clock = [new Date('2026-12-01T10:15:00Z'), new Date('2026-12-01T10:16:30Z')];
  const stamped = backupHandlers({ local: () => new LocalTransport(), transportFor: () => Promise.reject(new Error('no nodes here')), files: false, now: () => clock.shift() ?? new Date() });
  await stamped.run!(ctx);
  const firstFile = path.join(dir, 'ucd 20261201T101500Z.sql');
  const first = fs.readFileSync(firstFile, 'utf8');
  await stamped.run!(ctx);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['ucd 20261201T101500Z.sql', 'ucd 20261201T101630Z.sql']);
  assert.equal(fs.readFileSync(firstFile, 'utf8'), first);
  const [one, two] = finishedEvidence(session);
  assert.ok(one[0].startsWith(`${firstFile}, `), one.join(' | '));
  assert.ok(two[0].startsWith(`${path.join(dir, 'ucd 20261201T101630Z.sql')}, `), two.join(' | '));
  await handlers.check!(ctx);
  const [, , three] = finishedEvidence(session);
  assert.equal(session.state().get('backup')?.status, 'passed');
  assert.ok(three[0].startsWith(`${path.join(dir, 'ucd 20261201T101630Z.sql')}, `), `Check judged the newest: ${three.join(' | ')}`);
});

test('a run whose stamped file exists already, or whose aside name is taken, does not run and writes over nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-taken-'));
  const ran = path.join(dir, 'ran');
  const { session, ctx } = setup(`touch ${ran}; echo new > ${dir}/ucd-{timestamp}.sql`, `${dir}/ucd-{timestamp}.sql`);
  fs.writeFileSync(path.join(dir, 'ucd-20261201T101500Z.sql'), 'earlier');
  const h = backupHandlers({ local: () => new LocalTransport(), transportFor: () => Promise.reject(new Error('no nodes here')), files: false, now: () => new Date('2026-12-01T10:15:00.400Z') });
  await h.run!(ctx);
  const o = session.state().get('backup');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && /exists already \(7 bytes\); it is never written over, so the backup did not run/.test(o.evidence[0]), JSON.stringify(o));
  assert.equal(fs.existsSync(ran), false, 'the command did not run');
  assert.equal(fs.readFileSync(path.join(dir, 'ucd-20261201T101500Z.sql'), 'utf8'), 'earlier');

  const fixed = path.join(dir, 'fixed.sql');
  const b = setup(`touch ${ran}; echo new > ${fixed}`, fixed);
  fs.writeFileSync(fixed, 'earlier fixed');
  const t = new Date('2026-11-30T08:00:00Z');
  fs.utimesSync(fixed, t, t);
  fs.writeFileSync(path.join(dir, 'fixed.20261130T080000Z.sql'), 'someone else');
  await b.handlers.run!(b.ctx);
  const f = b.session.state().get('backup');
  assert.equal(f?.status, 'failed');
  assert.ok(f && 'evidence' in f && /could not be moved aside to .*fixed\.20261130T080000Z\.sql: .* exists already; the backup did not run/.test(f.evidence[0]), JSON.stringify(f));
  assert.equal(fs.existsSync(ran), false);
  assert.equal(fs.readFileSync(fixed, 'utf8'), 'earlier fixed');
  assert.equal(fs.readFileSync(path.join(dir, 'fixed.20261130T080000Z.sql'), 'utf8'), 'someone else');
});
