// Issue 10, on a real cluster (OpenSSH nodes, the UCD simulator with a schema upgrade that takes
// seconds, a real MariaDB), through the core: the guided installer runs detached on the node too,
// its answers written to a FIFO the node holds open, so a window that goes away (its run aborted,
// every connection closed) ends nothing there; a new pool and session on the same journal find it
// by run id and pid, answer what is still asked, and record the real outcome. And the node's sshd
// restarted mid-install (its sessions cut, the listener down, then up): the same window follows
// the installer again, guided and silent.
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
import { installerHandlers, type InstallerDeps } from '../../src/core/steps/installer';
import type { InstallerHandle } from '../../src/core/steps/installerHandle';
import type { InstallerSession } from '../../src/core/steps/installerInput';
import { packageHandlers } from '../../src/core/steps/package';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites();
const SCHEMA_SECONDS = 8;

interface Window {
  cluster: Cluster;
  session: RunSession;
  pool: SshPool;
  lines: string[];
  ws: string;
  handles: InstallerHandle[];
  installFirst: ReturnType<typeof installerHandlers>;
}

type Extra = Partial<Pick<InstallerDeps, 'confirm' | 'handOver'>>;

/** One editor window: its own SSH pool and its own session on the workspace's journal. */
function openWindow(tc: TestCluster, text: string, ws: string, extra: Extra = {}): Window {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const handles: InstallerHandle[] = [];
  const installFirst = installerHandlers('installFirst', {
    transportFor: async (n) => pool.transport(targetFromNode(n)),
    trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const },
    // No backup in this run: the NOTICE is asked; the engineer goes on.
    confirm: async () => true,
    handOver: async (_n, _s, _b, why) => assert.fail(`no prompt of this upgrade is unknown: ${why}`),
    onInstaller: (h) => handles.push(h),
    pollMs: 300,
    quietMs: 1_500,
    ...extra,
  });
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), pool, lines: [], ws, handles, installFirst };
}

function ctx(w: Window, signal: AbortSignal = new AbortController().signal): ActionContext {
  const log: ActionLog = { info: (m) => w.lines.push(m), warn: (m) => w.lines.push(m), error: (m) => w.lines.push(m) };
  return actionContext({ cluster: w.cluster, session: w.session, target: { step: 'installFirst' }, log, signal });
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} did not appear within ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function alive(tc: TestCluster, node: string, pid: number): Promise<boolean> {
  return (await tc.inNode(node, `cat /proc/${pid}/cmdline 2>/dev/null | head -c 1 | wc -c`)).stdout.trim() === '1';
}

