import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ShellScript } from '../../src/core/remote/quote';
import {
  describeMove, parseMoveOutput, storageVerdict, parseStorageProbe, planStorage, PRE_6115_SHARED_PATHS, storageMoveScript, storageProbeScript,
  type NodeStorageProbe, type StorageProbe,
} from '../../src/core/ucd/storage';

function run(script: ShellScript, cwd: string): { code: number | null; stdout: string } {
  const r = spawnSync('/bin/sh', ['-c', script.text], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout };
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function probeOf(install: string, appdata: string, cwd: string): StorageProbe {
  const r = run(storageProbeScript(install, appdata), cwd);
  assert.equal(r.code, 0);
  const p = parseStorageProbe(r.stdout);
  assert.ok(p.ok, p.ok ? '' : p.problem);
  return p.probe;
}

/** A pre-6.1.1.5 node: some paths only in the install, one in both, one linked, one nowhere. */
function layout(root: string, name: string) {
  // Hostile folder names are data: quotes, spaces and a command substitution.
  const install = path.join(root, `${name} install 'q' $(touch pwned)`);
  const appdata = path.join(root, 'share', 'app data');
  write(path.join(install, 'var/plugins/plugin-a.zip'), 'A'.repeat(5000));
  write(path.join(install, 'var/repository/ab/cd/artifact.bin'), 'R'.repeat(3000));
  write(path.join(install, 'conf/server/log4j.properties'), 'log4j.rootLogger=INFO\n');
  write(path.join(install, 'conf/encryption.keystore'), 'KEYSTORE');
  write(path.join(install, 'logs/deployserver.log'), 'log\n');
  // In both places: a conflict.
  write(path.join(install, 'conf/server.keystore'), 'install copy');
  write(path.join(appdata, 'conf/server.keystore'), 'appdata copy');
  // Already shared by a link (the pre-6.1.1.5 HA way): nothing to move.
  write(path.join(appdata, 'patches/p1.jar'), 'P');
  fs.symlinkSync(path.join(appdata, 'patches'), path.join(install, 'patches'));
  // Only in appdata.
  write(path.join(appdata, 'var/sa/x'), 'S');
  // conf/collectors and notification-templates exist nowhere.
  return { install, appdata };
}

test('probe + plan on real folders: exactly what moves where, the conflict, and what is already fine', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const { install, appdata } = layout(root, 'ucd1');
  const probe = probeOf(install, appdata, root);
  assert.equal(fs.existsSync(path.join(root, 'pwned')), false, 'nothing in the paths ran');
  assert.equal(probe.installRoot, 'dir');
  assert.deepEqual(probe.entries.get('conf/encryption.keystore'), { install: { type: 'file', sizeBytes: 8 }, appdata: { type: 'missing', sizeBytes: 0 } });
  assert.equal(probe.entries.get('var/plugins')?.install.type, 'dir');
  assert.ok((probe.entries.get('var/plugins')?.install.sizeBytes ?? 0) >= 5000, 'du size in bytes');
  assert.deepEqual(probe.entries.get('patches')?.install, { type: 'link', sizeBytes: 0, linkTarget: path.join(appdata, 'patches') });

  const plan = planStorage([{ node: 'ucd1', installDir: install, probe }], appdata);
  assert.deepEqual(plan.moves.map((m) => [m.rel, m.from, m.to]), [
    ['var/plugins', `${install}/var/plugins`, `${appdata}/var/plugins`],
    ['var/repository', `${install}/var/repository`, `${appdata}/var/repository`],
    ['logs', `${install}/logs`, `${appdata}/logs`],
    ['conf/server/log4j.properties', `${install}/conf/server/log4j.properties`, `${appdata}/conf/server/log4j.properties`],
    ['conf/encryption.keystore', `${install}/conf/encryption.keystore`, `${appdata}/conf/encryption.keystore`],
  ]);
  assert.deepEqual(plan.conflicts.map((c) => [c.rel, c.kind]), [['conf/server.keystore', 'both']]);
  assert.match(plan.conflicts[0].message, /nothing is overwritten/);
  assert.deepEqual(plan.settled.map((s) => [s.rel, s.why]), [
    ['var/sa', 'in-appdata'], ['patches', 'linked-to-appdata'], ['conf/server/notification-templates', 'absent'], ['conf/collectors', 'absent'],
  ]);
  assert.equal(plan.nothingToDo, false);
  assert.match(describeMove(plan.moves[4]), /conf\/encryption\.keystore → .*\(file, 8 bytes\)$/);

  // The user confirmed the moves: run them for real.
  const script = storageMoveScript(plan.moves);
  const r = run(script, root);
  assert.equal(r.code, 0, r.stdout);
  const result = parseMoveOutput(r.stdout, plan.moves);
  assert.equal(result.done, true);
  assert.equal(result.moved.length, 5);
  assert.equal(fs.readFileSync(path.join(appdata, 'var/plugins/plugin-a.zip'), 'utf8').length, 5000);
  assert.equal(fs.readFileSync(path.join(appdata, 'var/repository/ab/cd/artifact.bin'), 'utf8').length, 3000);
  assert.equal(fs.readFileSync(path.join(appdata, 'conf/server/log4j.properties'), 'utf8'), 'log4j.rootLogger=INFO\n', 'parents created');
  assert.equal(fs.existsSync(path.join(install, 'var/plugins')), false);
  assert.equal(fs.readFileSync(path.join(appdata, 'conf/server.keystore'), 'utf8'), 'appdata copy', 'the conflict was left alone');
  assert.equal(fs.readFileSync(path.join(install, 'conf/server.keystore'), 'utf8'), 'install copy');
  assert.equal(fs.existsSync(path.join(root, 'pwned')), false);

  // Probing again: only the conflict remains, and the check still fails on it.
  const after = planStorage([{ node: 'ucd1', installDir: install, probe: probeOf(install, appdata, root) }], appdata);
  assert.deepEqual(after.moves, []);
  assert.equal(after.conflicts.length, 1);
  const v = storageVerdict(after);
  assert.equal(v.verdict, 'failed');
  assert.match(v.evidence[0], /conf\/server\.keystore exists in the install \(file, 12 bytes\) and in appdata \(file, 12 bytes\)/);
  assert.match(v.hint ?? '', /Decide each conflict/);
  // The user keeps the appdata copy: the step is then done.
  fs.rmSync(path.join(install, 'conf/server.keystore'));
  const done = storageVerdict(planStorage([{ node: 'ucd1', installDir: install, probe: probeOf(install, appdata, root) }], appdata));
  assert.deepEqual(done, { verdict: 'passed', evidence: ['shared appdata layout complete: 7 path(s) in appdata, 1 linked from an install, none left behind'] });
});

