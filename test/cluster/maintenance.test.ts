// Issue 12 item 4, on a real cluster (OpenSSH nodes, the UCD simulator behind a real nginx): UCD's
// maintenance mode through the REST API, turned on by step 2's Run before it drains the processes
// and off by step 11's Run once every node is proven on the target, each a 'maintenance' journal
// event and a row of the report; off by default; skipped with a note before 7.0.3; a mode somebody
// else turned on is left on. The handlers are called directly (the gates are the runner's).
// The cluster file says 7.0.4.0 → the simulator's own version, so step 11 passes on the nodes as
// they run, without an installer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { renderReport } from '../../src/core/journal/report';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import type { Transport } from '../../src/core/remote/transport';
import { verifyVersionsHandlers } from '../../src/core/steps/start';
import { processesHandlers } from '../../src/core/steps/processes';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { maintenanceState } from '../../src/core/ucd/rest/systemConfig';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { loadBalancerPrerequisites, untilBalancerAnswers } from './loadbalancer';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites() ?? loadBalancerPrerequisites();
let c: TestCluster;
const pools: SshPool[] = [];

interface Rig {
  cluster: Cluster;
  session: RunSession;
  lines: string[];
  rest: UcdRestClient;
  transportFor: (n: ClusterNode) => Promise<Transport>;
  trust: { pins: MemoryPinStore; sessionPins: Map<string, string>; prompt: () => Promise<'always'> };
}

function client(baseUrl: string): UcdRestClient {
  return new UcdRestClient({ baseUrl, credentials: credentialsFor(baseUrl, { kind: 'basic', user: c.ucdAdmin.user, password: c.ucdAdmin.password }), pins: new MemoryPinStore(), prompt: async () => 'once', requestTimeoutMs: 10000 });
}

/** What a node itself says now, straight from that node (not through the balancer). */
async function modeOn(node: string): Promise<string> {
  const n = c.nodes.find((x) => x.name === node)!;
  return maintenanceState(await client(`https://${n.host}:8443`).systemConfiguration());
}

function rig(ucd: Record<string, unknown>, versions: { currentVersion: string; targetVersion: string }): Rig {
  const file = JSON.parse(c.clusterFile()) as { ucd: Record<string, unknown> };
  const r = loadCluster(c.clusterFile({ ...versions, ucd: { ...file.ucd, ...ucd } }));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-maintenance-'));
  const pool = new SshPool({ hostKeys: new HostKeyPolicy({ knownHostsFiles: [c.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }), sshConfigFile: null, agentSocket: null });
  pools.push(pool);
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'always' as const };
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), lines: [], rest: client(r.cluster.ucd.url), transportFor: async (n) => pool.transport(targetFromNode(n)), trust };
}

function ctx(r: Rig, step: StepId): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  return actionContext({ cluster: r.cluster, session: r.session, target: { step }, log, signal: new AbortController().signal });
}

async function step2(r: Rig): Promise<void> {
  const h = processesHandlers({ client: () => r.rest, choose: async () => assert.fail('nothing runs, so nothing is asked'), confirm: async () => assert.fail('nothing to cancel') });
  await h.run!(ctx(r, 'processes'));
}

async function step11(r: Rig): Promise<void> {
  await verifyVersionsHandlers({ transportFor: r.transportFor, trust: r.trust }, { client: () => r.rest }).run!(ctx(r, 'verifyVersions'));
}

function events(r: Rig): JournalEvent[] {
  return [...r.session.journal.events];
}

function maintenance(r: Rig): string[] {
  return events(r).flatMap((e) => (e.type === 'maintenance' ? [`${e.state}: ${e.detail}`] : []));
}

function finished(r: Rig, step: StepId): Extract<JournalEvent, { type: 'finished' }>[] {
  return events(r).filter((e): e is Extract<JournalEvent, { type: 'finished' }> => e.type === 'finished' && e.step === step);
}

/** Back to off, written through the REST API as anyone would. */
async function resetOff(): Promise<void> {
  const rest = client(c.loadBalancer!.url);
  await rest.setMaintenanceMode(await rest.systemConfiguration(), false);
  assert.equal(await modeOn('ucd1'), 'off');
}

