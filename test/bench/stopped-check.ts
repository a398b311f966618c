// Benchmark (npm run bench; not part of the test suite): the full "is every server stopped?"
// probe over 3, 10 and 30 real nodes, run by the extension's core (new connections, and reused
// ones), by a sequential loop of the OpenSSH client, and by Ansible's ad-hoc mode — the same
// script, the same nodes, in the same run. Prints medians and ratios and writes docs/bench.md.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import { buildNodeProbe, probeNode } from '../../src/core/probes/node';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { clusterPrerequisites, startCluster, type TestCluster } from '../cluster/harness';

const run = promisify(execFile);
const SIZES = (process.env.BENCH_SIZES ?? '3,10,30').split(',').map(Number);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function pool(tc: TestCluster, dir: string): SshPool {
  return new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(dir, 'store'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
}

/** Every node must have answered with a parsed probe: a benchmark of failures measures nothing. */
async function oursOnce(p: SshPool, cluster: Cluster): Promise<void> {
  const results = await Promise.all(cluster.nodes.map((n) => probeNode(async () => p.transport(targetFromNode(n)), n, { appdataDir: cluster.sharedAppdata })));
  const bad = results.filter((r) => r.probe.kind !== 'probed');
  if (bad.length) throw new Error(`ours: ${bad.length} node(s) failed: ${JSON.stringify(bad[0].probe)}`);
}

function sshOnce(tc: TestCluster, n: ClusterNode, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', ['-q', '-i', tc.identityFile, '-o', `UserKnownHostsFile=${tc.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
      '-p', String(n.sshPort), `${tc.user}@${n.host}`, '/bin/sh -s'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`ssh ${n.name} exited ${code}`))));
    child.stdin.end(script);
  });
}

async function opensshLoop(tc: TestCluster, cluster: Cluster): Promise<void> {
  for (const n of cluster.nodes) {
    const built = buildNodeProbe(n, { appdataDir: cluster.sharedAppdata });
    const out = await sshOnce(tc, n, built.script);
    if (!out.includes(built.nonce)) throw new Error(`openssh: ${n.name} printed no probe sections`);
  }
}

async function ansibleOnce(tc: TestCluster, cluster: Cluster, dir: string): Promise<void> {
  const inventory = path.join(dir, 'inventory.ini');
  const script = path.join(dir, 'probe.sh');
  const built = buildNodeProbe(cluster.nodes[0], { appdataDir: cluster.sharedAppdata });
  fs.writeFileSync(script, `#!/bin/sh\n${built.script}`, { mode: 0o755 });
  fs.writeFileSync(inventory, cluster.nodes.map((n) => `${n.name} ansible_host=${n.host} ansible_port=${n.sshPort}`).join('\n') + '\n');
  const { stdout } = await run('ansible', ['all', '-i', inventory, '-m', 'ansible.builtin.script', '-a', script, '-f', String(cluster.nodes.length), '-u', tc.user, '--private-key', tc.identityFile], {
    env: {
      ...process.env,
      ANSIBLE_HOST_KEY_CHECKING: 'True',
      ANSIBLE_SSH_ARGS: `-o UserKnownHostsFile=${tc.knownHostsFile} -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s`,
      ANSIBLE_LOCAL_TEMP: path.join(dir, 'ansible-tmp'),
      ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
      ANSIBLE_NOCOLOR: '1',
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  const ok = (stdout.match(/\| CHANGED/g) ?? []).length;
  if (ok !== cluster.nodes.length) throw new Error(`ansible: ${ok}/${cluster.nodes.length} nodes answered\n${stdout.slice(0, 2000)}`);
}

interface Row { nodes: number; cold: number; warm: number; openssh: number; ansible: number }

async function measure(n: number): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ucd-bench-${n}-`));
  const tc = await startCluster({ nodes: n });
  try {
    await Promise.all(tc.nodes.map((x) => tc.startServer(x.name)));
    const r = loadCluster(tc.clusterFile());
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const cluster = r.cluster;
    const repeats = n >= 30 ? Math.max(3, Math.floor(REPEATS / 2)) : REPEATS;
    const cold: number[] = [];
    const warm: number[] = [];
    const openssh: number[] = [];
    const ansible: number[] = [];
    const warmPool = pool(tc, dir);
    await oursOnce(warmPool, cluster); // connections opened once, reused from here on
    for (let i = 0; i < repeats; i++) {
      const p = pool(tc, dir);
      cold.push(await timed(async () => {
        await oursOnce(p, cluster);
      }));
      await p.closeAll();
      warm.push(await timed(() => oursOnce(warmPool, cluster)));
      openssh.push(await timed(() => opensshLoop(tc, cluster)));
      ansible.push(await timed(() => ansibleOnce(tc, cluster, dir)));
      process.stderr.write(`  ${n} nodes, round ${i + 1}/${repeats}\n`);
    }
    await warmPool.closeAll();
    return { nodes: n, cold: median(cold), warm: median(warm), openssh: median(openssh), ansible: median(ansible) };
  } finally {
    await tc.stop();
  }
}

function table(rows: Row[]): string {
  const ms = (x: number) => `${Math.round(x)} ms`;
  const ratio = (x: number, base: number) => `${(x / base).toFixed(1)}×`;
  const lines = [
    '| nodes | extension, cold | extension, warm | OpenSSH loop | Ansible ad-hoc | OpenSSH ÷ cold | Ansible ÷ cold | OpenSSH ÷ warm | Ansible ÷ warm |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.nodes} | ${ms(r.cold)} | ${ms(r.warm)} | ${ms(r.openssh)} | ${ms(r.ansible)} | ${ratio(r.openssh, r.cold)} | ${ratio(r.ansible, r.cold)} | ${ratio(r.openssh, r.warm)} | ${ratio(r.ansible, r.warm)} |`),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const why = clusterPrerequisites();
  if (why) throw new Error(`cannot run the benchmark: ${why}`);
  const ansibleVersion = (await run('ansible', ['--version'])).stdout.split('\n')[0];
  const sshVersion = (await run('ssh', ['-V'])).stderr.trim();
  const rows: Row[] = [];
  for (const n of SIZES) {
    process.stderr.write(`measuring ${n} nodes…\n`);
    rows.push(await measure(n));
  }
  const md = `# Benchmark: the stopped-check over many nodes

\`npm run bench\` (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}). Median of ${REPEATS} rounds (30 nodes: fewer).
Every tool runs the same probe script (pid file, ports, server process, installed version) on
every node of a real test cluster (one OpenSSH sshd per node, in its own namespaces) and must
get a complete answer from each, or the run fails.

- **extension, cold**: the core's SSH pool opens a new connection to every node, in parallel.
- **extension, warm**: the same pool again: connections kept open are reused (what Check does
  the second time, and what the installer step's re-check does).
- **OpenSSH loop**: \`for node: ssh node /bin/sh -s < probe\` (${sshVersion}), one after another, as
  an engineer's shell loop would.
- **Ansible ad-hoc**: \`ansible all -m script -f <nodes>\` (${ansibleVersion}), with its default
  ControlPersist, so later rounds reuse its master connections.

${table(rows)}
`;
  fs.mkdirSync('docs', { recursive: true });
  fs.writeFileSync(path.join('docs', 'bench.md'), md);
  process.stdout.write(`${table(rows)}\n\nwritten to docs/bench.md\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
