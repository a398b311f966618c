// A test cluster whose nodes boot real systemd: each node is `systemd-nspawn -b` of one Debian root
// (debootstrap, built once per machine and cached under /var/cache/ucdt, keyed by a hash of what
// goes in it), with a throwaway overlay on top (--volatile=overlay), in its own network namespace
// on a bridge like the default cluster's nodes. sshd lets root in with the harness's key (systemctl
// needs root; sudo is another issue's), the simulated UCD server runs as the unit 8.1.1+ ships
// (bin/systemd/devops-deploy-server.service, Restart=on-failure), and the shared appdata, MariaDB
// and nginx are the host's, as in harness.ts.
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ANT_TEXTS, INFO_TEXTS, PROMPT_TEXTS, REFUSAL_TEXTS } from '../../src/core/ucd/installer/texts';
import { APPDATA_DIR, HTTPS_PORT, INSTALL_DIR, JMS_PORT, type ExecResult, type InstallerPackage } from './harness';
import { skipOutsideCi } from '../support/tier';
import { startDatabase, type TestDatabase } from './mariadb';
import { startLoadBalancer, type TestLoadBalancer } from './loadbalancer';

const execFileAsync = promisify(execFile);

export const UNIT = 'devops-deploy-server.service';
/** What the nodes' root holds besides debootstrap's minbase: init, sshd, the tools the probes and the simulator use. */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'procps', 'psmisc', 'unzip', 'zip', 'openssl', 'ca-certificates', 'mariadb-client'];
const SUITE = 'bookworm';
const CACHE = '/var/cache/ucdt';
const SIM_DIR = path.resolve(__dirname, '../../../test/sim');

export interface SystemdNode { readonly name: string; readonly host: string; readonly sshPort: number }

export interface SystemdCluster {
  readonly nodes: readonly SystemdNode[];
  readonly user: 'root';
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly installDir: string;
  readonly appdataDir: string;
  readonly stateDir: string;
  readonly version: string;
  readonly gateway: string;
  readonly database: TestDatabase;
  readonly loadBalancer: TestLoadBalancer;
  /** A command inside the node as root (through its PID 1's namespaces), for setup and assertions. */
  inNode(node: string, command: string, timeoutMs?: number): Promise<ExecResult>;
  /** `systemctl show` of the server's unit on a node, as key → value. */
  unitState(node: string): Promise<Record<string, string>>;
  hostInstallDir(node: string): string;
  buildPackage(version?: string): InstallerPackage;
  clusterFile(overrides?: Record<string, unknown>): string;
  stop(): Promise<void>;
}

/** Why this machine cannot run the systemd cluster, or undefined; in CI (CI=true) a reason fails instead. */
export function nspawnPrerequisites(): string | undefined {
  return skipOutsideCi(nspawnMissing());
}

function nspawnMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the systemd cluster needs root';
  for (const tool of ['systemd-nspawn', 'debootstrap', 'sshd', 'mariadbd', 'nginx']) {
    if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`], { stdio: 'ignore' }).status !== 0) return `${tool} is missing (bash test/install-debian-deps.sh)`;
  }
  return undefined;
}

async function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const r = await execFileAsync(cmd, [...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return r.stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr || err.stdout || err.message).trim().slice(-2000)}`);
  }
}

/** The Debian mirror apt on this machine uses (the nodes' root comes from the same place). */
function mirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    try {
      const text = fs.readFileSync(f, 'utf8');
      const m = /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm/m.exec(text);
      if (m) return m[1]!;
    } catch {
      /* next */
    }
  }
  return 'http://deb.debian.org/debian';
}

