// Step 5 ("Ensure each server is stopped") and step 4 end to end through the extension's core,
// against a real 3-node cluster: OpenSSH sshd per node, the simulated UCD server, its fault
// switches, and every remote error a user must be able to act on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { ActionContext, ActionLog, HandlerTable } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { Outcome } from '../../src/core/runbook/state';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { HostKeyAnswer, HostKeyQuestion } from '../../src/core/remote/interaction';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { stoppedHandlers } from '../../src/core/steps/shutdown';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';

const skip = clusterPrerequisites();

interface Rig {
  cluster: Cluster;
  session: RunSession;
  handlers: HandlerTable;
  lines: string[];
  asked: HostKeyQuestion[];
  confirmations: string[];
  pool: SshPool;
}

function rig(tc: TestCluster, opts: { file?: string; knownHosts?: string[]; answer?: HostKeyAnswer; confirm?: boolean } = {}): Rig {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-step5-'));
  const r = loadCluster(opts.file ?? tc.clusterFile());
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const asked: HostKeyQuestion[] = [];
  const lines: string[] = [];
  const confirmations: string[] = [];
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({
      knownHostsFiles: opts.knownHosts ?? [tc.knownHostsFile],
      storeFile: path.join(ws, 'store', 'known_hosts'),
      prompt: async (q) => (asked.push(q), opts.answer ?? 'cancel'),
    }),
    sshConfigFile: null,
    agentSocket: null,
    connectTimeoutMs: 3_000,
  });
  const handlers = stoppedHandlers({
    transportFor: async (n) => pool.transport(targetFromNode(n)),
    confirm: async (q, d) => (confirmations.push(`${q}\n${d}`), opts.confirm ?? true),
    // A server that ignores stop is given 5 s to go away here, not the minute a real one gets.
    options: { killGraceSeconds: 2, settleMs: 5_000, pollMs: 500 },
  });
  return { cluster: r.cluster, session: RunSession.open(r.cluster, ws), handlers, lines, asked, confirmations, pool };
}

function ctx(r: Rig, step: 'stop' | 'verifyStopped', node?: string): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  return { cluster: r.cluster, session: r.session, target: node ? { step, node } : { step }, log, signal: new AbortController().signal };
}

function outcome(r: Rig, node: string): Outcome & { evidence: readonly string[]; hint?: string } {
  const o = r.session.state().get(`verifyStopped@${node}`);
  assert.ok(o && 'evidence' in o, `no verdict for ${node}: ${JSON.stringify(o)}`);
  return o as Outcome & { evidence: readonly string[]; hint?: string };
}

async function check(r: Rig, node?: string): Promise<void> {
  await r.handlers.verifyStopped?.check?.(ctx(r, 'verifyStopped', node));
}

