import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { JournalEvent } from '../../src/core/journal/events';
import { RunSession } from '../../src/core/runbook/session';
import { LocalTransport } from '../../src/core/remote/local';
import { describeTreeChanges, packageHandlers, packageLayout, recordedStaging, StagedInstallerRefusal, stageName, verifyStagedInstaller, versionFromName } from '../../src/core/steps/package';
import { formatProgress, UploadMeter } from '../../src/core/steps/uploadProgress';
import { VALID_CLUSTER } from '../fixtures/clusters';
import { actionContext } from '../../src/core/runbook/runner';

// The scripts resolve the stage under $HOME, as on a node; here a fresh home per test, below this
// user's own home (a folder under /tmp would be refused: /tmp is writable by everyone).
const realHome = process.env.HOME;
const userHome = os.userInfo().homedir;
const homes: string[] = [];
after(() => {
  process.env.HOME = realHome;
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});
function freshHome(): string {
  const h = fs.realpathSync(fs.mkdtempSync(path.join(userHome, '.ucd-pkg-test-')));
  homes.push(h);
  process.env.HOME = h;
  return h;
}

function makePackage(dir: string, name: string, version: string | undefined): string {
  const src = path.join(dir, 'src', 'ibm-ucd-install');
  fs.mkdirSync(path.join(src, 'conf'), { recursive: true });
  fs.writeFileSync(path.join(src, 'install-server.sh'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(src, 'install.properties'), 'nonInteractive=false\n');
  if (version) fs.writeFileSync(path.join(src, 'conf', 'installed.version'), `installed.version=${version}\n`);
  const archive = path.join(dir, name);
  execFileSync('tar', ['-czf', archive, '-C', path.join(dir, 'src'), 'ibm-ucd-install']);
  fs.rmSync(path.join(dir, 'src'), { recursive: true });
  return archive;
}

function run(archive: string) {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-ws-'));
  const r = loadCluster(VALID_CLUSTER.replace('"remotePath": "/tmp/ibm-ucd-install"', `"remotePath": ${JSON.stringify(archive)}`));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const session = RunSession.open(r.cluster, ws);
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const local = new LocalTransport();
  const h = packageHandlers({ transportFor: async () => local });
  const c = (kind: 'run' | 'check') => h[kind]!(actionContext({ cluster: r.cluster, session, target: { step: 'package', node: 'ucd1' }, log, signal: new AbortController().signal }));
  const node = r.cluster.nodes[0]!;
  return {
    cluster: r.cluster,
    session,
    lines,
    go: () => c('run'),
    check: () => c('check'),
    verify: () => verifyStagedInstaller(local, r.cluster, node, recordedStaging(session.journal.events, 'ucd1'), { log, signal: new AbortController().signal }),
  };
}

function evidence(session: RunSession): string {
  const o = session.state().get('package@ucd1');
  return JSON.stringify(o);
}

async function refusal(p: Promise<unknown>): Promise<StagedInstallerRefusal> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StagedInstallerRefusal, `expected a refusal, got ${String(e)}`);
    return e;
  }
  assert.fail('the installer tree was accepted');
}

test('the package version is read from the archive name; the stage name from the cluster', () => {
  assert.equal(versionFromName('/x/ibm-ucd-7.1.2.0.zip'), '7.1.2.0');
  assert.equal(versionFromName('/x/ibm-ucd-7.0.5.2.1050384.tar.gz'), '7.0.5.2.1050384');
  assert.equal(versionFromName('/x/ucd.zip'), undefined);
  assert.equal(stageName({ name: 'prod / eu', targetVersion: '7.1.2.0' }), 'prod___eu-7.1.2.0');
  assert.equal(stageName({ name: '..', targetVersion: '7.1.2.0' }), '_-7.1.2.0');
});

test('Run stages in a fresh 0700 folder under the SSH user\'s home, records the archive\'s sha256 and the tree, and proves install-server.sh', async () => {
  const home = freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0');
  const { cluster, session, go } = run(archive);
  await go();
  assert.equal(session.state().get('package@ucd1')?.status, 'passed', evidence(session));
  const layout = packageLayout(cluster, home);
  assert.equal(layout.stage, path.join(home, '.ucd-upgrade-stage', 'demo-7.1.2.0'));
  assert.equal(fs.lstatSync(layout.stage).mode & 0o7777, 0o700);
  assert.equal(fs.lstatSync(path.join(home, '.ucd-upgrade-stage')).mode & 0o7777, 0o700);
  assert.ok(fs.existsSync(path.join(layout.installerDir, 'install-server.sh')));
  assert.ok(!fs.existsSync(path.join(dir, 'ucd-upgrade-7.1.2.0')), 'nothing staged next to the archive any more');
  const staged = recordedStaging(session.journal.events, 'ucd1');
  assert.ok(staged, 'the journal holds what was staged');
  assert.equal(staged.archiveSha256, createHash('sha256').update(fs.readFileSync(archive)).digest('hex'));
  assert.match(staged.treeSha256, /^[0-9a-f]{64}$/);
  assert.equal(staged.entries, 5, 'ibm-ucd-install, conf, and three files');
  assert.equal(staged.installerDir, layout.installerDir);
});

