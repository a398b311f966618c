// Steps 4 and 5 through their handlers, recorded in a real RunSession (journal on disk), against
// real processes on this machine through a real shell (test/support/localShell.ts). The SSH
// transport plugs in at the same `transportFor`; unreachable nodes are RemoteErrors from it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import type { Target } from '../../src/core/journal/events';
import { RemoteError, type Transport } from '../../src/core/remote/transport';
import { shQuote } from '../../src/core/remote/quote';
import type { ActionContext } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { targetKey, type Outcome } from '../../src/core/runbook/state';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { checkStopped, stopLeftovers } from '../../src/core/steps/verifyStopped';
import { IsolatedShell, isolationUnavailable, PidSandbox } from '../support/isolatedShell';
import { freePort, LocalShell, startFakeServer, type FakeServer } from '../support/localShell';
import { actionContext } from '../../src/core/runbook/runner';

const noIsolation = isolationUnavailable();

const servers: FakeServer[] = [];
const sandboxes: PidSandbox[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const b of sandboxes) await b.stop();
});

interface NodeSetup {
  name: string;
  installDir: string;
  httpsPort: number;
  jmsPort: number;
  stopCommand?: string;
}

function install(root: string, name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'var'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'conf'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/installed.version'), 'installed.version=7.0.5.0\n');
  // A service script shaped like the real bin/server stop: TERM the pid of var/server.pid, remove the file.
  fs.writeFileSync(
    path.join(dir, 'bin/server'),
    '#!/bin/sh\nd=$(cd "$(dirname "$0")/.." && pwd)\n[ "$1" = stop ] || exit 2\npid=$(cat "$d/var/server.pid") || exit 1\nkill "$pid" && rm -f "$d/var/server.pid" && echo "Stopping server pid $pid"\n',
  );
  return dir;
}

function clusterOf(root: string, nodes: NodeSetup[]): Cluster {
  const text = JSON.stringify({
    name: 'local',
    currentVersion: '7.0.5.0',
    targetVersion: '7.1.2.0',
    firstNode: nodes[0]!.name,
    sharedAppdata: path.join(root, 'appdata'),
    loadBalancerUrl: 'https://lb.example.test',
    ucd: { url: 'https://lb.example.test', credential: 'ucd-admin' },
    database: { type: 'mariadb', backup: { command: 'true', artifact: '/tmp/x.sql' } },
    package: { remotePath: '/tmp/ibm-ucd-install' },
    nodes: nodes.map((n, i) => ({ name: n.name, host: `127.0.0.${i + 1}`, user: 'ucd', installDir: n.installDir, httpsPort: n.httpsPort, jmsPort: n.jmsPort, ...(n.stopCommand ? { stopCommand: n.stopCommand } : {}) })),
  });
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster;
}

function context(cluster: Cluster, target: Target): { ctx: ActionContext; lines: string[]; session: RunSession } {
  const session = RunSession.open(cluster, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-')));
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`INFO ${m}`), warn: (m: string) => lines.push(`WARN ${m}`), error: (m: string) => lines.push(`ERROR ${m}`) };
  return { ctx: actionContext({ cluster, session, target, log, signal: new AbortController().signal }), lines, session };
}

function outcome(session: RunSession, step: 'stop' | 'verifyStopped', node: string): Extract<Outcome, { evidence: readonly string[] }> {
  const o = session.state().get(targetKey(step, node));
  assert.ok(o && 'evidence' in o, `${step}@${node} has a verdict: ${JSON.stringify(o)}`);
  return o as Extract<Outcome, { evidence: readonly string[] }>;
}

const unreachable = new RemoteError('unreachable', 'ucd2', 'ucd2: cannot reach 127.0.0.1:22 (connection timed out after 10 s)', 'Check that ucd2 is up and its SSH port is open from here, then Check again.');