async function installedVersion(tc: TestCluster, node: string): Promise<{ install: string; appdata: string }> {
  const read = async (file: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${file}`)).stdout.trim();
  return { install: await read(`${tc.installDir}/conf/installed.version`), appdata: await read(`${tc.appdataDir}/conf/installed.version`) };
}

function journal(w: Window) {
  return parseJournal(fs.readFileSync(w.session.journalFile, 'utf8')).events;
}

function detachedRun(w: Window) {
  const run = journal(w).find((e) => e.type === 'detached');
  assert.ok(run && run.type === 'detached', 'the run id, pid and folder are in the journal');
  return run;
}

async function schemaUpgrading(tc: TestCluster, node: string): Promise<boolean> {
  const marker = `${tc.appdataDir}/var/sim/schema-upgrade-in-progress`;
  return (await tc.inNode(node, `grep -qx 'node=${node}' '${marker}' 2>/dev/null && echo yes || true`)).stdout.trim() === 'yes';
}

/**
 * What a node's sshd restart does to the client: its sessions are cut (each connection's sshd is
 * a child of the listener, ended by its pid) and, for a while, nothing listens on port 22.
 */
async function cutSshd(tc: TestCluster, node: string): Promise<void> {
  const r = await tc.inNode(node, `p=$(cat /run/sshd.pid) && kids=$(ps -o pid= --ppid "$p") && kill $kids "$p" && echo "ended $p $kids"`);
  assert.equal(r.code, 0, `cutting sshd on ${node}: ${r.stdout}${r.stderr}`);
  await tc.setFault(node, 'sshdDown', true);
}

interface Plan {
  node: string;
  version: string;
  mode: 'guided' | 'silent';
  extraPrompt?: string;
}

/**
 * Each test upgrades one node from the cluster's version to its own, higher one, so each meets a
 * real schema upgrade: the node and the shared appdata are set back to the old version first.
 */
async function prepare(tc: TestCluster, plan: Plan, extra: Extra = {}): Promise<{ text: string; first: Window; schemaBefore: string[] }> {
  tc.setInstalledVersion({ node: plan.node }, tc.version);
  tc.setInstalledVersion('appdata', tc.version);
  const pkg = tc.buildPackage({ version: plan.version, schemaUpgradeSeconds: SCHEMA_SECONDS, ...(plan.extraPrompt ? { extraPrompt: plan.extraPrompt } : {}) });
  const text = tc.clusterFile({ package: { localFile: pkg.file }, installerMode: plan.mode, firstNode: plan.node, targetVersion: plan.version });
  const first = openWindow(tc, text, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-detached-guided-')), extra);
  await packageHandlers({ transportFor: async (n) => first.pool.transport(targetFromNode(n)) }).run!({ ...ctx(first), target: { step: 'package', node: plan.node } });
  assert.equal(first.session.state().get(`package@${plan.node}`)?.status, 'passed', first.lines.slice(-20).join('\n'));
  return { text, first, schemaBefore: await tc.database!.schemaVersions() };
}

/** A reload: the run aborted, every connection closed; nothing recorded as its outcome. */
async function reload(w: Window, reloading: AbortController, running: Promise<void>, node: string): Promise<void> {
  reloading.abort();
  await w.pool.closeAll();
  await running;
  const events = journal(w);
  assert.ok(!events.some((e) => (e.type === 'finished' || e.type === 'interrupted') && e.step === 'installFirst'), `nothing recorded as the outcome of a run this window let go of: ${JSON.stringify(events.slice(-3))}`);
  assert.equal(w.session.state().get(`installFirst@${node}`)?.status, 'running');
  w.session.dispose();
}

async function assertPassed(tc: TestCluster, w: Window, plan: Plan, schemaBefore: string[], how: RegExp): Promise<void> {
  const o = w.session.state().get(`installFirst@${plan.node}`);
  assert.equal(o?.status, 'passed', `${JSON.stringify(o)}\n${w.lines.slice(-40).join('\n')}`);
  assert.ok(o && 'evidence' in o);
  assert.ok(o.evidence.includes(`upgraded ${tc.version} → ${plan.version}`), JSON.stringify(o.evidence));
  assert.ok(o.evidence.includes('database schema upgraded by this node'), JSON.stringify(o.evidence));
  assert.ok(o.evidence.some((e) => how.test(e)), `${how} in ${JSON.stringify(o.evidence)}`);
  assert.deepEqual(await installedVersion(tc, plan.node), { install: plan.version, appdata: plan.version });
  const schemaAfter = await tc.database!.schemaVersions();
  assert.equal(schemaAfter.length, schemaBefore.length + 1, `schema upgraded exactly once: ${schemaAfter.join(', ')}`);
}

describe('the guided installer runs detached on the node and is followed again; sshd restarted mid-install, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
  });
  after(async () => {
    await tc?.stop();
  });

  test('guided: the window goes away while the NOTICE waits for the engineer; a new window re-attaches, asks, answers it, and records the upgrade passed', async () => {
    const plan: Plan = { node: 'ucd1', version: '7.1.0.0', mode: 'guided' };
    let asked!: () => void;
    const noticeAsked = new Promise<void>((r) => (asked = r));
    // The first window's engineer never answers: the question is open when the window goes.
    const { text, first, schemaBefore } = await prepare(tc, plan, { confirm: () => (asked(), new Promise<boolean>(() => undefined)) });
    const reloading = new AbortController();
    const running = first.installFirst.run!(ctx(first, reloading.signal));
    await noticeAsked;
    const run = detachedRun(first);
    assert.equal(run.input, `${run.dir}/in`, 'the journal names the input FIFO');
    const answered = first.lines.filter((l) => l.startsWith('[ucd1] answered '));
    for (const p of ['installDirectory', 'upgradeConfirm']) assert.ok(answered.some((l) => l.startsWith(`[ucd1] answered ${p}:`)), `${p} answered: ${answered.join(' | ')}`);
    await reload(first, reloading, running, plan.node);
    assert.ok(await alive(tc, plan.node, run.pid), 'the installer waits at the NOTICE on the node, not killed by the closed connections');
    assert.ok(!(await schemaUpgrading(tc, plan.node)), 'nothing past the NOTICE yet');

    let secondAsked = 0;
    const second = openWindow(tc, text, first.ws, { confirm: async () => (secondAsked++, true) });
    try {
      assert.deepEqual(second.session.detachedOnOpen.map((d) => [d.run.runId, d.run.input]), [[run.runId, run.input]]);
      await second.installFirst.check!(ctx(second));
      assert.equal(secondAsked, 1, 'the NOTICE asked again in the new window, once');
      assert.deepEqual(second.lines.filter((l) => l.startsWith('[ucd1] answered ')).map((l) => l.split(':')[0]), ['[ucd1] answered notice'], `only the NOTICE is typed by the new window:\n${second.lines.join('\n')}`);
      await assertPassed(tc, second, plan, schemaBefore, new RegExp(`^re-attached to the installer on ucd1 \\(run ${run.runId}, pid ${run.pid}\\)`));
      assert.equal(second.handles.length, 1, 'the re-attached installer has a handle');
      assert.equal(second.handles[0].phase(), 'ended');
      // Nothing typed stays on the node: the FIFO holds no data, `answered` only offsets and names.
      const files = (await tc.inNode(plan.node, `cd '${run.dir}' && for f in *; do printf '%s %s\\n' "$f" "$(stat -c %F "$f")"; done`)).stdout.trim().split('\n');
      assert.deepEqual(files.sort(), ['answered regular file', 'exit regular file', 'gate fifo', 'in fifo', 'log regular file', 'pid regular file']);
      const keys = (await tc.inNode(plan.node, `cat '${run.dir}/answered'`)).stdout.trim().split('\n');
      assert.equal(keys.length, answered.length + 1, `one key per answer typed, in both windows: ${keys.join(' | ')}`);
      for (const k of keys) assert.match(k, /^\d+ (upgradeDirectory|javaHome|installDirectory|upgradeConfirm|notice)$/);
    } finally {
      second.session.dispose();
      await second.pool.closeAll();
    }
  });

  test('guided: every connection closed mid-schema-upgrade; the installer finishes on the node; a new pool and session re-attach and record it passed', async () => {
    const plan: Plan = { node: 'ucd2', version: '7.2.0.0', mode: 'guided' };
    const { text, first, schemaBefore } = await prepare(tc, plan);
    const reloading = new AbortController();
    const running = first.installFirst.run!(ctx(first, reloading.signal));
    await waitFor('the schema upgrade in progress on ucd2', () => schemaUpgrading(tc, plan.node), 120_000, () => first.lines.slice(-30).join('\n'));
    assert.equal(first.handles.length, 1);
    await waitFor('the handle in the schema-upgrade phase', () => first.handles[0].phase() === 'schema-upgrade', 10_000, () => `phase ${first.handles[0].phase()}\n${first.lines.slice(-10).join('\n')}`);
    const run = detachedRun(first);
    await reload(first, reloading, running, plan.node);
    assert.ok(await alive(tc, plan.node, run.pid), 'the installer outlived the connections');

    const second = openWindow(tc, text, first.ws);
    try {
      await second.installFirst.check!(ctx(second));
      await assertPassed(tc, second, plan, schemaBefore, new RegExp(`^re-attached to the installer on ucd2 \\(run ${run.runId}, pid ${run.pid}\\)`));
      const finished = journal(second).filter((e) => e.type === 'finished' && e.step === 'installFirst');
      assert.deepEqual(finished.map((e) => e.type === 'finished' && e.id), [run.id], 'recorded on the run that started it');
    } finally {
      second.session.dispose();
      await second.pool.closeAll();
    }
  });

  test('guided: an unknown prompt handed over, the window reloaded before anyone answered; the new window hands it over again and the person finishes it', async () => {
    const plan: Plan = { node: 'ucd1', version: '7.3.0.0', mode: 'guided', extraPrompt: 'Enter the port of the new agent relay. [Default: 7916]' };
    let handedOver!: () => void;
    const firstHandOver = new Promise<void>((r) => (handedOver = r));
    const { text, first, schemaBefore } = await prepare(tc, plan, { handOver: async (_n, _s, backlog) => (assert.match(backlog, /agent relay/), handedOver()) });
    const reloading = new AbortController();
    const running = first.installFirst.run!(ctx(first, reloading.signal));
    await firstHandOver;
    await reload(first, reloading, running, plan.node);

    const sessions: { session: InstallerSession; backlog: string }[] = [];
    const second = openWindow(tc, text, first.ws, {
      // The engineer in the new window's terminal: reads the question, presses Enter for the default.
      handOver: async (_n, session, backlog) => {
        sessions.push({ session, backlog });
        session.write('\r');
      },
    });
    try {
      await second.installFirst.check!(ctx(second));
      assert.equal(sessions.length, 1, 'handed over again, once');
      assert.match(sessions[0].backlog, /agent relay/, 'the terminal shows what the installer printed before the reload');
      assert.deepEqual(await sessions[0].session.exit, { code: 0 }, 'the terminal learns the installer ended');
      await assertPassed(tc, second, plan, schemaBefore, /^re-attached to the installer on ucd1/);
    } finally {
      second.session.dispose();
      await second.pool.closeAll();
    }
  });

  test('guided: the installer killed on the node mid-schema-upgrade; the same journal records it interrupted, and Check in a workspace with no journal of it names the node half-upgraded', async () => {
    const plan: Plan = { node: 'ucd1', version: '7.6.0.0', mode: 'guided' };
    const { text, first, schemaBefore } = await prepare(tc, plan);
    const reloading = new AbortController();
    const running = first.installFirst.run!(ctx(first, reloading.signal));
    await waitFor('the schema upgrade in progress on ucd1', () => schemaUpgrading(tc, plan.node), 120_000, () => first.lines.slice(-30).join('\n'));
    const run = detachedRun(first);
    await reload(first, reloading, running, plan.node);
    // What an OOM killer or a reboot does: the whole detached session gone, no exit status written.
    const killed = await tc.inNode(plan.node, `kill -9 -${run.pid}`);
    assert.equal(killed.code, 0, killed.stderr);
    await waitFor('the detached installer gone from ucd1', async () => !(await alive(tc, plan.node, run.pid)), 15_000, () => '');
    const same = openWindow(tc, text, first.ws);
    const fresh = openWindow(tc, text, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-detached-guided-nojournal-')));
    try {
      await same.installFirst.check!(ctx(same));
      const o = same.session.state().get('installFirst@ucd1');
      assert.equal(o?.status, 'interrupted', JSON.stringify(o));
      assert.match(o?.status === 'interrupted' ? o.reason ?? '' : '', /may be half-upgraded/);

      assert.equal(fresh.session.state().get('installFirst@ucd1'), undefined, 'this journal knows nothing of the run');
      await fresh.installFirst.check!(ctx(fresh));
      const c = fresh.session.state().get('installFirst@ucd1');
      assert.equal(c?.status, 'failed', JSON.stringify(c));
      assert.ok(c && 'evidence' in c);
      assert.ok(c.evidence.some((e) => e.includes('ucd1 may be half-upgraded') && e.includes(run.runId) && e.includes('gone without an exit status')), JSON.stringify(c.evidence));
      assert.ok((c.hint ?? '').includes(`${run.dir}/log`) && /ds_db_version/.test(c.hint ?? '') && /installed\.version/.test(c.hint ?? ''), c.hint);
      assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore, 'killed before the schema was written');
    } finally {
      for (const w of [same, fresh]) {
        w.session.dispose();
        await w.pool.closeAll();
      }
      await tc.inNode(plan.node, `rm -f '${tc.appdataDir}/var/sim/schema-upgrade-in-progress' '${tc.installDir}/var/sim/upgrade-in-progress'`);
    }
  });

  for (const mode of ['guided', 'silent'] as const) {
    test(`${mode}: the node's sshd restarted mid-schema-upgrade, its sessions cut; the installer finishes and the same window follows it again and records it passed`, async () => {
      const plan: Plan = { node: 'ucd2', version: mode === 'guided' ? '7.4.0.0' : '7.5.0.0', mode };
      const { first: w, schemaBefore } = await prepare(tc, plan);
      try {
        const running = w.installFirst.run!(ctx(w));
        await waitFor(`the schema upgrade in progress on ucd2`, () => schemaUpgrading(tc, plan.node), 120_000, () => w.lines.slice(-30).join('\n'));
        const run = detachedRun(w);
        await cutSshd(tc, plan.node);
        await waitFor('the window saying the connection is lost', () => w.lines.some((l) => l.includes('connection to ucd2 lost') && l.includes('the installer keeps running there')), 30_000, () => w.lines.slice(-20).join('\n'));
        assert.ok(await alive(tc, plan.node, run.pid), 'the installer outlived its sshd');
        await tc.setFault(plan.node, 'sshdDown', false);
        await running;
        assert.ok(w.lines.some((l) => /^\[ucd2\] connection to ucd2 back after \d+ s; following the installer again from byte \d+/.test(l)), w.lines.slice(-20).join('\n'));
        await assertPassed(tc, w, plan, schemaBefore, /^proof .* old/);
      } finally {
        await tc.setFault(plan.node, 'sshdDown', false);
        w.session.dispose();
        await w.pool.closeAll();
      }
    });
  }
});
