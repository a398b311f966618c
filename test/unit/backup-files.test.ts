// The filesystem backup's scripts run for real here (this machine's sh, tar and sha256sum on a
// temporary install tree): archive, change the tree as an upgrade would, restore, compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalTransport } from '../../src/core/remote/local';
import {
  archivePaths,
  archiveScript,
  measureScript,
  parseArchive,
  parseMeasure,
  parseRestore,
  restoreAppdataScript,
  restoreInstallScript,
  spaceVerdict,
  verifyArchiveScript,
} from '../../src/core/steps/backup-files';
import type { ClusterNode } from '../../src/core/cluster/types';

const local = new LocalTransport();
const run = async (script: { text: string }) => (await local.exec(script.text, { timeoutMs: 60_000 })).stdout;

function write(root: string, rel: string, content: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
}

/** path → sha256 of every file below `root`, but the ones a rollback leaves alone. */
function manifest(root: string, skip: RegExp = /^var\/(log|temp)\//): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(root, p);
      if (e.isDirectory()) walk(p);
      else if (!skip.test(rel)) out[rel] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

function layout() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-bf-'));
  const install = path.join(base, 'server');
  const appdata = path.join(base, 'appdata');
  write(install, 'conf/installed.version', 'installed.version=7.0.5.0\n');
  write(install, 'conf/server.keystore', 'custom keystore');
  write(install, 'opt/tomcat/webapps/custom.war', 'custom war');
  write(install, 'var/log/deployserver.out', 'old log');
  write(install, 'var/temp/x', 'temp');
  write(install, 'var/server.pid', '4242');
  write(install, 'var/plugins/p.zip', 'plugin');
  write(appdata, 'conf/installed.version', 'installed.version=7.0.5.0\n');
  write(appdata, 'patches/fix-1.jar', 'patch');
  write(appdata, 'var/repository/big', 'not configuration');
  const backups = path.join(base, 'backups');
  fs.mkdirSync(backups, { mode: 0o700 });
  const node = { name: 'ucd1', installDir: install } as ClusterNode;
  return { base, install, appdata, backups, node };
}

test('spaceVerdict: a refusal names the node, the folder, what is needed and what is free', () => {
  const v = spaceVerdict('ucd2', '/home/ucd/.ucd-upgrade-backup', { home: '/home/ucd', run: 'r', installKb: 500_000, appdataKb: 20_000, availKb: 100_000 });
  assert.equal(v.ok, false);
  assert.equal(v.ok ? '' : v.reason, 'ucd2: not enough free space in /home/ucd/.ucd-upgrade-backup for the filesystem backup: needs 508.8 MiB, 97.7 MiB free; nothing was backed up');
  assert.match(v.ok ? '' : v.hint, /^Free at least .* in \/home\/ucd\/\.ucd-upgrade-backup on ucd2/);
  assert.deepEqual(spaceVerdict('ucd2', '/b', { home: '/h', run: 'r', installKb: 10, availKb: 2_000 }), { ok: true, neededKb: 1034 });
});