test('Check on step 5: nodes probed in parallel, each recorded with its evidence; an unreachable node fails alone', { skip: noIsolation }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-check-'));
  const d1 = install(root, 'n1');
  const d3 = install(root, 'n3');
  const s = await startFakeServer({ installDir: d1, ports: [0] });
  servers.push(s);
  fs.writeFileSync(path.join(d1, 'var/server.pid'), `${s.pid}\n`);
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: d1, httpsPort: s.ports[0]!, jmsPort: await freePort() },
    { name: 'ucd2', installDir: d1, httpsPort: 8443, jmsPort: 7918 },
    { name: 'ucd3', installDir: d3, httpsPort: await freePort(), jmsPort: await freePort() },
  ]);
  const { ctx, lines, session } = context(cluster, { step: 'verifyStopped' });
  // Each node's connection takes 300 ms to come up (or fail); in parallel, all three are pending at once.
  let inFlight = 0;
  let maxInFlight = 0;
  const transportFor = async (n: ClusterNode): Promise<Transport> => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await new Promise((r) => setTimeout(r, 300));
    inFlight--;
    if (n.name === 'ucd2') throw unreachable;
    // ucd3 is a machine of its own (a private pid namespace): ucd1's server is not on it.
    return n.name === 'ucd3' ? new IsolatedShell(n.name) : new LocalShell(n.name);
  };
  await stoppedHandlers({ transportFor, confirm: async () => false }).verifyStopped!.check!(ctx);
  assert.equal(maxInFlight, 3, 'the three nodes were probed in parallel');

  const o1 = outcome(session, 'verifyStopped', 'ucd1');
  assert.equal(o1.status, 'failed');
  assert.equal(o1.kind, 'check');
  assert.ok(o1.evidence.includes(`pid ${s.pid} listening on :${s.ports[0]}`), o1.evidence.join('\n'));
  assert.ok(o1.evidence.includes(`server process ${s.pid} running (com.urbancode.ds.UDeployServer)`));
  assert.equal(o1.hint, 'Run step 5 to stop what is left.');

  const o2 = outcome(session, 'verifyStopped', 'ucd2');
  assert.equal(o2.status, 'failed');
  assert.deepEqual(o2.evidence, [unreachable.message]);
  assert.equal(o2.hint, unreachable.hint);

  const o3 = outcome(session, 'verifyStopped', 'ucd3');
  assert.equal(o3.status, 'passed');
  assert.match(o3.evidence[0] ?? '', /^nothing on :\d+ or :\d+, no pid file, no server process$/);

  // The journal on disk carries the structured facts next to the evidence.
  const finished = fs.readFileSync(session.journalFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'finished' && e.node === 'ucd1');
  assert.deepEqual(finished[0]?.facts?.pidFile, { state: 'live', pid: s.pid });

  // The output channel has the full record: command, exit code, duration, output.
  assert.ok(lines.some((l) => l === 'INFO [ucd1] probe (pid file, ports, server process, version): $ /bin/sh -s <<script'));
  assert.ok(lines.some((l) => /^INFO \[ucd1\] exit 0 in \d+ ms$/.test(l)));
  assert.ok(lines.some((l) => l.startsWith('INFO [ucd1] | holder ') && l.includes(' com.urbancode.ds.UDeployServer')));
  assert.ok(lines.some((l) => l.startsWith('ERROR [ucd2] stopped-check failed: ucd2: cannot reach')));
  await s.stop();
});

test('Check from one node item probes only that node', { skip: noIsolation }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-check-'));
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: install(root, 'n1'), httpsPort: await freePort(), jmsPort: await freePort() },
    { name: 'ucd2', installDir: install(root, 'n2'), httpsPort: await freePort(), jmsPort: await freePort() },
  ]);
  const { ctx, session } = context(cluster, { step: 'verifyStopped', node: 'ucd2' });
  const asked: string[] = [];
  const r = await checkStopped(ctx, async (n) => (asked.push(n.name), new IsolatedShell(n.name)));
  assert.deepEqual(asked, ['ucd2']);
  assert.deepEqual(r.map((e) => [e.node, e.verdict]), [['ucd2', 'passed']]);
  assert.equal(session.state().get(targetKey('verifyStopped', 'ucd1')), undefined);
});