describe('maintenance mode on a real cluster', { skip, concurrency: false }, () => {
  before(async () => {
    c = await startCluster({ nodes: 2, loadBalancer: true });
    await Promise.all(c.nodes.map((n) => c.startServer(n.name)));
    await untilBalancerAnswers(c.loadBalancer!);
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    await c?.stop();
  });

  test('on before step 2 drains, off after step 11 proved every node; both in the journal and the report', async () => {
    assert.equal(await modeOn('ucd1'), 'off');
    const r = rig({ maintenanceMode: true }, { currentVersion: '7.0.4.0', targetVersion: c.version });
    await step2(r);
    assert.deepEqual(finished(r, 'processes').map((e) => e.verdict), ['passed'], r.lines.join('\n'));
    // One cluster-wide setting: every node says so, not only the one the balancer picked.
    assert.equal(await modeOn('ucd1'), 'on');
    assert.equal(await modeOn('ucd2'), 'on');
    assert.equal(maintenance(r).length, 1);
    assert.match(maintenance(r)[0]!, /^on: turned on at https:\/\/.* before draining the processes \(maintenanceModeEnabled read back true\)$/);
    // Before the drain: the 'on' is recorded before step 2 looked at the running processes.
    const all = events(r);
    assert.ok(all.findIndex((e) => e.type === 'maintenance') < all.findIndex((e) => e.type === 'finished' && e.step === 'processes'));

    await step11(r);
    assert.deepEqual(finished(r, 'verifyVersions').map((e) => e.verdict), ['passed', 'passed'], r.lines.join('\n'));
    assert.equal(await modeOn('ucd1'), 'off');
    assert.equal(await modeOn('ucd2'), 'off');
    assert.equal(maintenance(r).length, 2);
    assert.match(maintenance(r)[1]!, /^off: turned off at .* after step 11 verified every node \(on since \d{4}-.*; maintenanceModeEnabled read back false\)$/);
    const report = renderReport({ cluster: r.cluster, events: events(r), views: r.session.view(), generatedAt: new Date() });
    assert.match(report, /## Maintenance mode\n\n\| At \| Maintenance mode \| Detail \|\n\|[-| ]+\|\n\| [^|]+ \| on \| turned on at .*\n\| [^|]+ \| off \| turned off at /);
    // A second Run of step 11 turns nothing off twice and says nothing new.
    await step11(r);
    assert.equal(maintenance(r).length, 2);
  });

  test('off by default: step 2 and step 11 leave the setting alone and record nothing about it', async () => {
    const r = rig({}, { currentVersion: '7.0.4.0', targetVersion: c.version });
    assert.equal(r.cluster.ucd.maintenanceMode, false);
    await step2(r);
    await step11(r);
    assert.deepEqual(maintenance(r), []);
    assert.equal(await modeOn('ucd2'), 'off');
  });

  test('before 7.0.3: skipped with a note, nothing sent, and step 2 still drains', async () => {
    const r = rig({ maintenanceMode: true }, { currentVersion: '7.0.2.0', targetVersion: c.version });
    await step2(r);
    assert.deepEqual(finished(r, 'processes').map((e) => e.verdict), ['passed']);
    assert.deepEqual(maintenance(r), ['skipped: UCD 7.0.2.0 has no maintenance mode (it came with 7.0.3); step 2 drains the processes without it']);
    assert.equal(await modeOn('ucd1'), 'off');
    await step11(r);
    assert.deepEqual(maintenance(r).slice(1), ['kept: left as it was after step 11: this run did not turn it on']);
    assert.equal(await modeOn('ucd1'), 'off');
  });

  test('a write the server cannot make: step 2 fails naming the call and what UCD said, and drains nothing', async () => {
    // The settings file taken by a folder: the simulator's write fails as a real server's would on a broken disk.
    const file = path.join(c.hostAppdataDir, 'var/sim/system-configuration.json');
    fs.rmSync(file, { force: true });
    fs.mkdirSync(file, { recursive: true });
    try {
      const r = rig({ maintenanceMode: true }, { currentVersion: '7.0.4.0', targetVersion: c.version });
      await step2(r);
      const f = finished(r, 'processes');
      assert.deepEqual(f.map((e) => e.verdict), ['failed']);
      assert.match(f[0]!.evidence.join(' '), /^turning maintenance mode on through \/rest\/system\/configuration: PUT https:\/\/.*\/rest\/system\/configuration: HTTP 500/);
      assert.match(f[0]!.hint ?? '', /Turn maintenance mode on by hand .* or set "ucd\.maintenanceMode": false/);
      assert.deepEqual(maintenance(r).map((m) => m.split(':')[0]), ['failed']);
      assert.ok(!r.lines.some((l) => /current activity/.test(l)), `step 2 looked at the processes after the failure: ${r.lines.join('\n')}`);
      assert.equal(await modeOn('ucd1'), 'off');
    } finally {
      fs.rmSync(file, { recursive: true, force: true });
    }
  });

  test('on before the run (somebody else\'s): kept by step 2 and left on by step 11', async () => {
    const rest = client(c.loadBalancer!.url);
    await rest.setMaintenanceMode(await rest.systemConfiguration(), true);
    try {
      const r = rig({ maintenanceMode: true }, { currentVersion: '7.0.4.0', targetVersion: c.version });
      await step2(r);
      assert.match(maintenance(r)[0]!, /^kept: already on before this run; it is left on after step 11 too/);
      await step11(r);
      assert.equal(await modeOn('ucd2'), 'on');
      assert.deepEqual(maintenance(r).slice(1), ['kept: left as it was after step 11: this run did not turn it on']);
    } finally {
      await resetOff();
    }
  });
});
