import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { Journal } from '../../src/core/journal/journal';
import { SecretValues } from '../../src/core/journal/secrets';
import { OwnerLiveness, OwnerLock, type OwnerRecord } from '../../src/core/journal/owner';
import { journalPath, ReadOnlyRunError, RunSession } from '../../src/core/runbook/session';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { isState, Peer, type StateMessage } from '../support/peer';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-owner-'));
}
function cluster(): Cluster {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  return r.cluster;
}
function lockFiles(journal: string): string[] {
  const base = `${path.basename(journal)}.owner.`;
  return fs.readdirSync(path.dirname(journal)).filter((n) => n.startsWith(base)).sort();
}
/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(r.status, 0);
  return r.pid!;
}
function record(over: Partial<OwnerRecord>): OwnerRecord {
  const now = new Date().toISOString();
  return { id: 'someone-else', pid: 1, host: os.hostname(), user: 'ann', since: now, heartbeat: now, beat: 0, ...over };
}
function writeLock(journal: string, gen: number, r: OwnerRecord): void {
  fs.mkdirSync(path.dirname(journal), { recursive: true });
  fs.writeFileSync(`${journal}.owner.${gen}`, JSON.stringify(r) + '\n');
}

test('the lock: the first claim owns, a second is told who owns it, the heartbeat moves, release frees it', () => {
  const journal = path.join(tmp(), 'j.jsonl');
  const a = OwnerLock.claim(journal, new OwnerLiveness(30_000));
  assert.equal(a.kind, 'owner');
  if (a.kind !== 'owner') return;
  assert.deepEqual(lockFiles(journal), ['j.jsonl.owner.1']);
  const onDisk = JSON.parse(fs.readFileSync(a.lock.file, 'utf8')) as OwnerRecord;
  assert.equal(onDisk.pid, process.pid);
  assert.equal(onDisk.host, os.hostname());
  assert.equal(onDisk.user, os.userInfo().username);
  assert.match(onDisk.id, /^[0-9a-f-]{36}$/);

  // Another claim while this process's lock is live (not a reload): a follower, naming the owner.
  const b = OwnerLock.claim(journal, new OwnerLiveness(30_000));
  assert.equal(b.kind, 'follower');
  assert.equal(b.kind === 'follower' && b.owner.id, onDisk.id);

  assert.ok(a.lock.renew());
  const renewed = JSON.parse(fs.readFileSync(a.lock.file, 'utf8')) as OwnerRecord;
  assert.equal(renewed.beat, 1);
  assert.equal(renewed.id, onDisk.id);
  assert.ok(renewed.heartbeat >= onDisk.heartbeat);
  assert.deepEqual(lockFiles(journal), ['j.jsonl.owner.1'], 'the renewal replaced the file; no temp file is left');

  a.lock.release();
  assert.deepEqual(lockFiles(journal), []);
  const c = OwnerLock.claim(journal, new OwnerLiveness(30_000));
  assert.equal(c.kind, 'owner');
  assert.equal(c.kind === 'owner' && c.previous, undefined, 'a released lock has no previous owner to report');
});

test('the lock: an owner whose process died on this host is taken over at once, and named', () => {
  const journal = path.join(tmp(), 'j.jsonl');
  const dead = deadPid();
  writeLock(journal, 4, record({ pid: dead }));
  const c = OwnerLock.claim(journal, new OwnerLiveness(30_000));
  assert.equal(c.kind, 'owner');
  if (c.kind !== 'owner') return;
  assert.equal(c.previous?.pid, dead);
  assert.equal(c.lock.gen, 5);
  assert.deepEqual(lockFiles(journal), ['j.jsonl.owner.5'], 'the dead owner\'s file is removed');
});

