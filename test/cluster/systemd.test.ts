// Issue 11, systemd nodes: a cluster whose nodes boot real systemd (test/cluster/nspawn.ts), the
// simulated server running as the unit 8.1.1+ ships (Restart=on-failure). Through the core alone:
// the probe shows the units; step 4 stops through systemctl; a server that its unit brings back
// after a crash is caught by the proof before the installer; step 5 masks the unit; the upgrade
// runs; steps 8 and 10 unmask and start through systemctl; journal and report record both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { renderReport } from '../../src/core/journal/report';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { probeNode } from '../../src/core/probes/node';
import { installerHandlers } from '../../src/core/steps/installer';
import { startHandlers, verifyVersionsHandlers } from '../../src/core/steps/start';
import { packageHandlers } from '../../src/core/steps/package';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { clusterStatus } from '../../src/core/status/clusterStatus';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';
import { nspawnPrerequisites, startSystemdCluster, UNIT, type SystemdCluster } from './nspawn';
import type { InstallerPackage } from './harness';
import { actionContext } from '../../src/core/runbook/runner';
import type { SomeHandlers } from '../fixtures/handlers';

const skip = nspawnPrerequisites();

interface Rig { cluster: Cluster; session: RunSession; handlers: SomeHandlers; lines: string[]; pool: SshPool; masks: string[] }

function rig(tc: SystemdCluster, text: string): Rig {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-systemd-'));
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const transportFor = async (n: { name: string; host: string; sshPort: number; user?: string; identityFile?: string; os: 'linux' | 'windows' }) => pool.transport(targetFromNode(n));
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (_c: UnknownCertificate) => 'always' as const };
  const masks: string[] = [];
  const online = { transportFor, trust, startTimeoutMs: 60_000, pollMs: 500 };
  const installer = { transportFor, trust, confirm: async () => true, handOver: async () => assert.fail('no prompt of the upgrade is unknown'), quietMs: 3_000 };
  const handlers: SomeHandlers = {
    package: packageHandlers({ transportFor }),
    ...stoppedHandlers({ transportFor, confirm: async () => true, confirmMask: async (q, d) => (masks.push(`${q}\n${d}`), true), options: { settleMs: 15_000, pollMs: 500, killGraceSeconds: 2 } }),
    installFirst: installerHandlers('installFirst', installer),
    startFirst: startHandlers('startFirst', online),
    installOthers: installerHandlers('installOthers', installer),
    startOthers: startHandlers('startOthers', online),
    verifyVersions: verifyVersionsHandlers(online),
  };
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), handlers, lines: [], pool, masks };
}

function ctx(r: Rig, step: StepId, node?: string): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  return actionContext({ cluster: r.cluster, session: r.session, target: node ? { step, node } : { step }, log, signal: new AbortController().signal });
}

async function act(r: Rig, step: StepId, kind: 'run' | 'check', node?: string): Promise<void> {
  const h = r.handlers[step]?.[kind];
  assert.ok(h, `no ${kind} handler for ${step}`);
  await h(ctx(r, step, node));
}

function outcome(r: Rig, key: string): { status: string; evidence: string } {
  const o = r.session.state().get(key);
  return { status: o?.status ?? 'none', evidence: o && 'evidence' in o ? o.evidence.join(' | ') : JSON.stringify(o) };
}

function expectStatus(r: Rig, key: string, status: string): string {
  const o = outcome(r, key);
  assert.equal(o.status, status, `${key}: ${o.evidence}\n--- log tail ---\n${r.lines.slice(-40).join('\n')}`);
  return o.evidence;
}