test('Run on step 5: names each process and asks; stops what was approved, removes the stale pid file, leaves what was declined; then checks again', { skip: noIsolation }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-run-'));
  const d1 = install(root, 'n1');
  const d2 = install(root, 'n2');
  const d3 = install(root, 'n3');
  // Each node a machine of its own (a pid namespace), so nothing else on this host is on them.
  const m1 = await PidSandbox.start();
  const m3 = await PidSandbox.start();
  sandboxes.push(m1, m3);
  const own = await m1.startFakeServer({ installDir: d1, ports: [0], ignoreTerm: true });
  const foreign = await m3.startFakeServer({ installDir: path.join(root, 'elsewhere'), ports: [0], mainClass: 'org.example.Web' });
  const stale = await startFakeServer({ installDir: d2 });
  await stale.stop();
  servers.push(own, foreign);
  fs.writeFileSync(path.join(d1, 'var/server.pid'), `${own.pid}\n`);
  fs.writeFileSync(path.join(d2, 'var/server.pid'), `${stale.pid}\n`);
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: d1, httpsPort: own.ports[0]!, jmsPort: await freePort() },
    { name: 'ucd2', installDir: d2, httpsPort: await freePort(), jmsPort: await freePort() },
    { name: 'ucd3', installDir: d3, httpsPort: foreign.ports[0]!, jmsPort: await freePort() },
  ]);
  const { ctx, session } = context(cluster, { step: 'verifyStopped' });
  const questions: { q: string; detail: string }[] = [];
  const confirm = async (q: string, detail: string) => {
    questions.push({ q, detail });
    return !q.includes('NOT'); // yes to this install's leftovers, no to anything else
  };
  const transportFor = async (n: ClusterNode): Promise<Transport> => (n.name === 'ucd1' ? m1.transport(n.name) : n.name === 'ucd3' ? m3.transport(n.name) : new IsolatedShell(n.name));
  const results = await stopLeftovers(ctx, { transportFor, confirm }, { killGraceSeconds: 1 });

  const q1 = questions.find((x) => x.q.includes('ucd1'));
  assert.equal(q1?.q, `Kill 1 UCD server process of ${d1} on ucd1?`);
  assert.match(q1?.detail ?? '', /\n"Kill Them" sends each TERM, then KILL if it still runs after 1 s, then removes the pid file\. "Leave Them Running" changes nothing on ucd1; step 5 stays failed and names what still runs\.$/);
  assert.match(q1?.detail ?? '', new RegExp(`^kill pid ${own.pid} \\(holds :${own.ports[0]}\\): /usr/lib/jvm/java-17/bin/java .* -jar ${d1}/bin/launcher.jar ${d1}/bin/classpath.conf com.urbancode.ds.UDeployServer$`, 'm'));
  assert.match(q1?.detail ?? '', new RegExp(`^remove ${d1}/var/server.pid \\(pid ${own.pid}\\) if no process has that pid$`, 'm'));
  const q2 = questions.find((x) => x.q.includes('ucd2'));
  assert.equal(q2?.q, 'Remove the stale pid file on ucd2?');
  const q3 = questions.find((x) => x.q.includes('ucd3'));
  assert.equal(q3?.q, `ucd3: pid ${foreign.pid} holds :${foreign.ports[0]} but is NOT the UCD server of ${d3}. Kill it?`);
  assert.match(q3?.detail ?? '', /org\.example\.Web/, 'the user saw its command line');
  assert.match(q3?.detail ?? '', /"Kill Them" sends it TERM, then KILL if it still runs after 1 s\. "Leave Them Running" leaves it alone\.$/);

  await own.exited; // really gone (it ignored TERM: KILL after the grace period)
  assert.equal(fs.existsSync(path.join(d1, 'var/server.pid')), false, 'pid file of the killed server removed');
  assert.equal(fs.existsSync(path.join(d2, 'var/server.pid')), false, 'stale pid file removed');
  assert.equal(m3.alive(foreign.pid), true, 'declined foreign process still runs');
  assert.equal(m1.alive(own.pid), false);

  const r1 = results.find((r) => r.node === 'ucd1')!;
  assert.equal(r1.verdict, 'passed');
  assert.ok(r1.evidence.includes(`pid ${own.pid} killed (KILL after 1 s)`), r1.evidence.join('\n'));
  assert.ok(r1.evidence.includes(`removed stale var/server.pid (pid ${own.pid})`));
  assert.deepEqual(results.find((r) => r.node === 'ucd2')?.evidence, [`removed stale var/server.pid (pid ${stale.pid})`]);
  const r3 = results.find((r) => r.node === 'ucd3')!;
  assert.equal(r3.verdict, 'failed');
  assert.ok(r3.evidence.some((l) => l.startsWith(`declined: kill pid ${foreign.pid}`)));

  // After Run, the check ran again and is what the state (and the installer's gate) reads.
  assert.deepEqual(
    ['ucd1', 'ucd2', 'ucd3'].map((n) => [n, outcome(session, 'verifyStopped', n).status, outcome(session, 'verifyStopped', n).kind]),
    [['ucd1', 'passed', 'check'], ['ucd2', 'passed', 'check'], ['ucd3', 'failed', 'check']],
  );
  assert.equal(questions.length, 3, questions.map((x) => x.q).join('\n'));
  await foreign.stop();
});