test('a second Run replaces the earlier stage with a fresh one', async () => {
  const home = freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const { cluster, session, go } = run(makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  await go();
  const stale = path.join(packageLayout(cluster, home).stage, 'left-over');
  fs.writeFileSync(stale, 'x');
  await go();
  assert.equal(session.state().get('package@ucd1')?.status, 'passed', evidence(session));
  assert.ok(!fs.existsSync(stale));
});

test('a link or an open folder in place of the stage is refused and left as it was', async () => {
  const home = freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const { cluster, session, go } = run(makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  const layout = packageLayout(cluster, home);
  fs.mkdirSync(layout.base, { mode: 0o700 });
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-elsewhere-'));
  fs.symlinkSync(elsewhere, layout.stage);
  await go();
  assert.equal(session.state().get('package@ucd1')?.status, 'failed');
  assert.match(evidence(session), /is a symbolic link, not a folder of the SSH user/);
  assert.deepEqual(fs.readdirSync(elsewhere), [], 'nothing written through the link');
  assert.ok(fs.lstatSync(layout.stage).isSymbolicLink(), 'the link is not removed either');

  fs.unlinkSync(layout.stage);
  fs.mkdirSync(layout.stage);
  fs.chmodSync(layout.stage, 0o755);
  await go();
  assert.match(evidence(session), /has mode 755, not 700/);
  assert.equal(recordedStaging(session.journal.events, 'ucd1'), undefined);
});

test('a home inside a folder others can write (such as /tmp) is refused', async () => {
  const home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-home-')));
  homes.push(home);
  process.env.HOME = home;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const { session, go } = run(makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  await go();
  assert.equal(session.state().get('package@ucd1')?.status, 'failed');
  assert.match(evidence(session), /\/tmp is writable by group or others \(mode 1777\)/);
  assert.ok(!fs.existsSync(path.join(home, '.ucd-upgrade-stage')), 'nothing created');
});

test('the installer check: the recorded tree passes; a changed script, mode or new file is refused with what changed', async () => {
  const home = freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const { cluster, session, go, check, verify } = run(makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  await go();
  const layout = packageLayout(cluster, home);
  assert.equal((await verify()).installerDir, layout.installerDir);
  // Silent mode rewrites install.properties itself: its content is not part of the hash.
  fs.writeFileSync(path.join(layout.installerDir, 'install.properties'), 'nonInteractive=true\n');
  assert.equal((await verify()).installerDir, layout.installerDir);

  fs.writeFileSync(path.join(layout.installerDir, 'install-server.sh'), '#!/bin/sh\ntouch /tmp/owned\n');
  let e = await refusal(verify());
  assert.match(e.message, /^the installer was not started on ucd1: the installer tree in .* changed since step 3 measured it \(ibm-ucd-install\/install-server\.sh: content changed\)/);
  await check();
  assert.equal(session.state().get('package@ucd1')?.status, 'failed');
  assert.match(evidence(session), /install-server\.sh: content changed/);
  // A failed Check does not make the next one measure the changed tree anew.
  await check();
  assert.equal(session.state().get('package@ucd1')?.status, 'failed');
  await refusal(verify());

  await go();
  await verify();
  fs.chmodSync(path.join(layout.installerDir, 'conf'), 0o777);
  fs.writeFileSync(path.join(layout.installerDir, 'conf', 'extra.sh'), 'x');
  e = await refusal(verify());
  assert.match(e.message, /ibm-ucd-install\/conf: type, mode, owner or link changed/);
  assert.match(e.message, /ibm-ucd-install\/conf\/extra\.sh: added/);
});

test('the installer check refuses without a record, and after a stage made unsafe', async () => {
  const home = freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const { cluster, go, verify } = run(makePackage(dir, 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  let e = await refusal(verify());
  assert.match(e.message, /step 3 has no record of the installer tree staged there/);
  const { session, check } = run(makePackage(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-')), 'ibm-ucd-7.1.2.0.tar.gz', '7.1.2.0'));
  await check();
  assert.match(evidence(session), /"no install-server\.sh in [^"]+\/\.ucd-upgrade-stage\/demo-7\.1\.2\.0\/ibm-ucd-install"/, 'a Check before any Run says nothing is staged');
  await go();
  fs.chmodSync(packageLayout(cluster, home).stage, 0o750);
  e = await refusal(verify());
  assert.match(e.message, /^the installer was not started on ucd1: refused on ucd1: .* has mode 750, not 700/);
});

test('a package of another version fails the step and says which', async () => {
  freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = makePackage(dir, 'ibm-ucd-7.1.1.0.tar.gz', '7.1.1.0');
  const { session, go } = run(archive);
  await go();
  const o = session.state().get('package@ucd1');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && o.evidence[0] === 'package is 7.1.1.0, target is 7.1.2.0');
  assert.equal(recordedStaging(session.journal.events, 'ucd1'), undefined);
});

test('a broken archive fails with the extractor\'s error', async () => {
  freshHome();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pkg-'));
  const archive = path.join(dir, 'ibm-ucd-7.1.2.0.tar.gz');
  fs.writeFileSync(archive, 'not a tarball');
  const { session, go } = run(archive);
  await go();
  const o = session.state().get('package@ucd1');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && /extracting .* failed/.test(o.evidence[0]), JSON.stringify(o));
});

test('the journal\'s record of a stage: a Run voids it when it starts; a failed Check does not; a reset does', () => {
  const staged = { stage: '/h/s', installerDir: '/h/s/ibm-ucd-install', owned: true, treeSha256: 'a'.repeat(64), entries: 3 };
  const base = { ts: 't', id: 'x', step: 'package' as const, node: 'ucd1' };
  const fin = (kind: 'run' | 'check', verdict: 'passed' | 'failed', facts?: object): JournalEvent => ({ ...base, type: 'finished', kind, verdict, evidence: [], ...(facts ? { facts } : {}) });
  assert.deepEqual(recordedStaging([fin('run', 'passed', { staged })], 'ucd1'), staged);
  assert.equal(recordedStaging([fin('run', 'passed', { staged })], 'ucd2'), undefined);
  assert.deepEqual(recordedStaging([fin('run', 'passed', { staged }), fin('check', 'failed')], 'ucd1'), staged);
  assert.equal(recordedStaging([fin('run', 'passed', { staged }), { ...base, type: 'started', kind: 'run' }], 'ucd1'), undefined);
  assert.deepEqual(recordedStaging([fin('run', 'passed', { staged }), { ...base, type: 'started', kind: 'check' }], 'ucd1'), staged);
  assert.equal(recordedStaging([fin('run', 'passed', { staged }), { ts: 't', type: 'reset', reason: 'r', step: 'package' }], 'ucd1'), undefined);
  assert.equal(recordedStaging([fin('run', 'passed', { staged: { ...staged, treeSha256: 'nope' } })], 'ucd1'), undefined, 'a malformed record is no record');
});

test('manifest differences are named per path', () => {
  const h = (c: string) => c.repeat(64);
  assert.deepEqual(describeTreeChanges([
    `< ${h('a')}  ibm-ucd-install/install-server.sh`,
    `> ${h('b')}  ibm-ucd-install/install-server.sh`,
    '< d 755 1000 1000 ibm-ucd-install/conf -> ',
    '> d 777 1000 1000 ibm-ucd-install/conf -> ',
    '> f 644 1000 1000 ibm-ucd-install/new.sh -> ',
    `> ${h('c')}  ibm-ucd-install/new.sh`,
    '< l 777 1000 1000 ibm-ucd-install/lib -> /opt/lib',
  ]), [
    'ibm-ucd-install/install-server.sh: content changed',
    'ibm-ucd-install/conf: type, mode, owner or link changed',
    'ibm-ucd-install/new.sh: added',
    'ibm-ucd-install/lib: removed',
  ]);
});

test('upload progress: bytes, percent, rate and time left, every tenth or every 5 s, and once at the end', () => {
  let now = 0;
  const m = new UploadMeter(100 * 1048576, () => now);
  now = 1000;
  const first = m.update(1048576);
  assert.equal(first.report, true, 'the first tenth is reported');
  assert.equal(formatProgress(first.progress), '1% (1.0 MiB of 100.0 MiB) at 1.0 MiB/s, about 1 min 39 s left');
  now = 2000;
  assert.equal(m.update(2 * 1048576).report, false, 'same tenth, 1 s later');
  now = 7000;
  assert.equal(m.update(3 * 1048576).report, true, 'slow, but 5 s since the last line');
  now = 8000;
  assert.equal(m.update(10 * 1048576).report, true, 'a new tenth');
  now = 20_000;
  const end = m.update(100 * 1048576);
  assert.equal(end.report, true);
  assert.equal(formatProgress(end.progress), '100% (100.0 MiB of 100.0 MiB) at 5.0 MiB/s in 20 s');
  assert.equal(m.update(100 * 1048576).report, false, 'the end only once');
});
