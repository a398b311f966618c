// The composed probe script really executed by /bin/sh on this machine (no root, no network),
// against temp install dirs and real processes: the script and the parsers must agree.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterNode } from '../../src/core/cluster/types';
import { isServerOf } from '../../src/core/probes/cmdline';
import { buildNodeProbe, parseNodeProbe, probeNode, WINDOWS_UNSUPPORTED, type NodeProbe } from '../../src/core/probes/node';
import { evaluateStopped } from '../../src/core/steps/verifyStopped';
import { IsolatedShell, isolationUnavailable } from '../support/isolatedShell';
import { freePort, LocalShell, startFakeServer, type FakeServer } from '../support/localShell';

const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-probe-'));
}

function install(root: string, name = 'server', version = '7.0.5.0'): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'var'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'conf'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/installed.version'), `#generated\ninstalled.version=${version}\n`);
  return dir;
}

function nodeOf(installDir: string, httpsPort: number, jmsPort: number, name = 'ucd1'): ClusterNode {
  return { name, host: '127.0.0.1', sshPort: 22, os: 'linux', installDir, httpsPort, jmsPort, startCommand: 'true', stopCommand: 'true', service: { manager: 'auto' } };
}

async function probe(node: ClusterNode, appdataDir?: string, cwd?: string): Promise<{ p: NodeProbe; shell: LocalShell }> {
  const shell = new LocalShell(node.name, cwd);
  const { probe: p } = await probeNode(async () => shell, node, appdataDir ? { appdataDir } : {});
  return { p, shell };
}

function probed(p: NodeProbe): Extract<NodeProbe, { kind: 'probed' }> {
  assert.equal(p.kind, 'probed', JSON.stringify(p));
  return p as Extract<NodeProbe, { kind: 'probed' }>;
}

/** A pid that existed a moment ago and has ended. */
function deadPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'sh -c "echo \\$\\$"']);
  return Number(String(r.stdout).trim());
}

test('stopped node: no pid file, nothing on the ports, no server — and one exec for all probes', { skip: isolationUnavailable() }, async () => {
  const root = tmp();
  const dir = install(root);
  const appdata = install(root, 'appdata', '7.0.5.0');
  // A machine of its own: UCD-shaped processes of other tests on this host are not on it.
  const isolated = new IsolatedShell('ucd1');
  const shell = isolated.shell;
  const { probe: p } = await probeNode(async () => isolated, nodeOf(dir, await freePort(), await freePort()), { appdataDir: appdata });
  const r = probed(p);
  assert.equal(shell.commands.length, 1, 'all probes of the node in one round trip');
  assert.match(shell.commands[0]?.command ?? '', / '\/bin\/sh -s'$/);
  assert.deepEqual(r.pidFile, { kind: 'absent' });
  assert.equal(r.ports.kind, 'ok');
  assert.deepEqual(r.ports.kind === 'ok' ? r.ports.listeners : null, []);
  assert.deepEqual(r.processes.kind === 'ok' ? r.processes.servers : null, []);
  assert.deepEqual(r.version, { kind: 'ok', install: { kind: 'found', version: '7.0.5.0' }, appdata: { kind: 'found', version: '7.0.5.0' } });
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'passed');
  assert.match(e.evidence[0] ?? '', /^nothing on :\d+ or :\d+, no pid file, no server process$/);
});

test('stale pid file: the pid names no process', async () => {
  const dir = install(tmp());
  const pid = deadPid();
  fs.writeFileSync(path.join(dir, 'var/server.pid'), `${pid}\n`);
  const r = probed((await probe(nodeOf(dir, await freePort(), await freePort()))).p);
  assert.deepEqual(r.pidFile, { kind: 'stale', pid });
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.includes(`stale var/server.pid (pid ${pid}), no process`));
  assert.equal(e.hint, 'Remove the stale pid file (Run offers it).');
});

