// Issue 8, on a real cluster (OpenSSH nodes, the UCD simulator, a real MariaDB): the installer and
// restart steps prove their own preconditions with fresh probes, whatever the journal or the view
// say. Every handler is called directly, with no gate in front of it.
//  - step 9 on ucd2 while ucd1 was never upgraded and still serves 7.0.5.0: refused (today's main
//    upgraded ucd2 and let it upgrade the database schema itself);
//  - steps 8 and 10 start nothing on a node that is not upgraded;
//  - a server started on another node while the installer's channel opens (guided and silent):
//    the proof is too old at the wrapper's ready line, proven again, and the installer never starts;
//  - the NOTICE without a backup in this run: the engineer is asked, and "Stop Here" ends the
//    installer before the upgrade begins;
//  - and the way through: proven again and passing, the installer runs; step 9 waits for the first
//    node back online, then upgrades ucd2 without touching the schema.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JournalEvent } from '../../src/core/journal/events';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import type { ActionContext, ActionLog, RunAndCheck } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode, type SshTransport } from '../../src/core/remote/ssh';
import type { ExecOptions, Transport } from '../../src/core/remote/transport';
import { installerHandlers, type InstallerDeps } from '../../src/core/steps/installer';
import { startHandlers } from '../../src/core/steps/start';
import { packageHandlers } from '../../src/core/steps/package';
import { NOT_STARTED_MARKER } from '../../src/core/ucd/installer/startGate';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites();

interface Rig {
  cluster: Cluster;
  session: RunSession;
  lines: string[];
  pool: SshPool;
  transportFor: (n: ClusterNode) => Promise<SshTransport>;
  trust: InstallerDeps['trust'];
}

/** Step 3's records from the one staging in before(): each test's run starts from that staged package. */
let staged: readonly JournalEvent[] = [];

function rig(tc: TestCluster, overrides: Record<string, unknown>): Rig {
  const r = loadCluster(tc.clusterFile(overrides));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-preconds-'));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  // The simulator's self-signed certificates, trusted as a user would after looking at them.
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'always' as const };
  const session = RunSession.open(r.cluster, ws);
  for (const e of staged) session.journal.append(e);
  return { cluster: r.cluster, session, lines: [], pool, transportFor: async (n) => pool.transport(targetFromNode(n)), trust };
}

function ctx(r: Rig, step: StepId, node?: string): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  return actionContext({ cluster: r.cluster, session: r.session, target: node ? { step, node } : { step }, log, signal: new AbortController().signal });
}

async function act(r: Rig, h: RunAndCheck, step: StepId, node?: string): Promise<void> {
  assert.ok(h.run);
  await h.run(ctx(r, step, node));
}

function result(r: Rig, key: string): { status: string; evidence: readonly string[]; hint?: string } {
  const o = r.session.state().get(key);
  assert.ok(o, `no result for ${key}`);
  return { status: o.status, evidence: 'evidence' in o ? o.evidence : [], ...('hint' in o && o.hint ? { hint: o.hint } : {}) };
}

interface Asked { question: string; detail: string }

function installerDeps(r: Rig, extra: Partial<InstallerDeps> = {}, asked: Asked[] = [], answer = true): InstallerDeps {
  return {
    transportFor: r.transportFor,
    trust: r.trust,
    confirm: async (question, detail) => (asked.push({ question, detail }), answer),
    handOver: async (_n: string, _s: unknown, _b: string, why: string) => assert.fail(`no prompt of the upgrade is unknown: ${why}`),
    quietMs: 3_000,
    ...extra,
  };
}

/**
 * The transport of `node` with its installer channel held back until `meanwhile` has run: what a
 * host-key prompt, a password prompt, a reconnect or a wait for a free channel does to the start.
 * Only the installer's own command (the pty, or the exec whose input waits for "go") is held.
 */