test('Run on step 5 when the user declines: nothing is killed', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-run-'));
  const d1 = install(root, 'n1');
  const s = await startFakeServer({ installDir: d1, ports: [0] });
  servers.push(s);
  const cluster = clusterOf(root, [{ name: 'ucd1', installDir: d1, httpsPort: s.ports[0]!, jmsPort: await freePort() }]);
  const { ctx, session } = context(cluster, { step: 'verifyStopped' });
  const shell = new LocalShell('ucd1');
  const [r] = await stopLeftovers(ctx, { transportFor: async () => shell, confirm: async () => false }, { killGraceSeconds: 1 });
  assert.equal(r?.verdict, 'failed');
  assert.ok(r?.evidence.some((l) => l.startsWith(`declined: kill pid ${s.pid}`)));
  assert.equal(fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes('UDeployServer'), true);
  assert.equal(shell.commands.length, 2, 'probe, (no stop script), probe again');
  assert.equal(outcome(session, 'verifyStopped', 'ucd1').status, 'failed');
  await s.stop();
});

test('Run on step 4: each node\'s stop command, waits for the probes, then records step 5 too', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-stop-'));
  const d1 = install(root, 'n1');
  const d2 = install(root, 'n2');
  const s1 = await startFakeServer({ installDir: d1, ports: [0] });
  const s2 = await startFakeServer({ installDir: d2, ports: [0] });
  servers.push(s1, s2);
  fs.writeFileSync(path.join(d1, 'var/server.pid'), `${s1.pid}\n`);
  fs.writeFileSync(path.join(d2, 'var/server.pid'), `${s2.pid}\n`);
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: d1, httpsPort: s1.ports[0]!, jmsPort: await freePort(), stopCommand: `${shQuote(`${d1}/bin/server`)} stop` },
    { name: 'ucd2', installDir: d2, httpsPort: s2.ports[0]!, jmsPort: await freePort(), stopCommand: 'echo "cannot stop: service is masked" >&2; exit 3' },
  ]);
  fs.chmodSync(path.join(d1, 'bin/server'), 0o755);
  const { ctx, lines, session } = context(cluster, { step: 'stop' });
  const handlers = stoppedHandlers({ transportFor: async (n) => new LocalShell(n.name), confirm: async () => false, options: { settleMs: 1500, pollMs: 250 } });
  await handlers.stop!.run!(ctx);

  // Both entries are this one machine: ucd1's own server is gone, but ucd2's (another install on
  // the same machine) still runs, and any UCD server on a node blocks its proof.
  const stop1 = outcome(session, 'stop', 'ucd1');
  assert.equal(stop1.status, 'failed', stop1.evidence.join('\n'));
  assert.match(stop1.evidence[0] ?? '', /^stop command exited 0 after \d+\.\d s$/);
  assert.ok(!stop1.evidence.some((l) => l.startsWith(`server process ${s1.pid}`)), 'ucd1\'s own server stopped');
  assert.ok(stop1.evidence.some((l) => l.startsWith(`pid ${s2.pid} is a UCD server of another install (install ${d2}`)), stop1.evidence.join('\n'));
  assert.ok(lines.includes('INFO [ucd1] | Stopping server pid ' + s1.pid), 'stop command output streamed to the log');
  assert.equal(outcome(session, 'verifyStopped', 'ucd1').status, 'failed');
  assert.equal(outcome(session, 'verifyStopped', 'ucd1').kind, 'check');

  const stop2 = outcome(session, 'stop', 'ucd2');
  assert.equal(stop2.status, 'failed');
  assert.match(stop2.evidence[0] ?? '', /^stop command exited 3 after \d+\.\d s: cannot stop: service is masked$/);
  assert.ok(stop2.evidence.includes(`server process ${s2.pid} running (com.urbancode.ds.UDeployServer)`));
  assert.equal(stop2.hint, 'Still running after the stop command — Run step 5 to stop what is left.');
  assert.equal(outcome(session, 'verifyStopped', 'ucd2').status, 'failed');
  await s1.stop();
  await s2.stop();
});