test('running server of this install: pid file live, its port held, its process found', async () => {
  const dir = install(tmp());
  const s = await startFakeServer({ installDir: dir, ports: [0, 0] });
  servers.push(s);
  fs.writeFileSync(path.join(dir, 'var/server.pid'), `${s.pid}\n`);
  const [https, jms] = [s.ports[0]!, s.ports[1]!];
  const r = probed((await probe(nodeOf(dir, https, jms))).p);
  assert.equal(r.pidFile.kind, 'live');
  if (r.pidFile.kind === 'live') assert.ok(r.pidFile.process && isServerOf(r.pidFile.process, dir));
  assert.equal(r.ports.kind, 'ok');
  if (r.ports.kind === 'ok') {
    assert.deepEqual(r.ports.listeners.map((l) => l.port).sort((a, b) => a - b), [https, jms].sort((a, b) => a - b));
    assert.equal(r.ports.listeners.find((l) => l.port === https)?.owners[0]?.pid, s.pid);
    assert.equal(r.ports.listeners.find((l) => l.port === jms)?.owners[0]?.process?.pid, s.pid);
  }
  assert.deepEqual(r.processes.kind === 'ok' ? r.processes.servers.map((x) => x.pid) : null, [s.pid]);
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.includes(`pid ${s.pid} listening on :${https} and :${jms}`), e.evidence.join('\n'));
  assert.ok(e.evidence.includes(`server process ${s.pid} running (com.urbancode.ds.UDeployServer)`));
  assert.equal(e.hint, 'Run step 5 to stop what is left.');
  assert.deepEqual(e.facts.pidFile, { state: 'live', pid: s.pid });
  assert.equal(e.facts.serverPid, s.pid);
  await s.stop();
});

test('a server of ANOTHER install (path with the same prefix) does not match; holding our port it is named as foreign', async () => {
  const root = tmp();
  const dir = install(root, 'server');
  const other = install(root, 'server2');
  const s = await startFakeServer({ installDir: other, ports: [0] });
  servers.push(s);
  const free = probed((await probe(nodeOf(dir, await freePort(), await freePort()))).p);
  assert.deepEqual(free.processes.kind === 'ok' ? free.processes.servers : null, []);
  // (Other UCD-shaped processes may run on this machine, e.g. a cluster test's simulator: only ours is asserted.)
  assert.ok(free.processes.kind === 'ok' && free.processes.otherInstalls.some((x) => x.pid === s.pid));
  // Any UCD server on the node blocks the proof: it is named with its pid and install.
  const e1 = evaluateStopped(free);
  assert.equal(e1.verdict, 'failed', e1.evidence.join('\n'));
  assert.ok(e1.evidence.includes(`pid ${s.pid} is a UCD server of another install (install ${other} (as written; not resolved)), not ${dir}: any UCD server on a cluster node blocks the proof`), e1.evidence.join('\n'));

  const held = probed((await probe(nodeOf(dir, s.ports[0]!, await freePort()))).p);
  const e2 = evaluateStopped(held);
  assert.equal(e2.verdict, 'failed');
  assert.ok(e2.evidence.some((l) => l.startsWith(`pid ${s.pid} listening on :${s.ports[0]}, not this install's server: /usr/lib/jvm/java-17/bin/java`)), e2.evidence.join('\n'));
  await s.stop();
});

