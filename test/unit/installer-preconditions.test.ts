// Step 7's storage precondition, probed now through a real shell on this machine (the SSH
// transport plugs in at the same `transportFor`): an upgrade that starts below 6.1.1.5 needs the
// shared folders in appdata before the installer runs, whatever step 6's record says; and a node
// whose own installed.version is below 6.1.1.5 contradicts a cluster file that says otherwise.
// Assertions stay on the storage lines: the stopped-proof on this machine is step 5's own tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { ActionContext } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { installerHandlers } from '../../src/core/steps/installer';
import { provePreconditions } from '../../src/core/steps/installerPreconditions';
import { READY_MARKER } from '../../src/core/ucd/installer/startGate';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { IsolatedShell, isolationUnavailable } from '../support/isolatedShell';
import { freePort } from '../support/localShell';
import { actionContext } from '../../src/core/runbook/runner';

function install(root: string, name: string, version: string, shared: string[]): string {
  const dir = path.join(root, name);
  for (const d of ['var', 'conf', 'bin']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/installed.version'), `installed.version=${version}\n`);
  for (const rel of shared) fs.mkdirSync(path.join(dir, rel), { recursive: true });
  return dir;
}

async function clusterOf(root: string, currentVersion: string, installs: string[]): Promise<Cluster> {
  const nodes = await Promise.all(installs.map(async (dir, i) => ({ name: `ucd${i + 1}`, host: `127.0.0.${i + 1}`, user: 'ucd', installDir: dir, httpsPort: await freePort(), jmsPort: await freePort() })));
  const r = loadCluster(JSON.stringify({
    name: 'local',
    currentVersion,
    targetVersion: '7.1.2.0',
    firstNode: 'ucd1',
    sharedAppdata: path.join(root, 'appdata'),
    loadBalancerUrl: 'https://lb.example.test',
    ucd: { url: 'https://lb.example.test', credential: 'ucd-admin' },
    database: { type: 'mariadb', backup: { command: 'true', artifact: '/tmp/x.sql' } },
    package: { remotePath: '/tmp/ibm-ucd-install' },
    nodes,
  }));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function context(cluster: Cluster): ActionContext & { session: RunSession } {
  const session = RunSession.open(cluster, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-')));
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return { ...actionContext({ cluster, session, target: { step: 'installFirst' }, log, signal: new AbortController().signal }), session };
}

// Each node an isolated machine, so a UCD server elsewhere on this host is not on "the node".
const shells = new Map<string, IsolatedShell>();
const deps = {
  transportFor: async (n: { name: string }) => shells.get(n.name) ?? shells.set(n.name, new IsolatedShell(n.name)).get(n.name)!,
  trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'cancel' as const },
};

function root(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-pre-'));
  fs.mkdirSync(path.join(r, 'appdata/var'), { recursive: true });
  return r;
}

test('step 7 before 6.1.1.5: var/plugins still in the install refuses the installer, whatever step 6 recorded', { skip: isolationUnavailable() }, async () => {
  const r = root();
  const cluster = await clusterOf(r, '6.1.0.0', [install(r, 'n1', '6.1.0.0', ['var/plugins']), install(r, 'n2', '6.1.0.0', [])]);
  const ctx = context(cluster);
  // A person's word on step 6 does not replace the probe when something is left to move.
  ctx.session.confirm({ step: 'storage' }, 'moved it last week');
  shells.clear();
  await installerHandlers('installFirst', { ...deps, confirm: async () => assert.fail('nothing is asked before the preconditions hold'), handOver: async () => undefined }).run!(ctx);
  const o = ctx.session.state().get('installFirst@ucd1');
  assert.ok(o && o.status === 'failed' && 'evidence' in o, JSON.stringify(o));
  assert.equal(o.evidence[0], 'the installer was NOT started');
  const storage = o.evidence.find((e) => e.startsWith('network storage is not updated'));
  assert.ok(storage, JSON.stringify(o.evidence));
  assert.match(storage, /the upgrade starts at 6\.1\.0\.0, before 6\.1\.1\.5/);
  assert.ok(storage.includes(`to move: ucd1: ${path.join(r, 'n1/var/plugins')} → ${path.join(r, 'appdata/var/plugins')}`), storage);
  assert.ok(![...shells.values()].some((s) => s.shell.commands.some((c) => c.command.includes(READY_MARKER) || c.command.includes('install-server.sh'))), 'no installer command was sent');
});

test('step 7 before 6.1.1.5: with everything in appdata the storage precondition holds; a conflict needs a person\'s decision on step 6', { skip: isolationUnavailable() }, async () => {
  const r = root();
  fs.mkdirSync(path.join(r, 'appdata/var/plugins'), { recursive: true });
  const cluster = await clusterOf(r, '6.1.0.0', [install(r, 'n1', '6.1.0.0', []), install(r, 'n2', '6.1.0.0', [])]);
  const ctx = context(cluster);
  shells.clear();
  const ok = await provePreconditions(ctx, deps, 'installFirst', 'ucd1');
  const storageLines = (p: typeof ok) => (p.ok ? p.evidence : p.failures).filter((l) => /storage/.test(l));
  assert.deepEqual(storageLines(ok), ok.ok ? ['network storage layout updated (probed)'] : [], JSON.stringify(ok));

  // Both the install and appdata hold var/sa: a conflict only a person can decide.
  fs.mkdirSync(path.join(r, 'n2/var/sa'), { recursive: true });
  fs.mkdirSync(path.join(r, 'appdata/var/sa'), { recursive: true });
  const conflict = await provePreconditions(ctx, deps, 'installFirst', 'ucd1');
  assert.equal(conflict.ok, false);
  assert.match(storageLines(conflict)[0] ?? '', /^network storage is not updated .*ucd2: var\/sa exists in the install .* and in appdata/);
  ctx.session.confirm({ step: 'storage' }, 'var/sa compared, the appdata copy is current');
  const decided = await provePreconditions(ctx, deps, 'installFirst', 'ucd1');
  assert.deepEqual(storageLines(decided).filter((l) => l.startsWith('network storage is not updated')), [], 'the recorded decision covers the conflict');
});

test('step 7 from 6.1.1.5: no storage probe, but a node that itself runs an older version refuses the installer', { skip: isolationUnavailable() }, async () => {
  const r = root();
  const cluster = await clusterOf(r, '7.0.5.0', [install(r, 'n1', '7.0.5.0', ['var/plugins']), install(r, 'n2', '6.1.0.0', [])]);
  const ctx = context(cluster);
  shells.clear();
  const p = await provePreconditions(ctx, deps, 'installFirst', 'ucd1');
  assert.equal(p.ok, false);
  assert.ok(!p.ok && p.failures.includes('the cluster file says the upgrade starts at 7.0.5.0, but ucd2 (6.1.0.0) run a version before 6.1.1.5: the storage layout must be updated first'), JSON.stringify(p));
  assert.ok(![...shells.values()].some((s) => s.shell.commands.some((c) => c.command.includes('UCD-STORAGE-PROBE'))), 'the storage layout is not probed from 6.1.1.5 on');
});