describe('step 5 against a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await tc?.stop();
  });

  test('Run on step 4 stops every server with its service command, then proves each stopped', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const r = rig(tc);
    await check(r);
    for (const n of tc.nodes) {
      const o = outcome(r, n.name);
      assert.equal(o.status, 'failed', `${n.name} runs before the shutdown`);
      assert.ok(o.evidence.some((e) => /:8443/.test(e)), `evidence names the port: ${o.evidence.join('; ')}`);
    }
    await r.handlers.stop?.run?.(ctx(r, 'stop'));
    for (const n of tc.nodes) {
      assert.equal(outcome(r, n.name).status, 'passed', `${n.name}: ${outcome(r, n.name).evidence.join('; ')}`);
      assert.equal(r.session.state().get(`stop@${n.name}`)?.status, 'passed');
    }
    assert.ok(r.lines.some((l) => l.includes('[ucd1]') && /bin\/server stop/.test(l)), 'the stop command is in the log with its node');
    await r.pool.closeAll();
  });

  test('a stale pid file fails the check with its evidence; Run removes it only because no process owns it', async () => {
    await tc.setFault('ucd2', 'stalePid', true);
    const r = rig(tc);
    await check(r);
    const o = outcome(r, 'ucd2');
    assert.equal(o.status, 'failed');
    assert.ok(o.evidence.some((e) => /stale var\/server\.pid/.test(e)), o.evidence.join('; '));
    assert.equal(outcome(r, 'ucd1').status, 'passed', 'the other nodes still pass');
    await r.handlers.verifyStopped?.run?.(ctx(r, 'verifyStopped', 'ucd2'));
    assert.equal(outcome(r, 'ucd2').status, 'passed');
    const left = await tc.inNode('ucd2', `test -e ${tc.installDir}/var/server.pid && echo present || echo gone`);
    assert.equal(left.stdout.trim(), 'gone');
    await tc.setFault('ucd2', 'stalePid', false);
    await r.pool.closeAll();
  });

  test('a server that ignores stop is named with its pid; it is killed only after the user agrees', async () => {
    await tc.setFault('ucd3', 'ignoresStop', true);
    await tc.startServer('ucd3');
    const declined = rig(tc, { confirm: false });
    await declined.handlers.stop?.run?.(ctx(declined, 'stop', 'ucd3'));
    const o = outcome(declined, 'ucd3');
    assert.equal(o.status, 'failed', 'the ignored stop is caught by the check');
    const pid = Number((await tc.inNode('ucd3', `cat ${tc.installDir}/var/server.pid`)).stdout.trim());
    assert.ok(pid > 0);
    assert.ok(o.evidence.some((e) => e.includes(String(pid))), `evidence names pid ${pid}: ${o.evidence.join('; ')}`);
    await declined.handlers.verifyStopped?.run?.(ctx(declined, 'verifyStopped', 'ucd3'));
    assert.equal(declined.confirmations.length, 1);
    assert.match(declined.confirmations[0], new RegExp(`kill pid ${pid}.*com\\.urbancode\\.ds\\.UDeployServer`, 's'));
    assert.equal((await tc.inNode('ucd3', `kill -0 ${pid} && echo alive`)).stdout.trim(), 'alive', 'declined: nothing was killed');

    const agreed = rig(tc, { confirm: true });
    await agreed.handlers.verifyStopped?.run?.(ctx(agreed, 'verifyStopped', 'ucd3'));
    assert.equal(outcome(agreed, 'ucd3').status, 'passed', outcome(agreed, 'ucd3').evidence.join('; '));
    assert.notEqual((await tc.inNode('ucd3', `kill -0 ${pid} 2>/dev/null && echo alive || echo dead`)).stdout.trim(), 'alive');
    await tc.setFault('ucd3', 'ignoresStop', false);
    await declined.pool.closeAll();
    await agreed.pool.closeAll();
  });

  test('a leftover process holding the HTTPS port fails the check even though it is not a UCD server', async () => {
    await tc.setFault('ucd1', 'portHeld', true);
    const r = rig(tc);
    await check(r, 'ucd1');
    const o = outcome(r, 'ucd1');
    assert.equal(o.status, 'failed');
    assert.ok(o.evidence.some((e) => /:8443/.test(e)), o.evidence.join('; '));
    await tc.setFault('ucd1', 'portHeld', false);
    await check(r, 'ucd1');
    assert.equal(outcome(r, 'ucd1').status, 'passed');
    await r.pool.closeAll();
  });

  test('sshd down on one node: that node says connection refused and what to try; the others still arrive', async () => {
    await tc.setFault('ucd2', 'sshdDown', true);
    try {
      const r = rig(tc);
      await check(r);
      const o = outcome(r, 'ucd2');
      assert.equal(o.status, 'failed');
      assert.match(o.evidence.join(' '), /ucd2/);
      assert.match(o.evidence.join(' '), /refused/i);
      assert.ok(o.hint && o.hint.length > 10, 'a next step is given');
      assert.equal(outcome(r, 'ucd1').status, 'passed');
      assert.equal(outcome(r, 'ucd3').status, 'passed');
      await r.pool.closeAll();
    } finally {
      await tc.setFault('ucd2', 'sshdDown', false);
    }
  });

  test('an unreachable address times out on that node alone', async () => {
    const file = JSON.parse(tc.clusterFile());
    file.nodes[2].host = tc.nodes[0].host.replace(/\.\d+$/, '.250');
    const r = rig(tc, { file: JSON.stringify(file) });
    await check(r);
    const o = outcome(r, 'ucd3');
    assert.equal(o.status, 'failed');
    assert.match(o.evidence.join(' '), /ucd3/);
    assert.match(o.evidence.join(' ') + (o.hint ?? ''), /time|unreachable|reach/i);
    assert.equal(outcome(r, 'ucd1').status, 'passed');
    await r.pool.closeAll();
  });

  test('a refused key is an authentication failure that names the node and what to do', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-wrongkey-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
    const file = JSON.parse(tc.clusterFile());
    file.nodes[1].identityFile = path.join(dir, 'id');
    const r = rig(tc, { file: JSON.stringify(file) });
    await check(r, 'ucd2');
    const o = outcome(r, 'ucd2');
    assert.equal(o.status, 'failed');
    assert.match(o.evidence.join(' '), /ucd2/);
    assert.match(o.evidence.join(' '), /auth/i);
    await r.pool.closeAll();
  });

  test('an unknown host key is asked with its SHA256 fingerprint; declining connects to nothing', async () => {
    const r = rig(tc, { knownHosts: [], answer: 'cancel' });
    await check(r, 'ucd1');
    assert.equal(r.asked.length, 1);
    const line = fs.readFileSync(tc.knownHostsFile, 'utf8').split('\n').find((l) => l.startsWith(`${tc.nodes[0].host} `));
    assert.ok(line);
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-fp-')), 'k');
    fs.writeFileSync(tmp, `${line}\n`);
    const expected = execFileSync('ssh-keygen', ['-lf', tmp], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(r.asked[0].fingerprintSha256, expected);
    const o = outcome(r, 'ucd1');
    assert.equal(o.status, 'failed');
    assert.match(o.evidence.join(' '), /not accepted|declined|cancel/i);
    await r.pool.closeAll();
  });

  test('a changed host key is refused with both fingerprints, without asking', async () => {
    const lines = fs.readFileSync(tc.knownHostsFile, 'utf8').trim().split('\n');
    const key2 = lines.find((l) => l.startsWith(`${tc.nodes[1].host} `))?.split(' ').slice(1).join(' ');
    const forged = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kh-')), 'known_hosts');
    // ucd1's address with ucd2's key: to the client, ucd1 now presents a different key.
    fs.writeFileSync(forged, `${tc.nodes[0].host} ${key2}\n`);
    const r = rig(tc, { knownHosts: [forged], answer: 'always' });
    await check(r, 'ucd1');
    assert.equal(r.asked.length, 0, 'a changed key is never offered for acceptance');
    const o = outcome(r, 'ucd1');
    assert.equal(o.status, 'failed');
    const text = o.evidence.join(' ');
    assert.match(text, /CHANGED/);
    assert.equal((text.match(/SHA256:[A-Za-z0-9+/]{43}/g) ?? []).length >= 2, true, `both fingerprints: ${text}`);
    await r.pool.closeAll();
  });

  test('with neither ss nor netstat the check says command not found instead of passing', async () => {
    await tc.inNode('ucd3', 'mount --bind /dev/null /usr/bin/ss && mount --bind /dev/null /usr/bin/netstat');
    try {
      const r = rig(tc);
      await check(r, 'ucd3');
      const o = outcome(r, 'ucd3');
      assert.notEqual(o.status, 'passed');
      assert.match(o.evidence.join(' '), /neither ss nor netstat/);
      await r.pool.closeAll();
    } finally {
      await tc.inNode('ucd3', 'umount /usr/bin/ss; umount /usr/bin/netstat');
    }
  });

  test('a hostile install dir is a path with a strange name, never a second command', async () => {
    const file = JSON.parse(tc.clusterFile());
    file.nodes[0].installDir = '/opt/ucd; touch /tmp/pwned-$(id -u)';
    const r = rig(tc, { file: JSON.stringify(file) });
    await check(r, 'ucd1');
    const pwned = await tc.inNode('ucd1', 'ls /tmp | grep -c pwned || true');
    assert.equal(pwned.stdout.trim(), '0', 'nothing was executed from the value');
    const o = outcome(r, 'ucd1');
    assert.ok(o.status === 'passed' || o.status === 'failed');
    await r.pool.closeAll();
  });
});
