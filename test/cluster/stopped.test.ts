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
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { Outcome } from '../../src/core/runbook/state';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { HostKeyAnswer, HostKeyQuestion } from '../../src/core/remote/interaction';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';
import type { SomeHandlers } from '../fixtures/handlers';

const skip = clusterPrerequisites();

interface Rig {
  cluster: Cluster;
  session: RunSession;
  handlers: SomeHandlers;
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
  return actionContext({ cluster: r.cluster, session: r.session, target: node ? { step, node } : { step }, log, signal: new AbortController().signal });
}

function outcome(r: Rig, node: string): Outcome & { evidence: readonly string[]; hint?: string } {
  const o = r.session.state().get(`verifyStopped@${node}`);
  assert.ok(o && 'evidence' in o, `no verdict for ${node}: ${JSON.stringify(o)}`);
  return o as Outcome & { evidence: readonly string[]; hint?: string };
}

async function check(r: Rig, node?: string): Promise<void> {
  await r.handlers.verifyStopped?.check?.(ctx(r, 'verifyStopped', node));
}

/**
 * A process with the command line of a UCD server of `install` (a JVM still starting: no pid file,
 * no port yet), as `user`, on a node. Returns its pid once its command line is in place.
 */
async function startStandIn(tc: TestCluster, node: string, install: string, user?: string): Promise<number> {
  const r = await tc.inNode(node, `
    setsid bash -c 'exec -a "$0" /usr/bin/node -e "setInterval(() => {}, 1 << 30)" -- -Xmx1g -jar "$1/bin/launcher.jar" "$1/bin/classpath.conf" com.urbancode.ds.UDeployServer' "$1/java/bin/java" "$1" </dev/null >/dev/null 2>&1 &
    p=$!; i=0
    while [ $i -lt 200 ] && ! tr '\\000' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q 'UDeployServer'; do sleep 0.05; i=$((i + 1)); done
    tr '\\000' ' ' < "/proc/$p/cmdline" | grep -q 'UDeployServer' && echo "$p"`.replace(/\$1/g, install), user ? { user, timeoutMs: 20_000 } : { timeoutMs: 20_000 });
  const pid = Number(r.stdout.trim());
  assert.ok(r.code === 0 && pid > 1, `the stand-in server of ${install} did not start on ${node}: ${r.stdout}${r.stderr}`);
  return pid;
}

async function endStandIn(tc: TestCluster, node: string, pid: number): Promise<void> {
  await tc.inNode(node, `kill -9 ${pid} 2>/dev/null; while [ -e /proc/${pid} ]; do sleep 0.05; done; true`, { timeoutMs: 10_000 });
}