async function installed(tc: SystemdCluster, node: string): Promise<string> {
  return (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${tc.installDir}/conf/installed.version`)).stdout.trim();
}

/** Waits on the unit's own state, one deadline, naming what it waited for. */
async function untilUnit(tc: SystemdCluster, node: string, what: string, ok: (s: Record<string, string>) => boolean, timeoutMs = 20_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let s = await tc.unitState(node);
  while (!ok(s)) {
    if (Date.now() > deadline) assert.fail(`${node}: ${UNIT} never showed ${what} within ${timeoutMs} ms; last: ${JSON.stringify(s)}`);
    await new Promise((res) => setTimeout(res, 200));
    s = await tc.unitState(node);
  }
  return s;
}

describe('systemd nodes: units found, stopped, masked and unmasked through the core', { skip, concurrency: 1 }, () => {
  let tc: SystemdCluster;
  let pkg: InstallerPackage;
  before(async () => {
    const t0 = Date.now();
    tc = await startSystemdCluster({ nodes: 2 });
    console.log(`systemd cluster started in ${Date.now() - t0} ms`);
    pkg = tc.buildPackage();
  });
  after(async () => {
    await tc?.stop();
  });

  test('each node\'s systemd has cgroups of its own: its unit\'s cgroup holds its own processes only', async () => {
    for (const n of tc.nodes) {
      await untilUnit(tc, n.name, 'active', (x) => x.ActiveState === 'active' && x.MainPID !== '0');
      const r = await tc.inNode(n.name, `cat /sys/fs/cgroup/system.slice/${UNIT}/cgroup.procs`);
      const pids = r.stdout.split('\n').filter(Boolean);
      assert.ok(pids.length > 0, `${n.name}: no process in its unit's cgroup (${r.stderr})`);
      // Another node's process shows as pid 0 here: the two would share one cgroup and one fate.
      assert.ok(!pids.includes('0'), `${n.name}: a process of another node is in its unit's cgroup: ${pids.join(' ')}`);
    }
  });

  test('the nodes boot systemd, and a killed server of the unit is restarted by it (NRestarts=1)', async () => {
    const s = await untilUnit(tc, 'ucd2', 'active', (x) => x.ActiveState === 'active');
    assert.equal(s.UnitFileState, 'enabled');
    assert.equal(s.Restart, 'on-failure');
    await tc.inNode('ucd2', `kill -9 ${Number(s.MainPID)}`);
    const back = await untilUnit(tc, 'ucd2', 'a new main pid after the kill', (x) => x.ActiveState === 'active' && x.MainPID !== s.MainPID && x.MainPID !== '0');
    assert.equal(back.NRestarts, String(Number(s.NRestarts) + 1));
  });

  test('the whole upgrade: units shown, stopped through systemctl, a server its unit brought back caught, masked, upgraded, unmasked', async () => {
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    try {
      // The probe shows the unit: name, state, enabled, Restart=.
      const { probe } = await probeNode(async () => r.pool.transport(targetFromNode(r.cluster.nodes[0]!)), r.cluster.nodes[0]!, { appdataDir: r.cluster.sharedAppdata });
      assert.equal(probe.kind, 'probed', JSON.stringify(probe));
      if (probe.kind === 'probed') {
        assert.equal(probe.systemd.kind, 'ok', JSON.stringify(probe.systemd));
        const u = probe.systemd.kind === 'ok' ? probe.systemd.units : [];
        assert.deepEqual(u.map((x) => [x.name, x.matchedBy, x.active, x.unitFile, x.restart]), [[UNIT, 'exec-start', 'active', 'enabled', 'on-failure']]);
      }
      await act(r, 'verifyStopped', 'check');
      assert.match(expectStatus(r, 'verifyStopped@ucd1', 'failed'), new RegExp(`systemd unit ${UNIT.replace(/\./g, '\\.')} active \\(running\\)`));
      const rows = clusterStatus(r.cluster, r.session.journal.events, r.session.state()).rows;
      assert.deepEqual(rows.map((x) => x.units), tc.nodes.map(() => [{ name: UNIT, active: 'active', unitFile: 'enabled', restart: 'on-failure' }]), 'the status view has the units');

      await act(r, 'package', 'run');
      expectStatus(r, 'package@ucd1', 'passed');

      // 4: through systemctl, since a unit manages the install ("auto").
      await act(r, 'stop', 'run');
      for (const n of tc.nodes) assert.match(expectStatus(r, `stop@${n.name}`, 'passed'), new RegExp(`systemctl stop ${UNIT.replace(/\./g, '\\.')} exited 0`));
      for (const n of tc.nodes) assert.equal((await tc.unitState(n.name)).ActiveState, 'inactive');
      assert.match(expectStatus(r, 'verifyStopped@ucd2', 'passed'), /note: systemd unit .*enabled, Restart=on-failure.*mask/);

      // After step 4 the unit is started again on ucd2 (by a person, a timer, a dependency); its
      // server crashes, and Restart=on-failure brings it back.
      const started = await tc.inNode('ucd2', `systemctl start ${UNIT}`);
      assert.equal(started.code, 0, `${started.stderr}\n${(await tc.inNode('ucd2', `journalctl -u ${UNIT} --no-pager | tail -15; tail -5 ${tc.installDir}/var/log/deployserver.out; ls -la ${tc.installDir}/var ${tc.installDir}/bin`)).stdout}`);
      const s = await untilUnit(tc, 'ucd2', 'active', (x) => x.ActiveState === 'active' && x.MainPID !== '0');
      await tc.inNode('ucd2', `kill -9 ${Number(s.MainPID)}`);
      await untilUnit(tc, 'ucd2', 'restarted after the crash', (x) => Number(x.NRestarts) > Number(s.NRestarts) && x.ActiveState === 'active' && x.MainPID !== s.MainPID);

      // 7 refuses: the proof before the installer sees the unit and its server.
      await act(r, 'installFirst', 'run');
      const refused = expectStatus(r, 'installFirst@ucd1', 'failed');
      assert.match(refused, /the installer was NOT started/);
      assert.match(refused, /ucd2 is not proven stopped/);
      assert.match(expectStatus(r, 'verifyStopped@ucd2', 'failed'), new RegExp(`systemd unit ${UNIT.replace(/\./g, '\\.')} active`));
      assert.equal(await installed(tc, 'ucd1'), tc.version, 'nothing was installed');

      // 5: offers to mask (and stop) the unit on each node; masked in /run, it cannot start.
      await act(r, 'verifyStopped', 'run');
      assert.equal(r.masks.length, 2, r.masks.join('\n---\n'));
      assert.match(r.masks.find((m) => m.startsWith('ucd2:')) ?? '', /systemctl stop -- devops-deploy-server\.service/);
      for (const n of tc.nodes) {
        expectStatus(r, `verifyStopped@${n.name}`, 'passed');
        const st = await tc.unitState(n.name);
        assert.equal(st.ActiveState, 'inactive', `${n.name}: ${JSON.stringify(st)}`);
      }
      // The unit file is in /etc/systemd/system (as HCL's docs install it), which outranks a mask
      // in /run: the runtime drop-in stands in for it, and a start does not start the server.
      const blocked = await tc.inNode('ucd2', `systemctl start ${UNIT}; systemctl show -p ActiveState,ConditionResult,DropInPaths ${UNIT}`);
      assert.match(blocked.stdout, /ActiveState=inactive/, blocked.stdout + blocked.stderr);
      assert.match(blocked.stdout, /ConditionResult=no/);
      assert.match(blocked.stdout, /50-ucd-upgrade-masked\.conf/);
      const runRecord = r.session.journal.events.filter((e) => e.type === 'finished' && e.kind === 'run' && e.step === 'verifyStopped' && e.node === 'ucd2').at(-1);
      assert.ok(runRecord?.type === 'finished' && runRecord.evidence.some((l) => /^masked devops-deploy-server\.service for the upgrade/.test(l)) && runRecord.evidence.includes(`stopped ${UNIT} (systemctl stop)`), JSON.stringify(runRecord));

      // The proof sees the masked unit as masked, not as one that may restart the server.
      await act(r, 'verifyStopped', 'check');
      for (const n of tc.nodes) assert.match(expectStatus(r, `verifyStopped@${n.name}`, 'passed'), /masked, it cannot start until unmasked/);

      // 7 to 10: the upgrade; 8 and 10 unmask and start through systemctl.
      await act(r, 'installFirst', 'run');
      expectStatus(r, 'installFirst@ucd1', 'passed');
      await act(r, 'startFirst', 'run');
      const first = expectStatus(r, 'startFirst@ucd1', 'passed');
      assert.match(first, /unmasked devops-deploy-server\.service/);
      assert.match(first, /started with systemctl start devops-deploy-server\.service/);
      await act(r, 'installOthers', 'run');
      expectStatus(r, 'installOthers@ucd2', 'passed');
      await act(r, 'startOthers', 'run');
      assert.match(expectStatus(r, 'startOthers@ucd2', 'passed'), /unmasked/);
      await act(r, 'verifyVersions', 'check');
      for (const n of tc.nodes) {
        expectStatus(r, `verifyVersions@${n.name}`, 'passed');
        assert.equal(await installed(tc, n.name), r.cluster.targetVersion);
        const st = await tc.unitState(n.name);
        assert.deepEqual([st.ActiveState, st.UnitFileState], ['active', 'enabled'], `${n.name}: unmasked, enabled and running under systemd again`);
      }

      // Both recorded in the journal, each node's mask before its unmask, and both in the report.
      const unitEvents = r.session.journal.events.flatMap((e) => (e.type === 'service-unit' ? [`${e.node} ${e.action} ${e.unit}`] : []));
      assert.deepEqual(unitEvents.filter((e) => e.startsWith('ucd1')), [`ucd1 masked ${UNIT}`, `ucd1 unmasked ${UNIT}`]);
      assert.deepEqual(unitEvents.filter((e) => e.startsWith('ucd2')), [`ucd2 masked ${UNIT}`, `ucd2 unmasked ${UNIT}`]);
      const report = renderReport({ cluster: r.cluster, events: r.session.journal.events, views: r.session.view(), generatedAt: new Date(), operator: { user: 'test', machine: 'test' }, journalFile: 'j.jsonl' });
      assert.match(report, /systemd unit devops-deploy-server\.service masked/);
      assert.match(report, /systemd unit devops-deploy-server\.service unmasked/);
    } finally {
      await r.pool.closeAll();
    }
  });
});
