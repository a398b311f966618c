// Issue 10, on a real cluster (OpenSSH nodes, the UCD simulator with a schema upgrade that takes
// seconds, a real MariaDB), through the core: the silent installer runs detached on the node, so
// a window that goes away mid-schema-upgrade (its run aborted, every connection closed) ends
// nothing there. A new pool and a new session on the same journal find it by its recorded run id
// and pid and record its real outcome; an installer whose process is gone without an exit status
// is "interrupted" with what to look at, and the node's markers show it half-done.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { parseJournal } from '../../src/core/journal/journal';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { installerHandlers } from '../../src/core/steps/installer';
import { packageHandlers } from '../../src/core/steps/package';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites();
const SCHEMA_SECONDS = 8;

interface Window {
  cluster: Cluster;
  session: RunSession;
  pool: SshPool;
  lines: string[];
  ws: string;
  installFirst: ReturnType<typeof installerHandlers>;
}

/** One editor window: its own SSH pool and its own session on the workspace's journal. */
function openWindow(tc: TestCluster, text: string, ws: string, silenceLogMs?: number): Window {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const installFirst = installerHandlers('installFirst', {
    transportFor: async (n) => pool.transport(targetFromNode(n)),
    trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const },
    // No backup in this run: silent mode asks first; the engineer goes on.
    confirm: async () => true,
    handOver: async () => assert.fail('silent mode has no prompt to hand over'),
    pollMs: 300,
    ...(silenceLogMs !== undefined ? { silenceLogMs } : {}),
  });
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), pool, lines: [], ws, installFirst };
}

function ctx(w: Window, signal: AbortSignal = new AbortController().signal): ActionContext {
  const log: ActionLog = { info: (m) => w.lines.push(m), warn: (m) => w.lines.push(m), error: (m) => w.lines.push(m) };
  return actionContext({ cluster: w.cluster, session: w.session, target: { step: 'installFirst' }, log, signal });
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} did not appear within ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A live process (a zombie has no command line). */
async function alive(tc: TestCluster, node: string, pid: number): Promise<boolean> {
  return (await tc.inNode(node, `cat /proc/${pid}/cmdline 2>/dev/null | head -c 1 | wc -c`)).stdout.trim() === '1';
}

async function exists(tc: TestCluster, node: string, file: string): Promise<boolean> {
  return (await tc.inNode(node, `test -e '${file}' && echo yes || true`)).stdout.trim() === 'yes';
}