function heldAtInstallerChannel(r: Rig, node: string, meanwhile: () => Promise<void>): (n: ClusterNode) => Promise<Transport> {
  return async (n) => {
    const t = await r.transportFor(n);
    if (n.name !== node) return t;
    const hold = async () => {
      r.lines.push(`[test] holding the installer channel of ${node}`);
      await meanwhile();
      r.lines.push(`[test] releasing the installer channel of ${node}`);
    };
    return {
      label: t.label,
      close: () => t.close(),
      exec: async (command: string, o?: ExecOptions) => {
        if (o?.input) await hold();
        return t.exec(command, o);
      },
      execPty: async (command: string, o?: { signal?: AbortSignal }) => {
        await hold();
        return t.execPty(command, o);
      },
    } as Transport;
  };
}

async function version(tc: TestCluster, node: string): Promise<string> {
  return (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${tc.installDir}/conf/installed.version`)).stdout.trim();
}

async function serverPids(tc: TestCluster, node: string): Promise<string> {
  return (await tc.inNode(node, "pgrep -f 'com[.]urbancode[.]ds[.]UDeployServer' || true")).stdout.trim();
}

describe('installer and restart steps prove their own preconditions, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  let from: string;
  let to: string;
  before(async () => {
    tc = await startCluster({ nodes: 3, database: true });
    pkg = tc.buildPackage();
    from = tc.version;
    to = pkg.version;
    // The package on every node, once (step 3), for every test below.
    const r = rig(tc, { package: { localFile: pkg.file } });
    await act(r, packageHandlers({ transportFor: r.transportFor }), 'package');
    assert.equal(result(r, 'package@ucd1').status, 'passed', r.lines.slice(-20).join('\n'));
    staged = r.session.journal.events.filter((e) => e.type !== 'run-opened' && e.step === 'package');
    await r.pool.closeAll();
  });
  after(async () => {
    await tc?.stop();
  });

  test('step 9 on ucd2 while ucd1 was never upgraded and serves the old version: refused, ucd2 and the schema untouched', async () => {
    await tc.startServer('ucd1');
    try {
      const r = rig(tc, { package: { localFile: pkg.file } });
      const schema = await tc.database!.schemaVersions();
      await act(r, installerHandlers('installOthers', installerDeps(r)), 'installOthers', 'ucd2');
      const o = result(r, 'installOthers@ucd2');
      assert.equal(o.status, 'failed', JSON.stringify(o));
      assert.equal(o.evidence[0], 'the installer was NOT started');
      assert.ok(o.evidence.some((e) => e.startsWith(`ucd1 (the first node) is not back online at ${to}: login page shows v. ${from}`)), JSON.stringify(o.evidence));
      assert.match(o.hint ?? '', /Bring ucd1 back online/);
      assert.equal(await version(tc, 'ucd2'), from, 'ucd2 was not upgraded');
      assert.deepEqual(await tc.database!.schemaVersions(), schema, 'ds_db_version unchanged');
      assert.ok(!r.lines.some((l) => /^\[ucd2\] (Buildfile|installer exit)/.test(l)), 'no installer ran on ucd2');
      await r.pool.closeAll();
    } finally {
      await tc.stopServer('ucd1');
    }
  });

  test('steps 8 and 10 start nothing on a node that is not upgraded, and say why', async () => {
    const r = rig(tc, { package: { localFile: pkg.file } });
    const online = { transportFor: r.transportFor, trust: r.trust, startTimeoutMs: 30_000, pollMs: 500 };
    await act(r, startHandlers('startFirst', online), 'startFirst');
    await act(r, startHandlers('startOthers', online), 'startOthers', 'ucd3');
    for (const [key, node, step] of [['startFirst@ucd1', 'ucd1', 'step 7'], ['startOthers@ucd3', 'ucd3', 'step 9']] as const) {
      const o = result(r, key);
      assert.equal(o.status, 'failed', JSON.stringify(o));
      assert.deepEqual(o.evidence, ['the server was NOT started', `${node}: conf/installed.version is ${from}, not the target ${to}: not upgraded`]);
      assert.match(o.hint ?? '', new RegExp(`Run the installer on ${node} \\(${step}\\) first`));
      assert.equal(await serverPids(tc, node), '', `no server was started on ${node}`);
    }
    await r.pool.closeAll();
  });

  // Silent mode rewrites the node's install.properties, so it plays with ucd3 as the first node
  // and leaves ucd1's package as it came for the guided tests below.
  for (const { mode, first, other } of [{ mode: 'guided', first: 'ucd1', other: 'ucd3' }, { mode: 'silent', first: 'ucd3', other: 'ucd2' }] as const) {
    test(`${mode}: ${other} starts while the installer's channel to ${first} opens; proven again at the ready line, the installer never starts`, async () => {
      const r = rig(tc, { package: { localFile: pkg.file }, installerMode: mode, firstNode: first });
      const schema = await tc.database!.schemaVersions();
      const asked: Asked[] = [];
      const deps = installerDeps(r, {
        transportFor: heldAtInstallerChannel(r, first, () => tc.startServer(other)),
        // Any wait between the proof and the start counts: the test's wait is a server start.
        proofMaxAgeMs: 1,
      }, asked);
      try {
        await act(r, installerHandlers('installFirst', deps), 'installFirst');
        const o = result(r, `installFirst@${first}`);
        assert.equal(o.status, 'failed', `${JSON.stringify(o)}\n${r.lines.slice(-30).join('\n')}`);
        assert.equal(o.evidence[0], 'the installer was NOT started');
        assert.match(o.evidence[1] ?? '', new RegExp(`^the proof was \\d+\\.\\d s old when ${first} was ready to start the installer \\(limit 0\\.0 s\\); proven again, it fails:$`));
        assert.ok(o.evidence.some((e) => new RegExp(`^${other} is not proven stopped: .*pid \\d+`).test(e)), JSON.stringify(o.evidence));
        // The first proof passed; the channel was held; the wrapper was ready and was told to stop.
        const held = r.lines.indexOf(`[test] holding the installer channel of ${first}`);
        assert.ok(held > 0 && r.lines.slice(0, held).some((l) => l.startsWith('[installer] proven: ucd1, ucd2, ucd3 proven stopped')), r.lines.join('\n'));
        assert.ok(r.lines.some((l) => /proving again/.test(l)));
        assert.ok(r.lines.includes(`[${first}] ${NOT_STARTED_MARKER}`), `the wrapper ended itself\n${r.lines.join('\n')}`);
        assert.ok(!r.lines.some((l) => new RegExp(`^\\[${first}\\] (Buildfile|Enter the directory)`).test(l)), `the installer printed nothing: it never started\n${r.lines.join('\n')}`);
        assert.equal(await version(tc, first), from, `${first} still on the old version`);
        assert.deepEqual(await tc.database!.schemaVersions(), schema, 'ds_db_version unchanged');
        // Silent mode has no NOTICE to stop at: without a backup in this run it asks before anything starts.
        assert.equal(asked.length, mode === 'silent' ? 1 : 0, JSON.stringify(asked));
        await r.pool.closeAll();
      } finally {
        await tc.stopServer(other);
      }
    });
  }

  test('guided, no backup in this run: the NOTICE asks, names what is missing, and "Stop Here" ends the installer before the upgrade', async () => {
    const r = rig(tc, { package: { localFile: pkg.file } });
    const schema = await tc.database!.schemaVersions();
    const asked: Asked[] = [];
    await act(r, installerHandlers('installFirst', installerDeps(r, {}, asked, false)), 'installFirst');
    assert.equal(asked.length, 1, JSON.stringify(asked));
    assert.equal(asked[0].question, 'Upgrade ucd1 without a verified backup and a proof that no process runs?');
    assert.match(asked[0].detail, /step 1, database backup: no result in this run/);
    assert.match(asked[0].detail, /step 2, no running processes: no result in this run/);
    // The installer really stood at the NOTICE (it had passed its own checks) and went no further.
    assert.ok(r.lines.some((l) => /^\[ucd1\] NOTICE: Upgrading the server while there are processes/.test(l)), r.lines.join('\n'));
    assert.ok(!r.lines.some((l) => /answered notice/.test(l)), 'Enter was never pressed at the NOTICE');
    assert.ok(!r.lines.some((l) => /^\[ucd1\] (Found database upgrades|BUILD SUCCESSFUL)/.test(l)), r.lines.join("\n"));
    const o = result(r, 'installFirst@ucd1');
    assert.equal(o.status, 'failed');
    assert.deepEqual(o.evidence, ['Installer on ucd1: stopped at the NOTICE ("Stop Here"); the upgrade did not begin and nothing was changed.']);
    assert.equal(await version(tc, 'ucd1'), from);
    assert.deepEqual(await tc.database!.schemaVersions(), schema, 'ds_db_version unchanged');
    // Hung up, the installer dies of SIGHUP; wait (one deadline) for the node to show it gone.
    const deadline = Date.now() + 15_000;
    let left = '';
    while ((left = (await tc.inNode('ucd1', "pgrep -f 'lib/sim/installe[r][.]js' || true")).stdout.trim()) !== '') {
      assert.ok(Date.now() < deadline, `the installer process on ucd1 is still there 15 s after the hang-up: pid ${left}`);
    }
    await r.pool.closeAll();
  });

  test('the way through: proven again and passing, step 7 runs; step 9 waits for the first node online, then upgrades ucd2 alone', async () => {
    const r = rig(tc, { package: { localFile: pkg.file } });
    const schema = await tc.database!.schemaVersions();
    const asked: Asked[] = [];
    // Every wait is too long here, so each start is proven twice; nothing changes in between.
    const deps = installerDeps(r, { proofMaxAgeMs: 1 }, asked, true);
    await act(r, installerHandlers('installFirst', deps), 'installFirst');
    const first = result(r, 'installFirst@ucd1');
    assert.equal(first.status, 'passed', `${JSON.stringify(first)}\n${r.lines.slice(-30).join('\n')}`);
    assert.ok(first.evidence.some((e) => /proven again \d+\.\d s before the installer started/.test(e)), JSON.stringify(first.evidence));
    assert.ok(first.evidence.includes('ucd1, ucd2, ucd3 proven stopped'));
    assert.equal(asked.length, 1, 'no backup in this run: the engineer was asked at the NOTICE (and said Upgrade Anyway)');
    assert.equal(await version(tc, 'ucd1'), to);
    assert.equal((await tc.database!.schemaVersions()).length, schema.length + 1, 'the first node upgraded the schema');

    // ucd1 upgraded but not started: step 9 still waits for it.
    const install9 = installerHandlers('installOthers', deps);
    await act(r, install9, 'installOthers', 'ucd2');
    const early = result(r, 'installOthers@ucd2');
    assert.equal(early.status, 'failed');
    assert.ok(early.evidence.some((e) => e.startsWith(`ucd1 (the first node) is not back online at ${to}: no server process of this install; conf/installed.version ${to}`)), JSON.stringify(early.evidence));
    assert.equal(await version(tc, 'ucd2'), from);

    await act(r, startHandlers('startFirst', { transportFor: r.transportFor, trust: r.trust, startTimeoutMs: 60_000, pollMs: 500 }), 'startFirst');
    assert.equal(result(r, 'startFirst@ucd1').status, 'passed', r.lines.slice(-20).join('\n'));
    await act(r, install9, 'installOthers', 'ucd2');
    const o = result(r, 'installOthers@ucd2');
    assert.equal(o.status, 'passed', `${JSON.stringify(o)}\n${r.lines.slice(-30).join('\n')}`);
    assert.ok(o.evidence.some((e) => e.startsWith(`ucd1 online at ${to}: `) && e.includes(`login page v. ${to}`) && e.endsWith(`conf/installed.version ${to}`)), JSON.stringify(o.evidence));
    assert.ok(o.evidence.includes('no database upgrade on this node'));
    assert.equal(await version(tc, 'ucd2'), to);
    assert.equal((await tc.database!.schemaVersions()).length, schema.length + 1, 'the schema was upgraded once');
    await r.pool.closeAll();
  });
});