test('Run on step 4 for an unreachable node: that node fails with the remote error, the other still stops', { skip: noIsolation }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-stop-'));
  const d1 = install(root, 'n1');
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: d1, httpsPort: await freePort(), jmsPort: await freePort(), stopCommand: 'true' },
    { name: 'ucd2', installDir: d1, httpsPort: await freePort(), jmsPort: await freePort() },
  ]);
  const { ctx, session } = context(cluster, { step: 'stop' });
  await stoppedHandlers({
    transportFor: async (n) => {
      if (n.name === 'ucd2') throw unreachable;
      return new IsolatedShell(n.name);
    },
    confirm: async () => false,
    options: { settleMs: 0 },
  }).stop!.run!(ctx);
  assert.equal(outcome(session, 'stop', 'ucd1').status, 'passed');
  assert.deepEqual(outcome(session, 'stop', 'ucd2').evidence, [unreachable.message]);
  assert.equal(outcome(session, 'stop', 'ucd2').hint, unreachable.hint);
  assert.equal(outcome(session, 'verifyStopped', 'ucd2').status, 'failed');
});

test('Run on step 5 on a node that already shows the target version: refused with the reason, no kill dialog, nothing stopped', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-upgraded-'));
  const d1 = install(root, 'n1');
  fs.writeFileSync(path.join(d1, 'conf/installed.version'), 'installed.version=7.1.2.0\n');
  const s = await startFakeServer({ installDir: d1, ports: [0] });
  servers.push(s);
  fs.writeFileSync(path.join(d1, 'var/server.pid'), `${s.pid}\n`);
  const cluster = clusterOf(root, [{ name: 'ucd1', installDir: d1, httpsPort: s.ports[0]!, jmsPort: await freePort() }]);
  const { ctx, session } = context(cluster, { step: 'verifyStopped' });
  const asked: string[] = [];
  const shell = new LocalShell('ucd1');
  const [r] = await stopLeftovers(ctx, { transportFor: async () => shell, confirm: async (q) => (asked.push(q), true) }, { killGraceSeconds: 1 });
  assert.deepEqual(asked, [], 'no kill dialog for an upgraded server');
  assert.equal(r?.verdict, 'failed');
  assert.equal(r?.evidence[0], 'nothing was stopped: ucd1 already shows the target version 7.1.2.0 in conf/installed.version: it is upgraded, and Run on step 5 never stops an upgraded server');
  assert.match(r?.hint ?? '', /^Nothing to do on ucd1 for step 5\./);
  assert.equal(fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes('UDeployServer'), true, 'still running');
  assert.equal(shell.commands.length, 1, 'one probe; no stop script, no second probe');
  assert.equal(outcome(session, 'verifyStopped', 'ucd1').kind, 'run');
  await s.stop();
});