test('the move script refuses to overwrite: an existing target stops everything before anything moves', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const { install, appdata } = layout(root, 'ucd1');
  const plan = planStorage([{ node: 'ucd1', installDir: install, probe: probeOf(install, appdata, root) }], appdata);
  // Between planning and moving, someone puts var/repository into appdata.
  write(path.join(appdata, 'var/repository/other'), 'someone else');
  const r = run(storageMoveScript(plan.moves), root);
  assert.equal(r.code, 3);
  const result = parseMoveOutput(r.stdout, plan.moves);
  assert.deepEqual(result.refused.map((x) => [x.move.rel, x.why]), [['var/repository', 'target-exists']]);
  assert.deepEqual(result.moved, []);
  assert.equal(result.done, false);
  assert.ok(fs.existsSync(path.join(install, 'var/plugins/plugin-a.zip')), 'nothing moved');
  assert.ok(!fs.existsSync(path.join(appdata, 'var/repository/ab')), 'no merge into the existing folder');
});

test('several nodes: the first node\'s copy moves, the same path on another node is a duplicate to decide', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const appdata = path.join(root, 'share');
  fs.mkdirSync(appdata);
  const nodes: NodeStorageProbe[] = ['ucd1', 'ucd2'].map((n) => {
    const install = path.join(root, n);
    write(path.join(install, 'conf/encryption.keystore'), `key of ${n}`);
    return { node: n, installDir: install, probe: probeOf(install, appdata, root) };
  });
  const plan = planStorage(nodes, appdata);
  assert.deepEqual(plan.moves.map((m) => [m.node, m.rel]), [['ucd1', 'conf/encryption.keystore']]);
  assert.deepEqual(plan.conflicts.map((c) => [c.node, c.kind]), [['ucd2', 'duplicate']]);
  assert.match(plan.conflicts[0].message, /ucd1's copy/);
  assert.throws(() => storageMoveScript([...plan.moves, { ...plan.moves[0], node: 'ucd2' }]), /one node per script/);
});

test('nothing to do when everything is already in appdata; a missing share is a problem, not a plan', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const install = path.join(root, 'server');
  const appdata = path.join(root, 'share');
  fs.mkdirSync(install);
  for (const p of PRE_6115_SHARED_PATHS) {
    if (p.kind === 'dir') fs.mkdirSync(path.join(appdata, p.rel), { recursive: true });
    else write(path.join(appdata, p.rel), 'x');
  }
  const ok = planStorage([{ node: 'ucd1', installDir: install, probe: probeOf(install, appdata, root) }], appdata);
  assert.equal(ok.nothingToDo, true);
  assert.equal(ok.settled.length, PRE_6115_SHARED_PATHS.length);

  const gone = planStorage([{ node: 'ucd2', installDir: install, probe: probeOf(install, path.join(root, 'not-mounted'), root) }], path.join(root, 'not-mounted'));
  assert.equal(gone.nothingToDo, false);
  assert.match(gone.problems[0], /^ucd2: the shared appdata folder .* does not exist \(is the network storage mounted\?\)/);
});

test('a link to somewhere else is reported, not moved', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const install = path.join(root, 'server');
  const appdata = path.join(root, 'share');
  fs.mkdirSync(appdata);
  write(path.join(root, 'old-nfs/plugins/x'), 'x');
  fs.mkdirSync(path.join(install, 'var'), { recursive: true });
  fs.symlinkSync('../../old-nfs/plugins', path.join(install, 'var/plugins'));
  const plan = planStorage([{ node: 'ucd1', installDir: install, probe: probeOf(install, appdata, root) }], appdata);
  assert.deepEqual(plan.moves, []);
  assert.deepEqual(plan.conflicts.map((c) => [c.rel, c.kind]), [['var/plugins', 'link-elsewhere']]);
});

test('parser: cut-short output and missing paths are problems', () => {
  assert.equal(parseStorageProbe('UCD-STORAGE-PROBE 1\nROOT\tinstall\tdir\n').ok, false);
  const r = parseStorageProbe('UCD-STORAGE-PROBE 1\nROOT\tinstall\tdir\nROOT\tappdata\tdir\nEND\n');
  assert.deepEqual(r, { ok: false, problem: 'the storage probe did not report var/plugins' });
});