test('measure: the install without its logs, the appdata configuration, the free space', async () => {
  const l = layout();
  write(l.install, 'var/log/huge', 'x'.repeat(2_000_000));
  const text = measureScript(l.node, l.appdata, 'demo-20261202T000000Z').text;
  // A home below a folder others can write to (here /tmp) could be swapped: refused.
  const unsafe = path.join(l.base, 'home');
  fs.mkdirSync(unsafe, { mode: 0o700 });
  const refused = parseMeasure((await local.exec(`HOME=${unsafe}; export HOME\n${text}`, { timeoutMs: 60_000 })).stdout);
  assert.deepEqual(refused, { ok: false, problem: '/tmp is writable by group or others (mode 1777): they could replace the staging folder below it' });
  assert.ok(!fs.existsSync(path.join(unsafe, '.ucd-upgrade-backup')), 'nothing was created there');

  const home = fs.mkdtempSync(path.join(os.homedir(), '.ucd-bf-home-'));
  const r = await local.exec(`HOME=${home}; export HOME\n${text}`, { timeoutMs: 60_000 });
  const m = parseMeasure(r.stdout);
  const mode = fs.statSync(path.join(home, '.ucd-upgrade-backup')).mode & 0o777;
  fs.rmSync(home, { recursive: true, force: true });
  assert.equal(mode, 0o700, 'the backup folder is created 0700');

  // This run's folder exists already (a run in the same second): the next free name, the earlier untouched.
  const again = fs.mkdtempSync(path.join(os.homedir(), '.ucd-bf-home-'));
  fs.mkdirSync(path.join(again, '.ucd-upgrade-backup/demo-20261202T000000Z'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(again, '.ucd-upgrade-backup/demo-20261202T000000Z.1'), { mode: 0o700 });
  fs.chmodSync(path.join(again, '.ucd-upgrade-backup'), 0o700);
  const taken = parseMeasure((await local.exec(`HOME=${again}; export HOME\n${text}`, { timeoutMs: 60_000 })).stdout);
  fs.rmSync(again, { recursive: true, force: true });
  assert.equal(taken.ok && taken.measured.run, 'demo-20261202T000000Z.2');
  assert.ok(m.ok, r.stdout + r.stderr);
  assert.ok(m.measured.installKb < 1000, `var/log is not counted: ${m.measured.installKb} KiB`);
  assert.ok(m.measured.appdataKb !== undefined && m.measured.appdataKb > 0);
  assert.ok(m.measured.availKb > 0);
  assert.equal(m.measured.home, home);
  assert.equal(m.measured.run, 'demo-20261202T000000Z');
});

test('archive, upgrade, restore: the install and the appdata configuration are exactly as before; logs stay; a second run never writes over the first', async () => {
  const l = layout();
  const before = manifest(l.install, /^var\/(log|temp)\/|^var\/server\.pid$/);
  const appdataBefore = manifest(l.appdata);
  const folder = path.join(l.backups, 'demo-20261202T000000Z');
  const parsed = parseArchive('ucd1', await run(archiveScript({ node: l.node, folder, appdata: l.appdata })));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const [inst, app] = parsed.archives;
  assert.equal(inst?.what, 'install');
  assert.equal(app?.what, 'appdata');
  assert.equal(inst.path, archivePaths(folder).install);
  assert.equal(inst.sha256, createHash('sha256').update(fs.readFileSync(inst.path)).digest('hex'));
  assert.equal(inst.size, fs.statSync(inst.path).size);
  assert.equal(fs.statSync(folder).mode & 0o777, 0o700);
  assert.equal(fs.statSync(inst.path).mode & 0o077, 0, 'the archive is the SSH user\'s alone');

  // Nothing is written over: the same folder again is refused and the first archive is unchanged.
  const again = parseArchive('ucd1', await run(archiveScript({ node: l.node, folder })));
  assert.deepEqual(again, { ok: false, problem: `${folder} exists already: a backup is never written over` });
  assert.equal(createHash('sha256').update(fs.readFileSync(inst.path)).digest('hex'), inst.sha256);

  // What an upgrade does: new files, a removed keystore and tomcat file, patches renamed.
  write(l.install, 'conf/installed.version', 'installed.version=7.1.2.0\n');
  write(l.install, 'lib/new-version.jar', 'new');
  fs.rmSync(path.join(l.install, 'conf/server.keystore'));
  fs.rmSync(path.join(l.install, 'opt/tomcat'), { recursive: true });
  write(l.install, 'var/log/upgrade.log', 'written during the upgrade');
  write(l.appdata, 'conf/installed.version', 'installed.version=7.1.2.0\n');
  fs.renameSync(path.join(l.appdata, 'patches/fix-1.jar'), path.join(l.appdata, 'patches/fix-1.jar.off'));

  const ri = parseRestore(await run(restoreInstallScript(l.install, inst.path, inst.sha256)));
  assert.deepEqual(ri, { ok: true, sha256: inst.sha256, version: '7.0.5.0' });
  assert.deepEqual(manifest(l.install, /^var\/(log|temp)\/|^var\/server\.pid$/), before);
  assert.ok(!fs.existsSync(path.join(l.install, 'var/server.pid')), 'the running server\'s pid file is not brought back');
  assert.equal(fs.readFileSync(path.join(l.install, 'var/log/upgrade.log'), 'utf8'), 'written during the upgrade', 'logs stay');
  const ra = parseRestore(await run(restoreAppdataScript(l.appdata, app.path, app.sha256)));
  assert.deepEqual(ra, { ok: true, sha256: app.sha256, version: '7.0.5.0' });
  assert.deepEqual(manifest(l.appdata), appdataBefore);
});

test('a changed archive is refused before anything is removed', async () => {
  const l = layout();
  const folder = path.join(l.backups, 'demo-20261202T000001Z');
  const parsed = parseArchive('ucd1', await run(archiveScript({ node: l.node, folder })));
  assert.ok(parsed.ok);
  const inst = parsed.archives[0]!;
  fs.appendFileSync(inst.path, 'tampered');
  write(l.install, 'lib/new-version.jar', 'new');
  const v = parseRestore(await run(verifyArchiveScript(inst.path, inst.sha256)));
  assert.equal(v.ok, false);
  assert.match(v.ok ? '' : v.problem, /has sha256 [0-9a-f]{64}, not [0-9a-f]{64} as recorded when it was made: it changed since; nothing was restored/);
  const r = parseRestore(await run(restoreInstallScript(l.install, inst.path, inst.sha256)));
  assert.equal(r.ok, false);
  assert.ok(fs.existsSync(path.join(l.install, 'lib/new-version.jar')), 'nothing was removed');
});

test('a folder that is not an install is never emptied', async () => {
  const l = layout();
  const folder = path.join(l.backups, 'demo-20261202T000002Z');
  const parsed = parseArchive('ucd1', await run(archiveScript({ node: l.node, folder })));
  assert.ok(parsed.ok);
  const other = path.join(l.base, 'not-an-install');
  write(other, 'precious', 'keep me');
  const r = parseRestore(await run(restoreInstallScript(other, parsed.archives[0]!.path, parsed.archives[0]!.sha256)));
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.problem, /does not look like a UCD install, so nothing in it was removed/);
  assert.equal(fs.readFileSync(path.join(other, 'precious'), 'utf8'), 'keep me');
});
