// Issue 10 (items 4 and 6), on a real cluster (OpenSSH nodes, the UCD simulator with a slow check
// before its schema upgrade, a real MariaDB), through the core: while the silent installer runs on
// the first node, the guard probes the nodes that must stay down; a server started on another
// node is the alarm and the installer is stopped before the database with nothing changed. Cancel
// is the core's question: "Let It Run" leaves the installer finishing and the step passed; "Stop
// the Installer" before the schema upgrade leaves nothing changed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { installerHandlers } from '../../src/core/steps/installer';
import { InstallerGuard } from '../../src/core/steps/installerGuard';
import { packageHandlers } from '../../src/core/steps/package';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites();
/** The simulated installer checks for this long before it changes anything: the window to stop it in. */
const PRE_SCHEMA_SECONDS = 25;

interface Run {
  cluster: Cluster;
  session: RunSession;
  pool: SshPool;
  lines: string[];
  asked: { q: string; d: string }[];
  /** What the 'stop-installer' question is answered with. */
  answer: { stop: boolean };
  guard: InstallerGuard;
  installFirst: ReturnType<typeof installerHandlers>;
}

function open(tc: TestCluster, pkg: InstallerPackage): Run {
  const r = loadCluster(tc.clusterFile({ package: { localFile: pkg.file }, installerMode: 'silent', firstNode: 'ucd1' }));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-guard-'));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const transportFor = async (n: Cluster['nodes'][number]) => pool.transport(targetFromNode(n));
  const asked: { q: string; d: string }[] = [];
  const answer = { stop: false };
  const guard = new InstallerGuard({ transportFor, confirm: async (q, d) => (asked.push({ q, d }), answer.stop), everyMs: 1_000 });
  const installFirst = installerHandlers('installFirst', {
    transportFor,
    trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const },
    // No backup in this run: silent mode asks first; the engineer goes on.
    confirm: async () => true,
    handOver: async () => assert.fail('silent mode has no prompt to hand over'),
    pollMs: 300,
    guard,
  });
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), pool, lines: [], asked, answer, guard, installFirst };
}

