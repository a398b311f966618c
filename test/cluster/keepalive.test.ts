// Issue 10 (item 5), on a real cluster, through the core: the node's network link dropped (its
// eth0 set down, what a VPN drop or a closed lid does: no FIN, no RST, only silence) while the
// silent installer runs there. The SSH keepalive, at the pool's defaults, notices within about
// 30 s; the journal and the tree say "connection to ucd1 lost; the installer keeps running
// there". With the link back, the pool reconnects (host key verified again), the installer is
// followed again and the step ends passed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { installerHandlers } from '../../src/core/steps/installer';
import { packageHandlers } from '../../src/core/steps/package';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites();
/** Long enough for the link to be down and noticed, and to come back, while the installer runs. */
const SCHEMA_SECONDS = 75;
/** The pool's keepalive defaults (10 s, 3 unanswered) notice a dead link in about 30 s. */
const NOTICED_WITHIN_MS = 45_000;

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what} did not appear within ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a dead link is seen and said, and followed again once it is back, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
    pkg = tc.buildPackage({ schemaUpgradeSeconds: SCHEMA_SECONDS });
  });
  after(async () => {
    await tc?.inNode('ucd1', 'ip link set eth0 up').catch(() => undefined);
    await tc?.stop();
  });

  test('the node\'s link down mid-install: connection-lost within the keepalive\'s deadline, the tree says the installer keeps running; the link back: connection-restored and the step passed', async () => {
    const r = loadCluster(tc.clusterFile({ package: { localFile: pkg.file }, installerMode: 'silent', firstNode: 'ucd1' }));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const cluster: Cluster = r.cluster;
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-keepalive-'));
    const verified: string[] = [];
    const hostKeys = new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' });
    const verify = hostKeys.verify.bind(hostKeys);
    // Counts each host key check (the policy itself decides): a reconnect must verify again.
    hostKeys.verify = async (label, host, port, key) => (verified.push(label), verify(label, host, port, key));
    const poolLog: string[] = [];
    const pool = new SshPool({ hostKeys, sshConfigFile: null, agentSocket: null, log: (m) => poolLog.push(m) });
    const session = RunSession.open(cluster, ws);
    const lines: string[] = [];
    const log: ActionLog = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const ctx: ActionContext = actionContext({ cluster, session, target: { step: 'installFirst' }, log, signal: new AbortController().signal });
    const transportFor = async (n: Cluster['nodes'][number]) => pool.transport(targetFromNode(n));
    try {
      await packageHandlers({ transportFor }).run!({ ...ctx, target: { step: 'package', node: 'ucd1' } });
      assert.equal(session.state().get('package@ucd1')?.status, 'passed', lines.slice(-20).join('\n'));
      const installFirst = installerHandlers('installFirst', {
        transportFor,
        trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const },
        confirm: async () => true,
        handOver: async () => assert.fail('silent mode has no prompt to hand over'),
        pollMs: 500,
      });
      const running = installFirst.run!(ctx);
      const marker = `${tc.appdataDir}/var/sim/schema-upgrade-in-progress`;
      await waitFor('the schema upgrade in progress on ucd1', async () => (await tc.inNode('ucd1', `test -e '${marker}' && echo yes || true`)).stdout.trim() === 'yes', 120_000, () => lines.slice(-30).join('\n'));
      const checksBefore = verified.filter((l) => l === 'ucd1').length;

      const down = await tc.inNode('ucd1', 'ip link set eth0 down');
      assert.equal(down.code, 0, down.stderr);
      const droppedAt = Date.now();
      const lost = () => session.journal.events.find((e) => e.type === 'connection-lost');
      await waitFor('the connection-lost event', () => lost() !== undefined, NOTICED_WITHIN_MS, () => `${lines.slice(-20).join('\n')}\n${poolLog.slice(-10).join('\n')}`);
      const noticedMs = Date.now() - droppedAt;
      const e = lost();
      assert.ok(e && e.type === 'connection-lost');
      assert.equal(e.node, 'ucd1');
      assert.equal(e.message, 'connection to ucd1 lost; the installer keeps running there');
      const node = () => session.view().find((v) => v.def.id === 'installFirst')?.nodes.find((n) => n.node === 'ucd1');
      assert.equal(node()?.state, 'running');
      assert.equal(node()?.detail, 'connection to ucd1 lost; the installer keeps running there', 'the tree says it');
      // The installer is the node's: it runs on while nobody can reach it.
      const alive = await tc.inNode('ucd1', `test -e '${marker}' && echo yes || true`);
      assert.equal(alive.stdout.trim(), 'yes', `the schema upgrade still in progress ${Math.round(noticedMs / 1000)} s after the drop`);

      const up = await tc.inNode('ucd1', 'ip link set eth0 up');
      assert.equal(up.code, 0, up.stderr);
      await waitFor('the connection-restored event', () => session.journal.events.some((x) => x.type === 'connection-restored'), 60_000, () => `${lines.slice(-20).join('\n')}\n${poolLog.slice(-10).join('\n')}`);
      assert.notEqual(node()?.detail, 'connection to ucd1 lost; the installer keeps running there', 'the tree no longer says lost');
      await running;
      const o = session.state().get('installFirst@ucd1');
      assert.ok(o?.status === 'passed', `${JSON.stringify(o)}\n${lines.slice(-30).join('\n')}`);
      assert.ok(o.evidence.includes(`upgraded ${tc.version} → ${pkg.version}`), JSON.stringify(o.evidence));
      assert.ok(o.evidence.includes('database schema upgraded by this node'), JSON.stringify(o.evidence));
      assert.ok(verified.filter((l) => l === 'ucd1').length > checksBefore, 'the reconnect verified the host key again');
      assert.ok(lines.some((l) => /^\[ucd1\] connection to ucd1 back after \d+ s; following the installer again from byte \d+$/.test(l)), lines.join('\n'));
      const order = session.journal.events.map((x) => x.type).filter((t) => t === 'connection-lost' || t === 'connection-restored' || t === 'finished');
      assert.deepEqual(order.slice(-3), ['connection-lost', 'connection-restored', 'finished']);
    } finally {
      session.dispose();
      await pool.closeAll();
    }
  });
});