test('two entries that reach one machine and install: both fail the check, naming both; a later check of one still knows; Run offers nothing', { skip: noIsolation }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-dup-'));
  const d1 = install(root, 'n1');
  const d2 = install(root, 'n2');
  const alias = path.join(root, 'n1-alias');
  fs.symlinkSync(d1, alias);
  const cluster = clusterOf(root, [
    { name: 'ucd1', installDir: d1, httpsPort: await freePort(), jmsPort: await freePort() },
    // The same install reached through a link: the node resolves both to one path.
    { name: 'ucd2', installDir: alias, httpsPort: await freePort(), jmsPort: await freePort() },
    { name: 'ucd3', installDir: d2, httpsPort: await freePort(), jmsPort: await freePort() },
  ]);
  const { ctx, session } = context(cluster, { step: 'verifyStopped' });
  // One isolated machine for all three entries: same machine-id and boot id, as one real node.
  const transportFor = async (n: ClusterNode): Promise<Transport> => new IsolatedShell(n.name);
  await checkStopped(ctx, transportFor);
  const real = fs.realpathSync(d1);
  for (const n of ['ucd1', 'ucd2']) {
    const o = outcome(session, 'verifyStopped', n);
    assert.equal(o.status, 'failed', o.evidence.join('\n'));
    assert.ok(o.evidence.some((l) => new RegExp(`^(ucd1 and ucd2|ucd2 and ucd1) reach the same machine \\(machine-id [0-9a-f]+\\) and the same install \\(${real}\\): one node is listed more than once`).test(l)), o.evidence.join('\n'));
    assert.match(o.hint ?? '', /^Fix the cluster file: /);
  }
  assert.equal(outcome(session, 'verifyStopped', 'ucd3').status, 'passed', 'another install on that machine is its own entry');
  await checkStopped({ ...ctx, target: { step: 'verifyStopped', node: 'ucd2' } }, transportFor);
  assert.ok(outcome(session, 'verifyStopped', 'ucd2').evidence.some((l) => l.startsWith('ucd2 and ucd1 reach the same machine')), 'from ucd1\'s recorded report');
  const asked: string[] = [];
  const results = await stopLeftovers(ctx, { transportFor, confirm: async (q) => (asked.push(q), true) });
  assert.deepEqual(asked, []);
  assert.deepEqual(results.map((x) => [x.node, x.verdict]), [['ucd1', 'failed'], ['ucd2', 'failed'], ['ucd3', 'passed']]);
});

test('findDuplicates: the same machine-id on another kernel (a cloned VM) is not the same machine; without machine-id, boot id and host name decide', async () => {
  const { findDuplicates } = await import('../../src/core/steps/verifyStopped');
  const m = (machineId: string | undefined, bootId: string, hostname: string, install = '/opt/ucd/server') => ({ ...(machineId ? { machineId } : {}), bootId, hostname, install });
  const d = findDuplicates([
    { node: 'a', machine: m('aa', 'b1', 'h1') },
    { node: 'b', machine: m('aa', 'b1', 'h1-alias') },
    { node: 'clone', machine: m('aa', 'b2', 'h2') },
    { node: 'other-install', machine: m('aa', 'b1', 'h1', '/opt/ucd/server2') },
    { node: 'c1', machine: m(undefined, 'b3', 'box') },
    { node: 'c2', machine: m(undefined, 'b3', 'box') },
    { node: 'c3', machine: m(undefined, 'b3', 'box2') },
  ]);
  assert.deepEqual([...d.keys()].sort(), ['a', 'b', 'c1', 'c2']);
  assert.deepEqual(d.get('a')?.map((x) => x.node), ['b']);
});