function withInstallDir(tc: TestCluster, node: number, installDir: string): string {
  const file = JSON.parse(tc.clusterFile());
  file.nodes[node].installDir = installDir;
  return JSON.stringify(file);
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

  test('each node has its own /etc/machine-id', async () => {
    const ids = await Promise.all(tc.nodes.map(async (n) => (await tc.inNode(n.name, 'cat /etc/machine-id')).stdout.trim()));
    assert.deepEqual(ids, tc.nodes.map((n) => tc.machineId(n.name)));
    assert.equal(new Set(ids).size, tc.nodes.length, ids.join(' '));
  });

  test('a symlinked install dir: this install\'s own server is named as this install\'s, blocks the proof, and Run offers to kill it as such', async () => {
    await tc.inNode('ucd1', `ln -sfn ${tc.installDir} /tmp/ucd-link`);
    const pid = await startStandIn(tc, 'ucd1', tc.installDir, tc.user);
    try {
      const r = rig(tc, { file: withInstallDir(tc, 0, '/tmp/ucd-link'), confirm: true });
      await check(r, 'ucd1');
      const o = outcome(r, 'ucd1');
      assert.equal(o.status, 'failed', o.evidence.join('; '));
      assert.ok(o.evidence.includes(`server process ${pid} running (com.urbancode.ds.UDeployServer)`), o.evidence.join('; '));
      assert.ok(!o.evidence.some((e) => /another install/.test(e)), `not "another install": ${o.evidence.join('; ')}`);
      await r.handlers.verifyStopped?.run?.(ctx(r, 'verifyStopped', 'ucd1'));
      assert.equal(r.confirmations.length, 1, r.confirmations.join('\n---\n'));
      assert.match(r.confirmations[0]!, new RegExp(`^Kill 1 UCD server process of /tmp/ucd-link on ucd1\\?\nkill pid ${pid}: `));
      assert.match(r.confirmations[0]!, /"Kill Them" sends each TERM, then KILL .*"Leave Them Running" changes nothing on ucd1; step 5 stays failed and names what still runs\.$/s);
      assert.equal(outcome(r, 'ucd1').status, 'passed', outcome(r, 'ucd1').evidence.join('; '));
      await r.pool.closeAll();
    } finally {
      await endStandIn(tc, 'ucd1', pid);
      await tc.inNode('ucd1', 'rm -f /tmp/ucd-link');
    }
  });

  test('an installDir written with // and /./ never reaches the node: the loader asks for it normalised', () => {
    // The node would resolve it (as the symlink test shows); the file is refused first, at its line.
    assert.throws(() => rig(tc, { file: withInstallDir(tc, 1, `/${tc.installDir.replace('/server', '/./server')}/`) }), new RegExp(`write it as \\\\"${tc.installDir}\\\\"`));
  });

  test('a UCD server of ANOTHER install on the node blocks the proof, named with its pid and install; Run asks about it on its own', async () => {
    const other = '/opt/ucd/other-install/server';
    const pid = await startStandIn(tc, 'ucd3', other, tc.user);
    try {
      const r = rig(tc, { confirm: false });
      await check(r, 'ucd3');
      const o = outcome(r, 'ucd3');
      assert.equal(o.status, 'failed', o.evidence.join('; '));
      assert.ok(o.evidence.some((e) => e.startsWith(`pid ${pid} is a UCD server of another install (install ${other}`) && e.endsWith(`not ${tc.installDir}: any UCD server on a cluster node blocks the proof`)), o.evidence.join('; '));
      assert.match(o.hint ?? '', new RegExp(`^Stop pid ${pid} on ucd3 \\(${other}/bin/server stop as its user, or Run step 5, which asks first\\)`));
      await r.handlers.verifyStopped?.run?.(ctx(r, 'verifyStopped', 'ucd3'));
      assert.equal(r.confirmations.length, 1);
      assert.match(r.confirmations[0]!, new RegExp(`^ucd3: pid ${pid} is a UCD server of another install \\(install ${other}.*\\), NOT of ${tc.installDir}\\. Kill it\\?`));
      assert.equal((await tc.inNode('ucd3', `kill -0 ${pid} && echo alive`)).stdout.trim(), 'alive', 'declined: nothing was killed');
      assert.equal(outcome(r, 'ucd3').status, 'failed');
      await r.pool.closeAll();
    } finally {
      await endStandIn(tc, 'ucd3', pid);
    }
  });

  test('hidepid=ptraceable: a root-owned server invisible to the SSH user fails the proof with what to do', async () => {
    const pid = await startStandIn(tc, 'ucd2', tc.installDir);
    await tc.inNode('ucd2', 'mount -o remount,hidepid=ptraceable /proc');
    try {
      const seen = await tc.inNode('ucd2', `test -e /proc/${pid} && echo visible || echo hidden`, { user: tc.user });
      assert.equal(seen.stdout.trim(), 'hidden', 'the SSH user really cannot see the root-owned server');
      const r = rig(tc);
      await check(r, 'ucd2');
      const o = outcome(r, 'ucd2');
      assert.equal(o.status, 'failed', o.evidence.join('; '));
      assert.ok(o.evidence.some((e) => e.startsWith('process list limited: /proc is mounted with hidepid=ptraceable and the SSH user (uid ')), o.evidence.join('; '));
      assert.match(o.hint ?? '', /root \(or can sudo to it\), or remount \/proc without hidepid/);
      await r.pool.closeAll();
    } finally {
      await tc.inNode('ucd2', 'mount -o remount,hidepid=0 /proc');
      await endStandIn(tc, 'ucd2', pid);
    }
    const r = rig(tc);
    await check(r, 'ucd2');
    assert.equal(outcome(r, 'ucd2').status, 'passed', `full visibility again: ${outcome(r, 'ucd2').evidence.join('; ')}`);
    await r.pool.closeAll();
  });

  test('two entries that reach one machine (one NAT address, two ports) fail the proof for both, naming both; Run offers nothing there', async () => {
    const port = await tc.openSecondSshPort('ucd1');
    const file = JSON.parse(tc.clusterFile());
    // ucd3's entry now leads to ucd1 too: the real ucd3 would be missing from the proof.
    file.nodes[2].host = tc.nodes[0].host;
    file.nodes[2].sshPort = port;
    // Ports of its own, as a NAT forward would give it: the loader refuses one port twice on one address.
    file.nodes[2].httpsPort = 9443;
    file.nodes[2].jmsPort = 9918;
    await tc.startServer('ucd1');
    try {
      const r = rig(tc, { file: JSON.stringify(file), confirm: true });
      await check(r);
      const id = tc.machineId('ucd1');
      for (const n of ['ucd1', 'ucd3']) {
        const o = outcome(r, n);
        assert.equal(o.status, 'failed', `${n}: ${o.evidence.join('; ')}`);
        const dup = o.evidence.find((e) => / reach the same machine /.test(e));
        assert.ok(dup, `${n} names the duplicate: ${o.evidence.join('; ')}`);
        assert.match(dup, new RegExp(`^(ucd1 and ucd3|ucd3 and ucd1) reach the same machine \\(machine-id ${id}\\) and the same install \\(${tc.installDir}\\)`));
      }
      assert.equal(outcome(r, 'ucd2').status, 'passed', `the entry of its own machine passes: ${outcome(r, 'ucd2').evidence.join('; ')}`);
      // A later check of one entry alone still knows the other from the journal.
      await check(r, 'ucd1');
      assert.ok(outcome(r, 'ucd1').evidence.some((e) => e.startsWith('ucd1 and ucd3 reach the same machine')), outcome(r, 'ucd1').evidence.join('; '));
      await r.handlers.verifyStopped?.run?.(ctx(r, 'verifyStopped'));
      assert.deepEqual(r.confirmations, [], 'no kill dialog for entries that reach one machine');
      assert.match(r.session.state().get('verifyStopped@ucd3')?.status ?? '', /failed/);
      assert.equal((await tc.inNode('ucd1', `test -s ${tc.installDir}/var/server.pid && echo running`)).stdout.trim(), 'running', 'ucd1 was left alone');
      await r.pool.closeAll();
    } finally {
      await tc.stopServer('ucd1');
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