function ctx(w: Run): ActionContext {
  const log: ActionLog = { info: (m) => w.lines.push(m), warn: (m) => w.lines.push(m), error: (m) => w.lines.push(m) };
  return actionContext({ cluster: w.cluster, session: w.session, target: { step: 'installFirst' }, log, signal: new AbortController().signal });
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} did not appear within ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function installedVersion(tc: TestCluster, node: string): Promise<{ install: string; appdata: string }> {
  const read = async (file: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${file}`)).stdout.trim();
  return { install: await read(`${tc.installDir}/conf/installed.version`), appdata: await read(`${tc.appdataDir}/conf/installed.version`) };
}

async function exists(tc: TestCluster, node: string, file: string): Promise<boolean> {
  return (await tc.inNode(node, `test -e '${file}' && echo yes || true`)).stdout.trim() === 'yes';
}

function latestRun(w: Run): Extract<JournalEvent, { type: 'detached' }> {
  const runs = w.session.journal.events.filter((e): e is Extract<JournalEvent, { type: 'detached' }> => e.type === 'detached');
  const run = runs[runs.length - 1];
  assert.ok(run, 'a detached run in the journal');
  return run;
}

/** Starts step 7 and resolves once the installer runs detached and the guard watches it. */
async function startInstaller(w: Run): Promise<{ done: Promise<void> }> {
  const running = w.installFirst.run!(ctx(w));
  await waitFor('the installer followed by the guard', () => w.guard.running({ step: 'installFirst' }).length === 1, 120_000, () => w.lines.slice(-30).join('\n'));
  // Wrapped: an async function would wait for a promise it returns.
  return { done: running };
}

/** What "nothing changed" means here: the schema, both installed.version files, no half-done markers, the run ended. */
async function assertNothingChanged(tc: TestCluster, w: Run, schemaBefore: readonly string[]): Promise<void> {
  assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore, 'ds_db_version unchanged');
  assert.deepEqual(await installedVersion(tc, 'ucd1'), { install: tc.version, appdata: tc.version }, 'installed.version unchanged, here and in the appdata');
  assert.ok(!(await exists(tc, 'ucd1', `${tc.installDir}/var/sim/upgrade-in-progress`)), 'no partly laid install');
  assert.ok(!(await exists(tc, 'ucd1', `${tc.appdataDir}/var/sim/schema-upgrade-in-progress`)), 'no schema upgrade begun');
  const run = latestRun(w);
  assert.ok(await exists(tc, 'ucd1', `${run.dir}/exit`), 'the stopped run left its exit status');
  const left = await tc.inNode('ucd1', `ps -e -o pid=,sid=,args= | awk '$2 == ${run.pid} && $1 != ${run.pid}'`);
  assert.equal(left.stdout.trim(), '', 'no process of the stopped run is left');
}

describe('the installer guard and Cancel, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  let w: Run;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
    pkg = tc.buildPackage({ preSchemaSeconds: PRE_SCHEMA_SECONDS, schemaUpgradeSeconds: 2 });
    w = open(tc, pkg);
    await packageHandlers({ transportFor: async (n) => w.pool.transport(targetFromNode(n)) }).run!({ ...ctx(w), target: { step: 'package', node: 'ucd1' } });
    assert.equal(w.session.state().get('package@ucd1')?.status, 'passed', w.lines.slice(-20).join('\n'));
  });
  after(async () => {
    w?.session.dispose();
    await w?.pool.closeAll();
    await tc?.stop();
  });

  test('Cancel, then "Stop the Installer" before the schema upgrade: asked first, the installer stopped, nothing changed, the step failed saying so', async () => {
    const schemaBefore = await tc.database!.schemaVersions();
    w.answer.stop = true;
    const running = (await startInstaller(w)).done;
    assert.equal(await w.guard.cancel({ step: 'installFirst' }), 'stopped');
    assert.equal(w.asked.length, 1);
    assert.equal(w.asked[0]!.q, 'Stop the installer on ucd1?');
    assert.match(w.asked[0]!.d, /not reached the database upgrade yet/);
    await running;
    const o = w.session.state().get('installFirst@ucd1');
    assert.ok(o?.status === 'failed', `${JSON.stringify(o)}\n${w.lines.slice(-20).join('\n')}`);
    assert.ok(o.evidence.some((e) => /^the installer was stopped on the engineer's word/.test(e)), JSON.stringify(o.evidence));
    assert.ok(o.evidence.includes('stopped before the database upgrade'), JSON.stringify(o.evidence));
    assert.ok(o.evidence.includes(`conf/installed.version ${tc.version} (unchanged)`), JSON.stringify(o.evidence));
    assert.match(o.hint ?? '', /^Nothing was upgraded/);
    await assertNothingChanged(tc, w, schemaBefore);
  });

  test('a server started on another node while the first node installs: the alarm, and the installer stopped before the schema upgrade with nothing changed', async () => {
    const schemaBefore = await tc.database!.schemaVersions();
    const asked = w.asked.length;
    const running = (await startInstaller(w)).done;
    try {
      await tc.startServer('ucd2');
      await waitFor('the guard alarm in the journal', () => w.session.journal.events.some((e) => e.type === 'guard-alarm'), 30_000, () => w.lines.slice(-30).join('\n'));
      const alarm = w.session.journal.events.find((e) => e.type === 'guard-alarm');
      assert.ok(alarm && alarm.type === 'guard-alarm');
      assert.equal(alarm.server, 'ucd2');
      assert.equal(alarm.node, 'ucd1');
      assert.equal(alarm.action, 'installer-stopped');
      assert.ok(alarm.evidence.some((l) => /listening on :8443/.test(l) || /server process \d+ running/.test(l)), alarm.evidence.join('\n'));
      // The output channel says it while the step still runs (the tree reads the same state).
      assert.ok(w.lines.some((l) => l.startsWith('[ucd1] ALARM: a server is running on ucd2 while the installer runs on ucd1')), w.lines.slice(-20).join('\n'));
      await running;
    } finally {
      await tc.stopServer('ucd2');
    }
    assert.equal(w.asked.length, asked, 'the guard asks nobody');
    const o = w.session.state().get('installFirst@ucd1');
    assert.ok(o?.status === 'failed', `${JSON.stringify(o)}\n${w.lines.slice(-20).join('\n')}`);
    assert.ok(o.evidence.some((e) => e.startsWith('the installer was stopped by the guard: a server is running on ucd2')), JSON.stringify(o.evidence));
    assert.ok(o.evidence.includes('stopped before the database upgrade'), JSON.stringify(o.evidence));
    await assertNothingChanged(tc, w, schemaBefore);
  });

  test('Cancel, then "Let It Run": nothing stopped, the step still running, and the installer finishes with the step passed', async () => {
    const schemaBefore = await tc.database!.schemaVersions();
    w.answer.stop = false;
    const running = (await startInstaller(w)).done;
    const asked = w.asked.length;
    assert.equal(await w.guard.cancel({ step: 'installFirst' }), 'left-running');
    assert.equal(w.asked.length, asked + 1, 'asked first');
    assert.equal(w.session.state().get('installFirst@ucd1')?.status, 'running', 'the step still running, followed');
    assert.deepEqual(w.guard.running({ step: 'installFirst' }), [{ step: 'installFirst', node: 'ucd1' }]);
    await running;
    const o = w.session.state().get('installFirst@ucd1');
    assert.ok(o?.status === 'passed', `${JSON.stringify(o)}\n${w.lines.slice(-30).join('\n')}`);
    assert.ok(o.evidence.includes(`upgraded ${tc.version} → ${pkg.version}`), JSON.stringify(o.evidence));
    assert.ok(o.evidence.includes('database schema upgraded by this node'), JSON.stringify(o.evidence));
    assert.deepEqual(await installedVersion(tc, 'ucd1'), { install: pkg.version, appdata: pkg.version });
    assert.equal((await tc.database!.schemaVersions()).length, schemaBefore.length + 1, 'schema upgraded once');
    assert.ok(!w.session.journal.events.some((e) => e.type === 'guard-alarm' && e.id === latestRun(w).id), 'no alarm while every other node stayed down');
  });
});