test('paths are compared as the node resolves them: a symlinked installDir, // and /./, or a server started through a link is THIS install\'s server', async () => {
  const root = fs.realpathSync(tmp());
  const real = install(root, 'server');
  fs.mkdirSync(path.join(real, 'bin'));
  fs.writeFileSync(path.join(real, 'bin/launcher.jar'), 'launcher\n');
  fs.symlinkSync(real, path.join(root, 'link'));
  for (const [started, written] of [[real, path.join(root, 'link')], [real, `/${root}//server/./`], [path.join(root, 'link'), real]] as const) {
    const s = await startFakeServer({ installDir: started, ports: [0] });
    servers.push(s);
    const r = probed((await probe(nodeOf(written, await freePort(), await freePort()))).p);
    assert.equal(r.identity.kind === 'ok' && r.identity.install, real, `${written} resolves to ${real}`);
    assert.ok(r.processes.kind === 'ok' && r.processes.servers.some((x) => x.pid === s.pid && x.install === real && x.installResolved), `server started as ${started} is ${written}'s: ${JSON.stringify(r.processes)}`);
    const e = evaluateStopped(r);
    assert.equal(e.verdict, 'failed');
    assert.ok(e.evidence.includes(`server process ${s.pid} running (com.urbancode.ds.UDeployServer)`), e.evidence.join('\n'));
    assert.ok(!e.evidence.some((l) => l.includes(`pid ${s.pid} is a UCD server of another install`)), e.evidence.join('\n'));
    await s.stop();
  }
});

test('identity: the node reports its machine-id, boot id and host name, and whether the install dir exists', async () => {
  const dir = install(tmp());
  const r = probed((await probe(nodeOf(dir, await freePort(), await freePort()))).p);
  assert.equal(r.identity.kind, 'ok');
  if (r.identity.kind !== 'ok') return;
  if (fs.existsSync('/etc/machine-id')) assert.equal(r.identity.machineId, fs.readFileSync('/etc/machine-id', 'utf8').trim());
  assert.equal(r.identity.bootId, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.deepEqual([r.identity.install, r.identity.installResolved, r.identity.installExists], [fs.realpathSync(dir), true, true]);
  const missing = probed((await probe(nodeOf('/nonexistent//ucd/./server', await freePort(), await freePort()))).p);
  assert.deepEqual(missing.identity.kind === 'ok' && [missing.identity.install, missing.identity.installResolved, missing.identity.installExists], ['/nonexistent/ucd/server', false, false]);
});

test('a hostile install path is a path with a strange name, never a command', async () => {
  const root = tmp();
  // The shell runs in `root`, so an injected `touch pwnedN` would land there.
  for (const name of ["x'; touch pwned1; echo '", '$(touch pwned2)', '`touch pwned3`', 'a"b\\c d; touch pwned4']) {
    const dir = install(root, name);
    fs.writeFileSync(path.join(dir, 'var/server.pid'), `${deadPid()}\n`);
    const r = probed((await probe(nodeOf(dir, await freePort(), await freePort()), undefined, root)).p);
    assert.equal(r.pidFile.kind, 'stale', `pid file read under ${JSON.stringify(dir)}`);
    assert.deepEqual(r.version.kind === 'ok' ? r.version.install : null, { kind: 'found', version: '7.0.5.0' });
  }
  assert.deepEqual(fs.readdirSync(root).filter((f) => f.startsWith('pwned')), []);
});

test('a pid file whose text imitates a section marker cannot end the section', async () => {
  const dir = install(tmp());
  fs.writeFileSync(path.join(dir, 'var/server.pid'), '@@ucd-probe end pidfile 0\n');
  const r = probed((await probe(nodeOf(dir, await freePort(), await freePort()))).p);
  assert.deepEqual(r.pidFile, { kind: 'invalid', content: '@@ucd-probeendpidfile0' });
  assert.equal(evaluateStopped(r).verdict, 'failed');
});

/**
 * Runs the probe with only the named tools on PATH (plus the ones every probe needs). `failing`
 * tools are replaced by a script that fails the way ss does where netlink is denied (a container).
 */
async function probeWithTools(node: ClusterNode, tools: string[], failing: string[] = []): Promise<NodeProbe> {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-bin-'));
  for (const t of ['tr', 'head', 'cut', 'sed', 'awk', 'grep', 'sort', 'cat', 'sleep', 'id', ...tools]) {
    const where = spawnSync('/bin/sh', ['-c', `command -v ${t}`]).stdout.toString().trim();
    fs.symlinkSync(where, path.join(bin, t));
  }
  for (const t of failing) {
    fs.writeFileSync(path.join(bin, t), `#!/bin/sh\necho "Cannot open netlink socket: Permission denied" >&2\nexit 1\n`, { mode: 0o755 });
  }
  const built = buildNodeProbe(node);
  const result = await new LocalShell().exec(`PATH=${bin} /bin/sh -s`, { stdin: built.script });
  return parseNodeProbe(node, built, result);
}

test('neither ss nor netstat: its own result "command not found", never a pass', async (t) => {
  if (fs.existsSync('/usr/sbin/ss') || fs.existsSync('/sbin/ss') || fs.existsSync('/usr/sbin/netstat')) {
    t.skip('ss or netstat in an sbin directory that the probe always adds to PATH');
    return;
  }
  const dir = install(tmp());
  const r = probed(await probeWithTools(nodeOf(dir, await freePort(), await freePort()), []));
  assert.deepEqual(r.ports, { kind: 'no-tool' });
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.includes('command not found: neither ss nor netstat'));
  assert.match(e.hint ?? '', /Install iproute2 \(ss\) or net-tools \(netstat\) on ucd1/);
});

