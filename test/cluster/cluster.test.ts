// The test cluster itself, proven with real tools: the OpenSSH client against each node's sshd,
// /proc and ss inside the nodes, HTTPS with the node's own certificate, and the kernel's lists of
// namespaces and links after stop.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import {
  clusterNamePrefix, clusterPrerequisites, nodeProcessesOf, startCluster, type TestCluster,
} from './harness';

const skip = clusterPrerequisites();
// Counted in the summary as skipped, with the reason (a skipped suite alone counts no test).
if (skip) test('test cluster', { skip }, () => undefined);

interface Ran { code: number | null; stdout: string; stderr: string; }

/** The OpenSSH client, with nothing from the user's own ssh config. */
function ssh(c: TestCluster, node: string, command: string, knownHosts = c.knownHostsFile): Promise<Ran> {
  const n = c.nodes.find((x) => x.name === node)!;
  const args = [
    '-F', '/dev/null', '-i', c.identityFile, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-p', String(n.sshPort),
    `${c.user}@${n.host}`, command,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function sshOk(c: TestCluster, node: string, command: string): Promise<string> {
  const r = await ssh(c, node, command);
  assert.equal(r.code, 0, `ssh ${node} ${command}: ${r.stderr}`);
  return r.stdout;
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000, () => { s.destroy(); resolve(false); });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** GET over HTTPS, trusting exactly the node's own self-signed certificate (verification stays on). */
function httpsGet(host: string, port: number, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/', ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function rootIn(c: TestCluster, node: string, command: string): Promise<string> {
  const r = await c.inNode(node, command);
  assert.equal(r.code, 0, `inNode ${node} ${command}: ${r.stderr}`);
  return r.stdout;
}

/** The pid in the node's var/server.pid, or undefined when there is none. */
async function pidFile(c: TestCluster, node: string): Promise<number | undefined> {
  const out = await rootIn(c, node, `cat ${c.installDir}/var/server.pid 2>/dev/null || true`);
  return out.trim() ? Number(out.trim()) : undefined;
}

/** Pids (node-side) whose argv has the UCD main class and this install's launcher: the precise check. */
async function ucdServerPids(c: TestCluster, node: string): Promise<number[]> {
  const out = await rootIn(c, node, `for d in /proc/[0-9]*; do a=$(tr '\\0' '\\n' < "$d/cmdline" 2>/dev/null) || continue; printf '%s\\t%s\\n' "\${d#/proc/}" "$(printf '%s' "$a" | tr '\\n' ' ')"; done`);
  return out.split('\n').filter((l) => l.includes('com.urbancode.ds.UDeployServer') && l.includes(`${c.installDir}/bin/launcher.jar`))
    .map((l) => Number(l.split('\t')[0]));
}

describe('test cluster: 3 real nodes', { skip }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  test('each node answers SSH as the test user, with its own host key', async () => {
    const keys = fs.readFileSync(c.knownHostsFile, 'utf8').trim().split('\n');
    assert.equal(keys.length, 3);
    assert.equal(new Set(keys.map((l) => l.split(' ')[2])).size, 3, 'three different host keys');
    for (const n of c.nodes) {
      assert.match(keys.find((l) => l.startsWith(`${n.host} `)) ?? '', /^\S+ ssh-ed25519 AAAA/);
      const out = await sshOk(c, n.name, 'hostname; id -un');
      assert.deepEqual(out.trim().split('\n'), [n.name, c.user]);
    }
    // Node 1 announced with node 2's key must be refused: each node really presents its own key.
    const swapped = path.join(c.stateDir, 'known_hosts.swapped');
    fs.writeFileSync(swapped, `${c.nodes[0].host} ${keys[1].split(' ').slice(1).join(' ')}\n`);
    const r = await ssh(c, c.nodes[0].name, 'true', swapped);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test('each node has its own pid namespace', async () => {
    await rootIn(c, 'ucd1', 'setsid sleep 987 </dev/null >/dev/null 2>&1 &');
    const ps1 = await sshOk(c, 'ucd1', 'ps -eo pid=,args=');
    const ps2 = await sshOk(c, 'ucd2', 'ps -eo pid=,args=');
    assert.match(ps1, /^\s*1 \/bin\/bash .*node-init\.sh/m, 'pid 1 is the node init');
    assert.match(ps2, /^\s*1 \/bin\/bash .*node-init\.sh/m);
    const line = ps1.split('\n').find((l) => l.endsWith('sleep 987'));
    assert.ok(line, 'node 1 sees its own process');
    assert.ok(!ps2.includes('sleep 987'), 'node 2 does not see node 1 processes');
    assert.ok(ps1.split('\n').filter(Boolean).length < 20, `a node sees only its few processes:\n${ps1}`);
    await rootIn(c, 'ucd1', `kill ${Number(line.trim().split(/\s+/)[0])}`);
  });

  test('the install tree is at the same path on every node but separate; it belongs to the test user', async () => {
    const marker = `only-on-ucd1-${process.pid}`;
    await sshOk(c, 'ucd1', `touch ${c.installDir}/${marker}`);
    for (const n of c.nodes) {
      const out = await sshOk(c, n.name, `stat -c %U ${c.installDir} ${c.installDir}/bin/server; cat ${c.installDir}/conf/installed.version; test -e ${c.installDir}/${marker} && echo has-marker || echo no-marker`);
      const lines = out.trim().split('\n');
      assert.deepEqual(lines.slice(0, 2), [c.user, c.user]);
      assert.equal(lines[2], `installed.version=${c.version}`);
      assert.equal(lines[3], n.name === 'ucd1' ? 'has-marker' : 'no-marker');
    }
    assert.notEqual(c.hostInstallDir('ucd1'), c.hostInstallDir('ucd2'));
    const props = await sshOk(c, 'ucd3', `cat ${c.installDir}/conf/server/installed.properties`);
    assert.match(props, /^com\.urbancode\.ds\.UDeployServer\.multiserver=true$/m);
    assert.match(props, new RegExp(`^server\\.appdata\\.dir=${c.appdataDir}$`, 'm'));
    assert.match(props, /^install\.server\.web\.https\.port=8443$/m);
    for (const f of ['bin/set_env', 'bin/init/server', 'bin/launcher.jar', 'bin/classpath.conf']) {
      await sshOk(c, 'ucd3', `test -f ${c.installDir}/${f}`);
    }
  });

  test('the appdata folder is shared: written on node 1, read on node 2', async () => {
    const name = `shared-${process.pid}-${Date.now()}`;
    await sshOk(c, 'ucd1', `echo from-ucd1 > ${c.appdataDir}/${name}`);
    assert.equal((await sshOk(c, 'ucd2', `cat ${c.appdataDir}/${name}`)).trim(), 'from-ucd1');
    assert.equal((await sshOk(c, 'ucd3', `cat ${c.appdataDir}/conf/installed.version`)).trim(), `installed.version=${c.version}`);
    // /tmp, by contrast, is each node's own.
    await sshOk(c, 'ucd1', `echo x > /tmp/${name}`);
    assert.notEqual((await ssh(c, 'ucd2', `cat /tmp/${name}`)).code, 0);
  });

  test('the server starts with the real command line, pid file, HTTPS login page and JMS port, and stops cleanly', async () => {
    const host = c.nodes[1].host;
    assert.equal(await pidFile(c, 'ucd2'), undefined);
    await c.startServer('ucd2');
    const pid = await pidFile(c, 'ucd2');
    assert.ok(pid, 'var/server.pid written');
    assert.deepEqual(await ucdServerPids(c, 'ucd2'), [pid], 'exactly one server process of this install, the pid file one');
    const argv = (await rootIn(c, 'ucd2', `tr '\\0' '\\n' < /proc/${pid}/cmdline`)).trim().split('\n');
    assert.deepEqual(argv.slice(-4), ['-jar', `${c.installDir}/bin/launcher.jar`, `${c.installDir}/bin/classpath.conf`, 'com.urbancode.ds.UDeployServer']);
    assert.match(argv[0], /\/bin\/java$/);
    const psef = await sshOk(c, 'ucd2', 'ps -ef');
    assert.match(psef, /java .* -jar \/opt\/ucd\/server\/bin\/launcher\.jar \/opt\/ucd\/server\/bin\/classpath\.conf com\.urbancode\.ds\.UDeployServer/);
    const ss = await rootIn(c, 'ucd2', 'ss -ltnp');
    assert.match(ss, new RegExp(`:8443 .*pid=${pid},`));
    assert.match(ss, new RegExp(`:7918 .*pid=${pid},`));

    const ca = fs.readFileSync(path.join(c.hostInstallDir('ucd2'), 'conf/sim/server.crt'));
    const page = await httpsGet(host, 8443, ca);
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(`<span class="productVersion">v\\. ${c.version.replace(/\./g, '\\.')}</span>`));
    assert.ok(await tcpOpen(host, 7918), 'JMS port open');
    const log = fs.readFileSync(path.join(c.hostInstallDir('ucd2'), 'var/log/deployserver.out'), 'utf8');
    assert.match(log, /IBM UrbanCode Deploy server version 7\.0\.5\.0 started/);

    await c.stopServer('ucd2');
    assert.equal(await pidFile(c, 'ucd2'), undefined, 'pid file removed on a clean stop');
    assert.deepEqual(await ucdServerPids(c, 'ucd2'), []);
    assert.equal(await tcpOpen(host, 8443), false);
    assert.equal(await tcpOpen(host, 7918), false);
  });

  test('fault stalePid: a pid file whose process does not exist', async () => {
    await c.setFault('ucd1', 'stalePid', true);
    const pid = await pidFile(c, 'ucd1');
    assert.ok(pid);
    assert.equal((await c.inNode('ucd1', `test -e /proc/${pid}`)).code, 1, 'no such process');
    assert.deepEqual(await ucdServerPids(c, 'ucd1'), []);
    await c.setFault('ucd1', 'stalePid', false);
    assert.equal(await pidFile(c, 'ucd1'), undefined);

    // With a server running, the switch is a crash: the process dies, its pid file stays.
    await c.startServer('ucd1');
    const running = await pidFile(c, 'ucd1');
    await c.setFault('ucd1', 'stalePid', true);
    assert.equal(await pidFile(c, 'ucd1'), running);
    assert.deepEqual(await ucdServerPids(c, 'ucd1'), []);
    await c.setFault('ucd1', 'stalePid', false);
    assert.equal(await pidFile(c, 'ucd1'), undefined);
  });

  test('fault portHeld: a leftover process that is not the UCD server holds 8443', async () => {
    const host = c.nodes[2].host;
    assert.equal(await tcpOpen(host, 8443), false);
    await c.setFault('ucd3', 'portHeld', true);
    assert.ok(await tcpOpen(host, 8443));
    const ss = await rootIn(c, 'ucd3', 'ss -ltnp');
    const holder = Number(/:8443 .*pid=(\d+),/.exec(ss)?.[1]);
    assert.ok(holder > 0, ss);
    assert.doesNotMatch(await rootIn(c, 'ucd3', `tr '\\0' ' ' < /proc/${holder}/cmdline`), /UDeployServer/);
    assert.deepEqual(await ucdServerPids(c, 'ucd3'), []);
    await assert.rejects(c.startServer('ucd3'), /Address already in use|EADDRINUSE/);
    assert.equal(await pidFile(c, 'ucd3'), undefined, 'a server that could not bind leaves no pid file');
    await c.setFault('ucd3', 'portHeld', false);
    assert.equal(await tcpOpen(host, 8443), false);
  });

  test('fault ignoresStop: stop returns but the server keeps running and keeps its pid file', async () => {
    await c.startServer('ucd2');
    const pid = await pidFile(c, 'ucd2');
    await c.setFault('ucd2', 'ignoresStop', true);
    await c.stopServer('ucd2');
    assert.equal(await pidFile(c, 'ucd2'), pid);
    assert.deepEqual(await ucdServerPids(c, 'ucd2'), [pid]);
    assert.ok(await tcpOpen(c.nodes[1].host, 8443));
    await c.setFault('ucd2', 'ignoresStop', false);
    await c.stopServer('ucd2');
    assert.equal(await pidFile(c, 'ucd2'), undefined);
    assert.deepEqual(await ucdServerPids(c, 'ucd2'), []);
  });

  test('fault sshdDown: that node refuses SSH, the others still answer', async () => {
    await c.setFault('ucd3', 'sshdDown', true);
    const r = await ssh(c, 'ucd3', 'true');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Connection refused/);
    assert.equal((await sshOk(c, 'ucd2', 'hostname')).trim(), 'ucd2');
    await c.setFault('ucd3', 'sshdDown', false);
    assert.equal((await sshOk(c, 'ucd3', 'hostname')).trim(), 'ucd3');
  });

  test('clusterFile() is a valid cluster file for this cluster', () => {
    const loaded = loadCluster(c.clusterFile());
    assert.ok(loaded.ok, JSON.stringify(loaded.problems));
    assert.deepEqual(loaded.cluster.nodes.map((n) => [n.name, n.host, n.user, n.installDir]),
      c.nodes.map((n) => [n.name, n.host, c.user, c.installDir]));
    assert.equal(loaded.cluster.sharedAppdata, c.appdataDir);
    const over = loadCluster(c.clusterFile({ targetVersion: '7.2.0.0' }));
    assert.ok(over.ok);
    assert.equal(over.cluster.targetVersion, '7.2.0.0');
  });
});

describe('test cluster: lifecycle', { skip }, () => {
  const prefix = clusterNamePrefix();

  async function leftovers(stateDir: string, pids: readonly number[]): Promise<string[]> {
    const found: string[] = [];
    const run = (cmd: string, args: string[]): Promise<string> => new Promise((resolve) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
    for (const l of (await run('ip', ['netns', 'list'])).split('\n')) if (l.startsWith(prefix)) found.push(`netns ${l}`);
    for (const l of (await run('ip', ['-o', 'link', 'show'])).split('\n')) {
      const name = /^\d+:\s+([^:@\s]+)/.exec(l)?.[1];
      if (name?.startsWith(prefix)) found.push(`link ${name}`);
    }
    for (const p of pids) if (fs.existsSync(`/proc/${p}`)) found.push(`process ${p}`);
    for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(stateDir)) found.push(`process ${d} mentions ${stateDir}`);
      } catch {
        /* gone meanwhile */
      }
    }
    if (fs.existsSync(stateDir)) found.push(`dir ${stateDir}`);
    if (fs.existsSync(`/run/${prefix}cluster.json`)) found.push('registry');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(prefix) || l.includes(stateDir));
    found.push(...mounts.map((m) => `mount ${m}`));
    return found;
  }

  test('a cluster in use by a live test process is waited for; once that process is killed -9, start takes over', async () => {
    // Another test run: a process that starts a cluster and keeps using it.
    const owner = spawn(process.execPath, ['-e', `
      require(${JSON.stringify(path.join(__dirname, 'harness.js'))}).startCluster({ nodes: 1 })
        .then(() => console.log('up'), (e) => { console.error(e.message); process.exit(1); });
      setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        owner.stdout!.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
        owner.on('exit', (code) => reject(new Error(`owner exited ${code}`)));
      });
      await assert.rejects(startCluster({ nodes: 1, waitMs: 1000 }), new RegExp(`in use by process ${owner.pid}.*UCDT_INSTANCE`, 's'));
    } finally {
      owner.kill('SIGKILL');
    }
    await new Promise((r) => owner.once('close', r));
    const c = await startCluster({ nodes: 1, waitMs: 1000 });
    try {
      assert.equal((await sshOk(c, 'ucd1', 'hostname')).trim(), 'ucd1');
    } finally {
      await c.stop();
    }
  });

  test('start after a crash (every process killed, everything else left) works; stop leaves nothing behind', async () => {
    const first = await startCluster({ nodes: 2 });
    await first.startServer('ucd1');
    const firstPids = nodeProcessesOf(first);
    assert.ok(firstPids.length >= 5, `node processes: ${firstPids.join(' ')}`);
    // The crash: kill -9 of everything the cluster runs; netns, links, state and registry remain.
    for (const p of firstPids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const leftBehind = await leftovers(first.stateDir, []);
    assert.ok(leftBehind.some((l) => l.startsWith('netns')) && leftBehind.includes('registry'), leftBehind.join('\n'));

    const second = await startCluster({ nodes: 3 });
    try {
      assert.equal((await sshOk(second, 'ucd3', 'hostname')).trim(), 'ucd3');
      assert.equal(await pidFile(second, 'ucd1'), undefined, 'a fresh install, not the crashed one');
      // A start over a cluster that is still running replaces it as well.
      const secondPids = nodeProcessesOf(second);
      const third = await startCluster({ nodes: 1 });
      assert.equal((await sshOk(third, 'ucd1', 'hostname')).trim(), 'ucd1');
      assert.deepEqual(secondPids.filter((p) => fs.existsSync(`/proc/${p}`)), []);
      const thirdPids = nodeProcessesOf(third);
      await third.stop();
      assert.deepEqual(await leftovers(third.stateDir, [...firstPids, ...thirdPids]), []);
    } finally {
      await second.stop();
    }
  });
});