/** Builds the nodes' root once per machine (about a minute), then returns the cached one. */
export async function systemdRoot(): Promise<string> {
  const key = crypto.createHash('sha256').update(JSON.stringify({ SUITE, PACKAGES, variant: 'minbase' })).digest('hex').slice(0, 16);
  const root = path.join(CACHE, `nspawn-root-${key}`);
  if (fs.existsSync(path.join(root, '.ucdt-complete'))) return root;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = `${root}.building-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, tmp, mirror()], 15 * 60_000);
  // Nothing of the image's own identity may be shared by the nodes: each gets its own at boot.
  for (const f of ['etc/machine-id', 'var/lib/dbus/machine-id']) fs.rmSync(path.join(tmp, f), { force: true });
  for (const f of fs.readdirSync(path.join(tmp, 'etc/ssh')).filter((n) => n.startsWith('ssh_host_'))) fs.rmSync(path.join(tmp, 'etc/ssh', f));
  fs.writeFileSync(path.join(tmp, '.ucdt-complete'), `${PACKAGES.join(' ')}\n`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  return root;
}

function probeTcp(host: string, port: number, banner?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let done = false;
    const end = (v: boolean) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => end(false));
    s.on('error', () => end(false));
    s.on('connect', () => (banner ? undefined : end(true)));
    s.on('data', (d: Buffer) => end(!banner || d.toString().startsWith(banner)));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function names(instance: number) {
  if (!Number.isInteger(instance) || instance < 0 || instance > 99) throw new Error(`instance must be 0..99; got ${instance}`);
  const prefix = `ucdts${instance}-`;
  return { prefix, bridge: `${prefix}br0`, net3: `10.232.${instance}`, stateDir: `/tmp/${prefix}state` };
}

/** Everything one instance made, found by its names: nspawn processes, netns, links, state dir. */
async function cleanUp(instance: number): Promise<void> {
  const n = names(instance);
  const pidsFile = path.join(n.stateDir, 'nspawn.pids');
  const pids = fs.existsSync(pidsFile) ? fs.readFileSync(pidsFile, 'utf8').split('\n').filter((x) => /^\d+$/.test(x)).map(Number) : [];
  const alive = (p: number) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(n.prefix);
    } catch {
      return false;
    }
  };
  // TERM asks nspawn to power the node off; KILL what has not gone by the deadline.
  for (const p of pids.filter(alive)) process.kill(p, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
  removeCgroups(n.prefix);
  const ns = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter((x) => x.startsWith(n.prefix));
  for (const x of ns) await run('ip', ['netns', 'delete', x]).catch(() => undefined);
  const links = (await run('ip', ['-o', 'link', 'show'])).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((x): x is string => !!x && x.startsWith(n.prefix));
  for (const l of links) await run('ip', ['link', 'delete', l]).catch(() => undefined);
  for (const f of ['db/mariadbd.pid', 'lb/nginx.pid']) {
    try {
      const pid = Number(fs.readFileSync(path.join(n.stateDir, f), 'utf8').trim());
      if (pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(n.stateDir)) process.kill(pid, 'SIGKILL');
    } catch {
      /* not running */
    }
  }
  fs.rmSync(n.stateDir, { recursive: true, force: true });
}

/**
 * On a host with the hybrid cgroup layout (v1 controllers, v2 at /sys/fs/cgroup/unified), the
 * nodes get the unified hierarchy: under v1 a stopped unit's cgroup could not be emptied
 * ("Failed to kill control group: Input/output error") and its next start failed 219/CGROUP.
 */
function cgroupEnv(): Record<string, string> {
  return fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } : {};
}

/**
 * Where this process's cgroup is on the unified (v2) hierarchy, or undefined without one. Each
 * node's nspawn starts in a cgroup of its own below it: nspawn --keep-unit puts every container
 * started from one cgroup into the same `payload` cgroup, so two nodes' systemds shared one
 * `system.slice/devops-deploy-server.service`. Stopping the unit on ucd1 then met ucd2's processes
 * there (pid 0 from its namespace: "Failed to kill control group: Input/output error") and ucd2's
 * next start failed 219/CGROUP — the flake CI saw.
 */
function ownCgroupDir(): string | undefined {
  const mount = fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : undefined;
  if (!mount) return undefined;
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
  return path.join(mount, own);
}

/** Removes the cgroups a stopped instance left (directories only, deepest first; a busy one stays). */
function removeCgroups(prefix: string): void {
  const parent = ownCgroupDir();
  if (!parent) return;
  const remove = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) remove(path.join(dir, e.name));
    try {
      fs.rmdirSync(dir);
    } catch {
      /* still has a process: left for the next clean-up */
    }
  };
  for (const e of fs.readdirSync(parent, { withFileTypes: true })) if (e.isDirectory() && e.name.startsWith(prefix)) remove(path.join(parent, e.name));
}

function nextVersion(v: string): string {
  const p = v.split('.').map(Number);
  return [p[0], p[1]! + 1, 0, 0].join('.');
}

/** Runs inside each node once it has booted: its SSH access and the server's unit, installed as HCL says. */
function nodeSetup(): string {
  return `set -eu
mkdir -p /root/.ssh && chmod 700 /root/.ssh
cp /run/ucdt/authorized_keys /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
cat > /etc/ssh/sshd_config.d/ucdt.conf <<'EOF'
HostKey /run/ucdt/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
EOF
# Booted without host keys (the root keeps none), ssh.service may have failed and hit its start limit.
systemctl reset-failed ssh.service 2>/dev/null || true
systemctl restart ssh.service || { journalctl -u ssh.service --no-pager | tail -n 15; exit 1; }
cp ${INSTALL_DIR}/bin/systemd/${UNIT} /etc/systemd/system/${UNIT}
systemctl daemon-reload
systemctl enable ${UNIT} 2>&1
systemctl start ${UNIT}
`;
}

export async function startSystemdCluster(opts: { nodes?: number; version?: string; instance?: number } = {}): Promise<SystemdCluster> {
  const why = nspawnMissing();
  if (why) throw new Error(`Cannot start the systemd test cluster: ${why}.`);
  const instance = opts.instance ?? Number(process.env.UCDT_INSTANCE || 0);
  const n = names(instance);
  const version = opts.version ?? '8.1.1.0';
  const root = await systemdRoot();
  await cleanUp(instance);
  const stateDir = n.stateDir;
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const gateway = `${n.net3}.1`;
  const nodes = Array.from({ length: opts.nodes ?? 2 }, (_, i) => ({ name: `ucd${i + 1}`, host: `${n.net3}.${11 + i}`, sshPort: 22, netns: `${n.prefix}ucd${i + 1}`, veth: `${n.prefix}v${i + 1}` }));
  const pids: number[] = [];
  try {
    const identityFile = path.join(stateDir, 'id_ed25519');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${n.prefix}harness`, '-f', identityFile]);
    const lay = require(path.join(SIM_DIR, 'lay-install.js')) as { layInstall(o: Record<string, unknown>): void; layAppdata(o: Record<string, unknown>): void };
    const hostAppdata = path.join(stateDir, 'appdata');
    fs.mkdirSync(hostAppdata);
    lay.layAppdata({ dir: hostAppdata, version });
    await run('ip', ['link', 'add', n.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${gateway}/24`, 'dev', n.bridge]);
    await run('ip', ['link', 'set', n.bridge, 'up']);
    const database = await startDatabase({ dir: path.join(stateDir, 'db'), bindAddress: gateway, port: 13306 + instance, ucdVersion: version });
    const password = /^password=(.*)$/m.exec(fs.readFileSync(database.optionFile, 'utf8'))?.[1];
    if (!password) throw new Error(`no password in ${database.optionFile}`);
    for (const node of nodes) {
      const dir = path.join(stateDir, 'nodes', node.name);
      fs.mkdirSync(dir, { recursive: true });
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', node.netns, '-f', path.join(dir, 'ssh_host_ed25519_key')]);
      fs.copyFileSync(`${identityFile}.pub`, path.join(dir, 'authorized_keys'));
      lay.layInstall({ dir: path.join(dir, 'server'), version, installPath: INSTALL_DIR, appdataPath: APPDATA_DIR, webHost: node.host, user: 'root', dbUrl: `jdbc:mysql://${gateway}:${13306 + instance}/ucd`, dbUser: 'ucd' });
      fs.writeFileSync(path.join(dir, 'server/conf/sim/db.cnf'), `[client]\nuser=ucd\npassword=${password}\nhost=${gateway}\nport=${13306 + instance}\n`, { mode: 0o600 });
      await run('ip', ['netns', 'add', node.netns]);
      await run('ip', ['link', 'add', node.veth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', node.netns]);
      await run('ip', ['link', 'set', node.veth, 'master', n.bridge, 'up']);
      await run('ip', ['-n', node.netns, 'addr', 'add', `${node.host}/24`, 'dev', 'host0']);
      await run('ip', ['-n', node.netns, 'link', 'set', 'host0', 'up']);
      await run('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', node.netns, 'route', 'add', 'default', 'via', gateway]);
      const log = fs.openSync(path.join(dir, 'nspawn.log'), 'a');
      // --keep-unit/--register=no: no machined here; --volatile=overlay: every change is the node's own and gone at its stop.
      // The node's own cgroup (ownCgroupDir): nspawn is moved into it before it starts.
      const parent = ownCgroupDir();
      const cgroup = parent ? path.join(parent, node.netns) : undefined;
      if (cgroup) fs.mkdirSync(cgroup, { recursive: true });
      const child = spawn('sh', ['-c', cgroup ? 'echo $$ > "$0/cgroup.procs" && exec systemd-nspawn "$@"' : 'exec systemd-nspawn "$@"', cgroup ?? 'nspawn',
        '--quiet', '--register=no', '--keep-unit', '-b', '-D', root, `--machine=${node.netns}`, `--hostname=${node.name}`, '--volatile=overlay',
        `--network-namespace-path=/run/netns/${node.netns}`, '--console=passive',
        `--bind=${path.join(dir, 'server')}:${INSTALL_DIR}`, `--bind=${hostAppdata}:${APPDATA_DIR}`, `--bind=${dir}:/run/ucdt`,
        '--bind-ro=/usr/bin/node', `--bind-ro=${SIM_DIR}:/opt/ucdt-sim`,
      ], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...cgroupEnv() } });
      fs.closeSync(log);
      child.unref();
      if (!child.pid) throw new Error(`node ${node.name}: systemd-nspawn did not start`);
      pids.push(child.pid);
      fs.writeFileSync(path.join(stateDir, 'nspawn.pids'), `${pids.join('\n')}\n`);
    }
    const cluster = new Cluster(stateDir, nodes, version, gateway, identityFile, database, undefined as unknown as TestLoadBalancer, pids, instance);
    await Promise.all(nodes.map(async (node) => {
      await waitFor(`systemd on ${node.name} to finish booting`, async () => {
        try {
          const r = await cluster.inNode(node.name, 'systemctl is-system-running --wait', 60_000);
          return /running|degraded/.test(r.stdout);
        } catch {
          return false;
        }
      }, 60_000, () => fs.readFileSync(path.join(stateDir, 'nodes', node.name, 'nspawn.log'), 'utf8').slice(-2000));
      const r = await cluster.inNode(node.name, nodeSetup());
      if (r.code !== 0) throw new Error(`setting up ${node.name} failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
      await waitFor(`sshd on ${node.name} (${node.host}:22)`, () => probeTcp(node.host, 22, 'SSH-2.0-'), 20_000);
      await waitFor(`the server unit on ${node.name} to listen on ${HTTPS_PORT} and ${JMS_PORT}`, async () => (await probeTcp(node.host, HTTPS_PORT)) && (await probeTcp(node.host, JMS_PORT)), 30_000,
        () => fs.readFileSync(path.join(stateDir, 'nodes', node.name, 'server/var/log/stdout'), 'utf8').slice(-1500));
    }));
    fs.writeFileSync(path.join(stateDir, 'known_hosts'), nodes.map((x) => {
      const pub = fs.readFileSync(path.join(stateDir, 'nodes', x.name, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
      return `${x.host} ${pub[0]} ${pub[1]}\n`;
    }).join(''));
    const lb = await startLoadBalancer({ dir: path.join(stateDir, 'lb'), listen: `${gateway}:${HTTPS_PORT}`, upstreams: nodes.map((x) => `${x.host}:${HTTPS_PORT}`) });
    return Object.assign(cluster, { loadBalancer: lb });
  } catch (err) {
    await cleanUp(instance).catch(() => undefined);
    throw err;
  }
}

class Cluster implements SystemdCluster {
  readonly user = 'root' as const;
  readonly installDir = INSTALL_DIR;
  readonly appdataDir = APPDATA_DIR;
  readonly knownHostsFile: string;
  readonly nodes: readonly SystemdNode[];

  constructor(
    readonly stateDir: string,
    private readonly records: readonly (SystemdNode & { netns: string })[],
    readonly version: string,
    readonly gateway: string,
    readonly identityFile: string,
    readonly database: TestDatabase,
    readonly loadBalancer: TestLoadBalancer,
    private readonly pids: readonly number[],
    private readonly instance: number,
  ) {
    this.knownHostsFile = path.join(stateDir, 'known_hosts');
    this.nodes = records.map(({ name, host, sshPort }) => ({ name, host, sshPort }));
  }

  /** The node's PID 1 (its systemd): nspawn's child. */
  private leader(node: string): number {
    const i = this.records.findIndex((r) => r.name === node);
    if (i < 0) throw new Error(`No node "${node}" in the systemd cluster`);
    const children = fs.readFileSync(`/proc/${this.pids[i]}/task/${this.pids[i]}/children`, 'utf8').trim().split(/\s+/);
    const pid = Number(children[0]);
    if (!pid) throw new Error(`Node ${node} has no init process (systemd-nspawn ${this.pids[i]} has no child)`);
    return pid;
  }

  inNode(node: string, command: string, timeoutMs = 120_000): Promise<ExecResult> {
    const pid = this.leader(node);
    return new Promise((resolve) => {
      const child = spawn('nsenter', ['-t', String(pid), '-a', '--', '/bin/sh', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
    });
  }

  async unitState(node: string): Promise<Record<string, string>> {
    const r = await this.inNode(node, `systemctl show -p ActiveState,SubState,UnitFileState,LoadState,MainPID,NRestarts,Restart ${UNIT}`);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  hostInstallDir(node: string): string {
    return path.join(this.stateDir, 'nodes', node, 'server');
  }

  buildPackage(version = nextVersion(this.version)): InstallerPackage {
    const outDir = path.join(this.stateDir, 'packages');
    fs.mkdirSync(outDir, { recursive: true });
    const builder = require(path.join(SIM_DIR, 'package.js')) as { buildPackage(o: Record<string, unknown>): InstallerPackage };
    return builder.buildPackage({ version, outDir, texts: { PROMPT_TEXTS, REFUSAL_TEXTS, INFO_TEXTS, ANT_TEXTS } });
  }

  clusterFile(overrides: Record<string, unknown> = {}): string {
    const lb = this.loadBalancer.url;
    return `${JSON.stringify({
      name: `systemd-cluster-${this.instance}`,
      currentVersion: this.version,
      targetVersion: nextVersion(this.version),
      firstNode: this.nodes[0]!.name,
      sharedAppdata: this.appdataDir,
      loadBalancerUrl: lb,
      ucd: { url: lb, credential: 'ucd-test-admin' },
      database: { type: 'mariadb', backup: { command: 'true', artifact: '/tmp/ucd-backup.sql' } },
      package: { remotePath: '/tmp/ibm-ucd-install' },
      nodes: this.nodes.map((x) => ({ name: x.name, host: x.host, sshPort: x.sshPort, user: 'root', identityFile: this.identityFile, installDir: this.installDir })),
      ...overrides,
    }, null, 2)}\n`;
  }

  async stop(): Promise<void> {
    await this.loadBalancer?.stop().catch(() => undefined);
    await this.database.stop().catch(() => undefined);
    await cleanUp(this.instance);
  }
}