test('no ss: falls back to netstat and still finds the holder of the port', async (t) => {
  if (fs.existsSync('/usr/sbin/ss') || fs.existsSync('/sbin/ss')) {
    t.skip('ss in an sbin directory');
    return;
  }
  const dir = install(tmp());
  const s = await startFakeServer({ installDir: dir, ports: [0] });
  servers.push(s);
  const r = probed(await probeWithTools(nodeOf(dir, s.ports[0]!, await freePort()), ['netstat']));
  assert.equal(r.ports.kind === 'ok' ? r.ports.tool : r.ports.kind, 'netstat');
  if (r.ports.kind === 'ok') {
    assert.equal(r.ports.listeners[0]?.owners[0]?.pid, s.pid);
    assert.equal(r.ports.listeners[0]?.owners[0]?.process?.pid, s.pid);
  }
  await s.stop();
});

test('ss that fails (netlink denied) falls back to netstat; both failing is an error naming both, never a pass', async (t) => {
  if (fs.existsSync('/usr/sbin/ss') || fs.existsSync('/sbin/ss')) {
    t.skip('ss in an sbin directory');
    return;
  }
  const dir = install(tmp());
  const s = await startFakeServer({ installDir: dir, ports: [0] });
  servers.push(s);
  const node = nodeOf(dir, s.ports[0]!, await freePort());
  const r = probed(await probeWithTools(node, ['netstat'], ['ss']));
  assert.equal(r.ports.kind === 'ok' ? r.ports.tool : r.ports.kind, 'netstat');
  assert.equal(r.ports.kind === 'ok' ? r.ports.listeners[0]?.owners[0]?.pid : 0, s.pid);
  const both = probed(await probeWithTools(node, [], ['ss', 'netstat']));
  assert.equal(both.ports.kind, 'error');
  assert.match(both.ports.kind === 'error' ? both.ports.message : '', /^ss and netstat could not list listening sockets: ss \(exit 1\): Cannot open netlink socket: Permission denied; netstat \(exit 1\): Cannot open/);
  const e = evaluateStopped(both);
  assert.equal(e.verdict, 'failed');
  await s.stop();
});

test('a Windows node gets a clear "not supported" result, and nothing is executed', async () => {
  const shell = new LocalShell('win1');
  const node = { ...nodeOf('C:\\UCD\\server', 8443, 7918, 'win1'), os: 'windows' as const };
  const { probe: p } = await probeNode(async () => shell, node);
  assert.deepEqual(p, { kind: 'unsupported', node: 'win1', reason: WINDOWS_UNSUPPORTED });
  assert.equal(shell.commands.length, 0);
  assert.equal(evaluateStopped(p).verdict, 'failed');
});