async function installedVersion(tc: TestCluster, node: string): Promise<{ install: string; appdata: string }> {
  const read = async (file: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${file}`)).stdout.trim();
  return { install: await read(`${tc.installDir}/conf/installed.version`), appdata: await read(`${tc.appdataDir}/conf/installed.version`) };
}

function journal(w: Window) {
  return parseJournal(fs.readFileSync(w.session.journalFile, 'utf8')).events;
}

/**
 * Stages the package, starts step 7 in silent mode and, while the schema upgrade runs, does what a
 * window reload does: aborts the run and closes every connection. Returns the first window.
 */
async function leaveMidSchemaUpgrade(tc: TestCluster, pkg: InstallerPackage, firstNode: string): Promise<{ text: string; first: Window }> {
  const text = tc.clusterFile({ package: { localFile: pkg.file }, installerMode: 'silent', firstNode });
  const first = openWindow(tc, text, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-detached-')));
  await packageHandlers({ transportFor: async (n) => first.pool.transport(targetFromNode(n)) }).run!({ ...ctx(first), target: { step: 'package', node: firstNode } });
  assert.equal(first.session.state().get(`package@${firstNode}`)?.status, 'passed', first.lines.slice(-20).join('\n'));
  const reload = new AbortController();
  const running = first.installFirst.run!(ctx(first, reload.signal));
  const marker = `${tc.appdataDir}/var/sim/schema-upgrade-in-progress`;
  assert.ok(!(await exists(tc, firstNode, marker)), 'no schema upgrade in progress before the run');
  const upgrading = async () => (await tc.inNode(firstNode, `grep -qx 'node=${firstNode}' '${marker}' 2>/dev/null && echo yes || true`)).stdout.trim() === 'yes';
  await waitFor(`the schema upgrade in progress on ${firstNode}`, upgrading, 120_000, () => first.lines.slice(-30).join('\n'));
  reload.abort();
  await first.pool.closeAll();
  await running;
  const events = journal(first);
  assert.ok(!events.some((e) => (e.type === 'finished' || e.type === 'interrupted') && e.step === 'installFirst'), `nothing recorded as the outcome of a run this window let go of: ${JSON.stringify(events.slice(-3))}`);
  const detached = events.filter((e) => e.type === 'detached');
  assert.equal(detached.length, 1, 'the run id, pid and folder are in the journal');
  const started = events.findIndex((e) => e.type === 'started' && e.step === 'installFirst');
  const go = first.lines.findIndex((l) => l.startsWith(`[${firstNode}] starting the installer:`));
  assert.ok(started >= 0 && go >= 0, first.lines.join('\n'));
  assert.equal(first.session.state().get(`installFirst@${firstNode}`)?.status, 'running');
  assert.ok(first.lines.some((l) => l.includes(`It keeps running on ${firstNode}`)), first.lines.slice(-10).join('\n'));
  first.session.dispose();
  return { text, first };
}

describe('the silent installer runs detached on the node and is found again, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
    pkg = tc.buildPackage({ schemaUpgradeSeconds: SCHEMA_SECONDS });
  });
  after(async () => {
    await tc?.stop();
  });

  test('the process killed on the node mid-schema-upgrade: a new window records it interrupted, says the node may be half-upgraded, and the markers show it', async () => {
    const schemaBefore = await tc.database!.schemaVersions();
    const { text, first } = await leaveMidSchemaUpgrade(tc, pkg, 'ucd1');
    const run = journal(first).find((e) => e.type === 'detached');
    assert.ok(run && run.type === 'detached');
    // What an OOM killer or a reboot does: the whole detached session gone, no exit status written.
    const killed = await tc.inNode('ucd1', `kill -9 -${run.pid}`);
    assert.equal(killed.code, 0, `kill on ucd1: ${killed.stderr}`);
    await waitFor('the detached installer gone from ucd1', async () => !(await alive(tc, 'ucd1', run.pid)), 15_000, () => '');

    const second = openWindow(tc, text, first.ws);
    try {
      assert.deepEqual(second.session.interruptedOnOpen, [], 'a detached installer is not interrupted by a reload');
      assert.deepEqual(second.session.detachedOnOpen.map((d) => [d.target.node, d.run.pid]), [['ucd1', run.pid]]);
      await second.installFirst.check!(ctx(second));
      const o = second.session.state().get('installFirst@ucd1');
      assert.equal(o?.status, 'interrupted', JSON.stringify(o));
      assert.ok(o?.status === 'interrupted' && o.reason, 'with a reason');
      assert.match(o.reason ?? '', /gone without an exit status/);
      assert.match(o.reason ?? '', /may be half-upgraded/);
      assert.match(o.reason ?? '', /installed\.version/);
      assert.match(o.reason ?? '', /ds_db_version/);
      assert.ok((o.reason ?? '').includes(`${run.dir}/log`));
      // The simulator is as fragile as the product: the node is left half-done, and shows it.
      assert.ok(await exists(tc, 'ucd1', `${tc.installDir}/var/sim/upgrade-in-progress`), 'the install keeps its in-progress marker');
      assert.ok(await exists(tc, 'ucd1', `${tc.appdataDir}/var/sim/schema-upgrade-in-progress`), 'the appdata keeps its schema marker');
      assert.deepEqual(await installedVersion(tc, 'ucd1'), { install: tc.version, appdata: tc.version });
      assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore, 'killed before the schema was written');
    } finally {
      second.session.dispose();
      await second.pool.closeAll();
      // Leave the shared appdata as a killed installer left it, minus the schema marker, so the
      // next test's first node meets a clean database upgrade.
      await tc.inNode('ucd1', `rm -f '${tc.appdataDir}/var/sim/schema-upgrade-in-progress'`);
    }
  });

  test('every connection closed mid-schema-upgrade: the installer finishes on the node; a new pool and session re-attach and record it passed, schema upgraded once', async () => {
    const schemaBefore = await tc.database!.schemaVersions();
    const { text, first } = await leaveMidSchemaUpgrade(tc, pkg, 'ucd2');
    const run = journal(first).find((e) => e.type === 'detached');
    assert.ok(run && run.type === 'detached');
    assert.ok(await alive(tc, 'ucd2', run.pid), 'the installer outlived the connections');

    const second = openWindow(tc, text, first.ws, 2_000);
    try {
      assert.deepEqual(second.session.interruptedOnOpen, []);
      assert.deepEqual(second.session.detachedOnOpen.map((d) => d.run.runId), [run.runId]);
      assert.equal(second.session.view().find((s) => s.def.id === 'installFirst')?.nodes.find((n) => n.node === 'ucd2')?.state, 'running');
      await second.installFirst.check!(ctx(second));
      const o = second.session.state().get('installFirst@ucd2');
      assert.equal(o?.status, 'passed', `${JSON.stringify(o)}\n${second.lines.slice(-30).join('\n')}`);
      assert.ok(o && 'evidence' in o, JSON.stringify(o));
      assert.ok(o.evidence.includes(`upgraded ${tc.version} → ${pkg.version}`), JSON.stringify(o.evidence));
      assert.ok(o.evidence.includes('database schema upgraded by this node'), JSON.stringify(o.evidence));
      assert.ok(o.evidence.some((e) => e.startsWith(`re-attached to the installer on ucd2 (run ${run.runId}, pid ${run.pid})`)), JSON.stringify(o.evidence));
      // Recorded on the run that started it, by the second window.
      const finished = journal(second).filter((e) => e.type === 'finished' && e.step === 'installFirst');
      assert.deepEqual(finished.map((e) => e.type === 'finished' && e.id), [run.id]);
      assert.deepEqual(await installedVersion(tc, 'ucd2'), { install: pkg.version, appdata: pkg.version });
      assert.ok(!(await exists(tc, 'ucd2', `${tc.installDir}/var/sim/upgrade-in-progress`)), 'the install finished: no in-progress marker');
      const schemaAfter = await tc.database!.schemaVersions();
      assert.equal(schemaAfter.length, schemaBefore.length + 1, `schema upgraded exactly once: ${schemaAfter.join(', ')}`);
      assert.ok(second.lines.some((l) => l.includes('Upgraded the database schema')), 'the log was followed from the start');
      // The schema upgrade is silent for seconds: said, and nothing hangs up.
      assert.ok(second.lines.some((l) => /^\[ucd2\] still running on ucd2, last output \d+ s ago$/.test(l)), second.lines.join('\n'));
    } finally {
      second.session.dispose();
      await second.pool.closeAll();
    }
  });
});