test('the lock: an owner on another host is gone only after its heartbeat stood still for the limit (by our clock)', () => {
  const journal = path.join(tmp(), 'j.jsonl');
  let clock = 0;
  const liveness = new OwnerLiveness(1_000, () => clock);
  writeLock(journal, 1, record({ host: 'other-host', beat: 7 }));
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'follower', 'first sight: not judged');
  clock = 999;
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'follower', 'still within the limit');
  writeLock(journal, 1, record({ host: 'other-host', beat: 8 }));
  clock = 1_500;
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'follower', 'the heartbeat moved: alive, the limit starts again');
  clock = 2_499;
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'follower');
  clock = 2_500;
  const c = OwnerLock.claim(journal, liveness);
  assert.equal(c.kind, 'owner');
  assert.equal(c.kind === 'owner' && c.previous?.host, 'other-host');
});

test('the lock: same host name but another pid namespace (another container) is judged by its heartbeat, not its pid', { skip: fs.existsSync('/proc/self/ns/pid') ? false : 'no pid namespaces here' }, () => {
  const journal = path.join(tmp(), 'j.jsonl');
  let clock = 0;
  const liveness = new OwnerLiveness(1_000, () => clock);
  writeLock(journal, 1, record({ pid: deadPid(), pidNamespace: 'pid:[1]' }));
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'follower', 'a pid dead here may be alive in its own namespace');
  clock = 1_000;
  assert.equal(OwnerLock.claim(journal, liveness).kind, 'owner', 'its heartbeat stood still for the limit');
});

test('the lock: an owner taken over (it slept past the limit) knows it lost the lock and writes nothing', () => {
  const journal = path.join(tmp(), 'j.jsonl');
  const a = OwnerLock.claim(journal, new OwnerLiveness(30_000));
  assert.ok(a.kind === 'owner');
  writeLock(journal, a.lock.gen + 1, record({ host: 'other-host' }));
  const before = fs.readFileSync(a.lock.file, 'utf8');
  assert.equal(a.lock.held(), false);
  assert.equal(a.lock.renew(), false);
  assert.equal(fs.readFileSync(a.lock.file, 'utf8'), before, 'no heartbeat written after losing the lock');
});

test('a session that lost its lock refuses writes with the new owner named, and the journal gains nothing', () => {
  const dir = tmp();
  const s = RunSession.open(cluster(), dir);
  assert.equal(s.role.kind, 'owner');
  const journal = journalPath(cluster(), dir);
  const gen = Number(lockFiles(journal)[0].split('.').pop());
  writeLock(journal, gen + 1, record({ host: 'other-host', user: 'bob', pid: 4242 }));
  const before = fs.readFileSync(journal, 'utf8');
  assert.throws(() => s.begin({ step: 'verifyStopped', node: 'ucd1' }, 'check'), (e: unknown) => e instanceof ReadOnlyRunError && /owned by bob@other-host \(pid 4242, since /.test(e.message));
  assert.equal(s.role.kind, 'follower');
  assert.equal(fs.readFileSync(journal, 'utf8'), before);
  s.dispose();
});

test('a follower folds only complete lines: a line the owner is still writing is neither an event nor an issue', () => {
  const file = path.join(tmp(), 'j.jsonl');
  const line = JSON.stringify({ type: 'skipped', ts: '2026-12-01T10:00:00Z', step: 'backup', reason: 'DBA' });
  fs.writeFileSync(file, line.slice(0, 20));
  const j = Journal.read(file);
  assert.deepEqual([j.events.length, j.issues.length], [0, 0]);
  fs.appendFileSync(file, line.slice(20, 40));
  assert.equal(j.refresh(), 0);
  fs.appendFileSync(file, line.slice(40) + '\n');
  assert.equal(j.refresh(), 1);
  assert.deepEqual(j.issues, []);
  assert.equal(fs.readFileSync(file, 'utf8'), line + '\n', 'reading wrote nothing (no seal by a reader)');
});

test('a secret added to the mask after the run opened is masked in what is written', () => {
  const dir = tmp();
  const secrets = new SecretValues();
  const s = RunSession.open(cluster(), dir, secrets.mask);
  secrets.add('pass-phrase-9"x');
  s.skip({ step: 'backup' }, 'the DBA used pass-phrase-9"x to log in');
  const text = fs.readFileSync(s.journalFile, 'utf8');
  assert.ok(!text.includes('pass-phrase-9'), text);
  assert.match(text, /the DBA used \*\*\* to log in/);
  assert.equal(s.view().find((v) => v.def.id === 'backup')?.outcome?.status, 'skipped');
  s.dispose();
});

test('closing a session with an action running keeps the lock until it finishes, and refuses anything new', () => {
  const dir = tmp();
  const s = RunSession.open(cluster(), dir);
  const journal = s.journalFile;
  const target = { step: 'verifyStopped', node: 'ucd2' } as const;
  const id = s.begin(target, 'check');
  s.dispose();
  assert.equal(lockFiles(journal).length, 1, 'the lock stays while the check runs');
  assert.throws(() => s.skip({ step: 'backup' }, 'x'), /session was closed/);
  s.finish(id, target, 'check', 'passed', ['stopped']);
  assert.deepEqual(lockFiles(journal), [], 'released when the last action ended');
  const next = RunSession.open(cluster(), dir);
  assert.deepEqual(next.interruptedOnOpen, [], 'nothing dangling: the check finished');
  next.dispose();
});

test('reload keeps the run (same journal) with the edited cluster; another run is refused', () => {
  const dir = tmp();
  const s = RunSession.open(cluster(), dir);
  const edited = loadCluster(VALID_CLUSTER.replace('"/opt/ucd/appdata"', '"/srv/ucd/appdata"'));
  assert.ok(edited.ok);
  s.reload(edited.cluster);
  assert.equal(s.cluster.sharedAppdata, '/srv/ucd/appdata');
  assert.equal(s.role.kind, 'owner');
  const other = loadCluster(VALID_CLUSTER.replace('"7.1.2.0"', '"7.1.3.0"'));
  assert.ok(other.ok);
  assert.throws(() => s.reload(other.cluster), /another run/);
  s.dispose();
});

const PEER_ENV = { PEER_HEARTBEAT_MS: '200', PEER_STALE_MS: '2000', PEER_POLL_MS: '100' };

test('two real processes racing to open the same run: exactly one owns it, fresh or taking over a dead owner', async () => {
  const a = new Peer(PEER_ENV);
  const b = new Peer(PEER_ENV);
  try {
    await Promise.all([a.ready(), b.ready()]);
    for (let round = 0; round < 12; round++) {
      const dir = tmp();
      const stale = round % 2 === 1;
      const dead = stale ? deadPid() : 0;
      if (stale) writeLock(journalPath(cluster(), dir), 3, record({ pid: dead }));
      const [ma, mb] = [a.send({ cmd: 'open', dir }), b.send({ cmd: 'open', dir })];
      const [sa, sb] = await Promise.all([a.waitFor(`round ${round} state`, isState, ma), b.waitFor(`round ${round} state`, isState, mb)]);
      const owners = [sa, sb].filter((s) => s.role === 'owner');
      assert.equal(owners.length, 1, `round ${round}: exactly one owner, got ${JSON.stringify([sa.role, sb.role])}`);
      const ownerPid = sa.role === 'owner' ? a.pid : b.pid;
      assert.equal((sa.role === 'follower' ? sa : sb).ownerPid, ownerPid, 'the follower names the winner');
      if (stale) assert.equal(owners[0].previousPid, dead, 'the winner names the dead owner');
      const journal = journalPath(cluster(), dir);
      assert.equal(lockFiles(journal).length, 1, `round ${round}: one lock file: ${lockFiles(journal).join(', ')}`);
      const opened = fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('"run-opened"'));
      assert.equal(opened.length, 1, 'one run-opened record');
      await Promise.all([a.waitFor('dispose', (m) => m.ev === 'done', a.send({ cmd: 'dispose' })), b.waitFor('dispose', (m) => m.ev === 'done', b.send({ cmd: 'dispose' }))]);
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('a second process on a live run follows it read-only, sees it live, refuses changes, and takes over only when the owner is killed', async () => {
  const dir = tmp();
  const journal = journalPath(cluster(), dir);
  const first = new Peer(PEER_ENV);
  const second = new Peer(PEER_ENV);
  try {
    await Promise.all([first.ready(), second.ready()]);
    const owned = await first.waitFor('owner state', isState, first.send({ cmd: 'open', dir }));
    assert.equal(owned.role, 'owner');
    const check = { step: 'verifyStopped', node: 'ucd2' } as const;
    const began = await first.waitFor('began', (m): m is Extract<typeof m, { ev: 'began' }> => m.ev === 'began', first.send({ cmd: 'begin', target: check, kind: 'check' }));

    const followed = await second.waitFor('follower state', isState, second.send({ cmd: 'open', dir }));
    assert.equal(followed.role, 'follower');
    assert.equal(followed.ownerPid, first.pid);
    assert.deepEqual(followed.interrupted, []);
    assert.equal(followed.states['verifyStopped@ucd2'], 'running', 'the live check is shown running, not interrupted');
    assert.equal(followed.actionable, 0, 'a follower is offered no action on any step or node');
    assert.ok(owned.actionable > 0, 'the owner is offered actions');
    assert.ok(!fs.readFileSync(journal, 'utf8').includes('"interrupted"'), 'the follower wrote no interruption');

    const refused = await second.waitFor('refusal', (m) => m.ev === 'error', second.send({ cmd: 'begin', target: { step: 'verifyStopped', node: 'ucd3' }, kind: 'check' }));
    assert.match(refused.ev === 'error' ? refused.message : '', new RegExp(`read-only here: it is owned by ${os.userInfo().username}@${os.hostname()} \\(pid ${first.pid}, since `));
    const started = () => fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('"started"')).length;
    assert.equal(started(), 1, 'the refused begin wrote nothing');

    const mark = second.messages.length;
    first.send({ cmd: 'finish', id: began.id, target: check, kind: 'check', verdict: 'passed' });
    const live = await second.waitFor('the owner\'s finish, live', (m): m is StateMessage => isState(m) && m.states['verifyStopped@ucd2'] === 'passed', mark);
    assert.equal(live.role, 'follower');

    // The owner starts another check and its process dies mid-way.
    const dangling = { step: 'verifyStopped', node: 'ucd3' } as const;
    const mark2 = second.messages.length;
    const began2 = await first.waitFor('began 2', (m): m is Extract<typeof m, { ev: 'began' }> => m.ev === 'began', first.send({ cmd: 'begin', target: dangling, kind: 'check' }));
    await second.waitFor('the second check, live', (m) => isState(m) && m.states['verifyStopped@ucd3'] === 'running', mark2);
    const firstPid = first.pid;
    await first.kill('SIGKILL');
    const took = await second.waitFor('takeover after the owner died', (m): m is StateMessage => isState(m) && m.role === 'owner', mark2);
    assert.equal(took.previousPid, firstPid);
    assert.deepEqual(took.interrupted, [dangling]);
    assert.equal(took.states['verifyStopped@ucd3'], 'interrupted');
    assert.equal(took.states['verifyStopped@ucd2'], 'passed');
    assert.ok(took.actionable > 0, 'the new owner is offered actions');
    const interrupted = fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('"interrupted"')).map((l) => JSON.parse(l) as { id: string });
    assert.deepEqual(interrupted.map((e) => e.id), [began2.id], 'exactly the dangling check is marked, once');
    const after = await second.waitFor('begin as the new owner', (m) => m.ev === 'began' || m.ev === 'error', second.send({ cmd: 'begin', target: dangling, kind: 'check' }));
    assert.equal(after.ev, 'began', JSON.stringify(after));
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});

test('when the owner\'s window closes cleanly, the follower takes over on its own', async () => {
  const dir = tmp();
  const first = new Peer(PEER_ENV);
  const second = new Peer(PEER_ENV);
  try {
    await Promise.all([first.ready(), second.ready()]);
    assert.equal((await first.waitFor('owner', isState, first.send({ cmd: 'open', dir }))).role, 'owner');
    const f = await second.waitFor('follower', isState, second.send({ cmd: 'open', dir }));
    assert.equal(f.role, 'follower');
    const mark = second.messages.length;
    await first.close();
    const took = await second.waitFor('takeover after a clean close', (m): m is StateMessage => isState(m) && m.role === 'owner', mark);
    assert.deepEqual(took.interrupted, []);
    assert.equal(took.ownerPid, second.pid);
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});
