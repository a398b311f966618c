// A real multi-node cluster on one machine, for the cluster tests and benchmarks. Each node is its
// own network, mount, pid, UTS and IPC namespace with an address on a private bridge, running
// Debian's OpenSSH sshd with its own host key; the simulated UCD server (test/sim) is installed
// at the same path on every node and one shared appdata folder is mounted into all of them.
// Everything the harness creates carries one name prefix, so a start after a crash can find and
// remove the leftovers of the one before.
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ANT_TEXTS, INFO_TEXTS, PROMPT_TEXTS, REFUSAL_TEXTS } from '../../src/core/ucd/installer/texts';
import { skipOutsideCi } from '../support/tier';
import { databasePrerequisites, startDatabase, type TestDatabase } from './mariadb';
import { loadBalancerPrerequisites, pinnedGet, startLoadBalancer, type TestLoadBalancer } from './loadbalancer';

export type { TestDatabase } from './mariadb';
export type { TestLoadBalancer } from './loadbalancer';

export interface TestNode { name: string; host: string; sshPort: number; }

export type FaultName = 'stalePid' | 'portHeld' | 'ignoresStop' | 'sshdDown';
export const FAULTS: readonly FaultName[] = ['stalePid', 'portHeld', 'ignoresStop', 'sshdDown'];

export interface ExecResult { code: number | null; stdout: string; stderr: string; }
export interface InNodeOptions {
  /** Run as this user instead of root (e.g. the cluster's test user). */
  user?: string;
  /** Kill the command (and its process group) after this long; default 120 s. */
  timeoutMs?: number;
  /** Written to the command's standard input, which is then closed. */
  input?: string;
}

/** The load balancer in front of every node's HTTPS port, with the certificate it presents. */
export interface ClusterLoadBalancer extends TestLoadBalancer {
  /** PEM file of the balancer's self-signed certificate (CN = the gateway, no SAN). */
  readonly certFile: string;
}

/** A UCD user of the simulated servers: basic auth, or user PasswordIsAuthToken with the token. */
export interface UcdAdmin { readonly user: string; readonly password: string; readonly token: string; }

/** A process to run on the simulated cluster (shown by /rest/workflow/currentActivity). */
export type ProcessSpec =
  | {
      readonly type: 'application';
      /** The application process's name, e.g. "Deploy". */
      readonly name: string;
      readonly application?: string;
      readonly environment?: string;
      /** Component process names; each becomes a component child request. */
      readonly components?: readonly string[];
      readonly user?: string;
      /** Ends by itself after this long; default: runs until cancelled. */
      readonly seconds?: number;
    }
  | { readonly type: 'generic'; readonly name: string; readonly user?: string; readonly seconds?: number };

/** One running request as the shared appdata holds it (see test/sim/workflow.js). */
export interface SimProcessRecord {
  readonly requestId: string;
  /** Host name of the node it runs on (= node name). */
  readonly node: string;
  /** Pids inside that node: the runner, and one sleep per item keyed by the item's cancel id. */
  readonly runnerPid: number;
  readonly pids: Readonly<Record<string, number>>;
  /** The activity items exactly as currentActivity returns them. */
  readonly items: readonly Record<string, unknown>[];
}

/** A built installation package (see test/sim/package.js). */
export interface InstallerPackage {
  /** Host path of ibm-ucd-<version>.zip (or .tar.gz). */
  readonly file: string;
  readonly version: string;
  readonly format: 'zip' | 'tar.gz';
  /** The folder the archive extracts to, holding install-server.sh: 'ibm-ucd-install'. */
  readonly folder: string;
}

/** Where the database backup of the cluster file writes, on the first node. */
export const BACKUP_ARTIFACT = '/home/ucdtest/backups/ucd-before-upgrade.sql';
/** Each node's MariaDB client option file (0600, the test user's): user, password, host, port. */
export const NODE_DB_OPTION_FILE = '/opt/ucd/server/conf/sim/db.cnf';

export interface TestCluster {
  readonly nodes: readonly TestNode[];
  readonly user: string;            // SSH user on every node
  readonly identityFile: string;    // private key, no passphrase
  readonly knownHostsFile: string;  // known_hosts with every node's host key
  readonly installDir: string;      // '/opt/ucd/server'
  readonly appdataDir: string;      // '/opt/ucd/appdata' (as seen inside nodes)
  readonly stateDir: string;        // host-side dir with everything
  /** The UCD version installed on every node at start. */
  readonly version: string;
  /** The host's address on the cluster bridge (reachable from every node). */
  readonly gateway: string;
  /** Which cluster of this machine (names and subnet depend on it); 0 unless asked otherwise. */
  readonly instance: number;
  /** Run a command inside a node's namespaces as root, bypassing SSH (for test setup/assertions). */
  inNode(node: string, command: string, opts?: InNodeOptions): Promise<ExecResult>;
  /**
   * Host pids of the processes named `comm` (/proc/<pid>/comm) inside a node, found synchronously,
   * so a test can signal one at an exact moment (e.g. stop sftp-server mid-upload).
   */
  hostPids(node: string, comm: string): number[];
  /** Start/stop the simulated UCD server on a node (as the test user, via its bin/server). */
  startServer(node: string): Promise<void>;
  stopServer(node: string): Promise<void>;
  setFault(node: string, fault: FaultName, on: boolean): Promise<void>;
  /**
   * A second sshd on the node at `port` (same host key, user and address), its key added to
   * knownHostsFile as `[host]:port`: a second cluster entry that reaches the same machine, as two
   * port forwards of one NAT address can. Idempotent; it ends with the cluster.
   */
  openSecondSshPort(node: string, port?: number): Promise<number>;
  /** The node's /etc/machine-id (each node has its own). */
  machineId(node: string): string;
  /** A ucd-cluster.json text (valid for src/core/cluster/load.ts) describing this cluster. */
  clusterFile(overrides?: Record<string, unknown>): string;
  /** Where a node's install tree lives on this machine (what the node sees at installDir). */
  hostInstallDir(node: string): string;
  /** Where the shared appdata lives on this machine (what every node sees at appdataDir). */
  readonly hostAppdataDir: string;
  /** The real MariaDB on the gateway, when started with `database: true`. */
  readonly database?: TestDatabase;
  /** The real nginx on https://<gateway>:8443, when started with `loadBalancer: true`. */
  readonly loadBalancer?: ClusterLoadBalancer;
  /** The REST user every simulated server accepts (kept in <stateDir>/ucd-admin.json, 0600). */
  readonly ucdAdmin: UcdAdmin;
  /** The test user's home as nodes see it ('/home/ucdtest'); each node has its own. */
  readonly homeDir: string;
  /** A `serviceUser` cluster: the user that owns the install and runs the server (else the SSH user). */
  readonly serverUser: string;
  /** A `serviceUser` cluster: the SSH user's sudo password (random per start); undefined otherwise. */
  readonly sudoPassword?: string;
  /** Where a node's home lives on this machine (what the node sees at homeDir). */
  hostHomeDir(node: string): string;
  /**
   * Starts a process request on a node, as the test user: RUNNING until cancelled (or `seconds`),
   * listed by every node's currentActivity. Returns its cancel id (traceId, or workflowTraceId
   * for generic processes).
   */
  startProcess(node: string, spec: ProcessSpec): Promise<string>;
  /** The running requests, from the shared appdata. */
  processes(): SimProcessRecord[];
  /** Builds ibm-ucd-<version>.zip into <stateDir>/packages; version defaults to the next one. */
  buildPackage(opts?: { version?: string; product?: string; format?: 'zip' | 'tar.gz'; extraPrompt?: string; schemaUpgradeSeconds?: number; failAfterSchema?: boolean; preSchemaSeconds?: number }): InstallerPackage;
  /** The version `java -version` prints for a node's JRE (the one bin/set_env's JAVA_HOME names), e.g. '11.0.21' or '1.8.0_392'. */
  setJavaVersion(node: string, version: string): void;
  /** Sets (or, with undefined, removes) one key of a node's conf/server/installed.properties, other lines kept. */
  setInstalledProperty(node: string, key: string, value: string | undefined): void;
  /** Writes a node's conf/installed.version (or, with `appdata`, the shared appdata's). */
  setInstalledVersion(where: { node: string } | 'appdata', version: string): void;
  /**
   * Lists a server the cluster file does not know in GET /rest/server (as a server of the cluster
   * registered in the shared database would be); undefined host removes it again.
   */
  setUnlistedServer(name: string, host: string | undefined): void;
  stop(): Promise<void>;
}

export interface StartOptions {
  nodes?: number;
  version?: string;
  stateDir?: string;
  /** 0..99; a second instance uses other names and another /24, so two clusters can coexist. */
  instance?: number;
  /**
   * Leave the cluster running when this process exits (the CLI). Otherwise this process owns it:
   * another process's start waits for it (up to `waitMs`, default 10 min) instead of replacing it.
   */
  detached?: boolean;
  waitMs?: number;
  /**
   * Start Debian's MariaDB on the gateway (port 3306, or another when taken), holding ds_db_version;
   * every node's installed.properties and conf/sim/db.cnf point at it and its server connects.
   */
  database?: boolean;
  /** Start Debian's nginx on https://<gateway>:8443 in front of every node's 8443. */
  loadBalancer?: boolean;
  /**
   * A data centre's setup: the SSH user (the test user, an engineer's account) does not own the
   * install; the install, the shared appdata and the server process belong to the service user
   * SERVICE_USER, and Debian's sudo lets the SSH user become root or it after asking for its
   * password (`sudoPassword`, random per start). The sudoers drop-in goes at stop.
   */
  serviceUser?: boolean;
}

export const TEST_USER = 'ucdtest';
/** The service user that owns the install in a `serviceUser` cluster. */
export const SERVICE_USER = 'ucd';
export const INSTALL_DIR = '/opt/ucd/server';
export const APPDATA_DIR = '/opt/ucd/appdata';
export const HTTPS_PORT = 8443;
export const JMS_PORT = 7918;
const DEFAULT_VERSION = '7.0.5.0';
const MAX_NODES = 200;
const MARKER = '.ucdt-cluster';
const ADMIN_FILE = 'ucd-admin.json';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The names one instance owns. Everything it creates starts with `prefix`. */
interface Names {
  instance: number;
  prefix: string;
  bridge: string;
  net3: string;
  registry: string;
  defaultStateDir: string;
}

function namesFor(instance: number): Names {
  if (!Number.isInteger(instance) || instance < 0 || instance > 99) {
    throw new Error(`test cluster instance must be an integer 0..99; got ${instance}`);
  }
  const prefix = instance === 0 ? 'ucdt-' : `ucdt${instance}-`;
  return {
    instance,
    prefix,
    bridge: `${prefix}br0`,
    net3: `10.231.${instance}`,
    registry: `/run/${prefix}cluster.json`,
    defaultStateDir: path.join(os.tmpdir(), `${prefix}state`),
  };
}

function defaultInstance(): number {
  const v = process.env.UCDT_INSTANCE;
  return v === undefined || v === '' ? 0 : Number(v);
}

interface NodeRecord extends TestNode { netns: string; veth: string; }

/** What a started cluster writes to its state dir and to the registry, so any process can attach. */
interface Description {
  instance: number;
  stateDir: string;
  version: string;
  user: string;
  uid: number;
  gid: number;
  home: string;
  identityFile: string;
  knownHostsFile: string;
  installDir: string;
  appdataDir: string;
  gateway: string;
  nodes: NodeRecord[];
  /** The database and load balancer the harness started on the host, if any (no secrets here). */
  database?: { dir: string; host: string; port: number; optionFile: string };
  loadBalancer?: { dir: string; url: string };
  /** Tells this start from a later one of the same instance. */
  id: string;
  /** The process that uses the cluster (a test run); absent when it outlives its starter (the CLI). */
  owner?: ProcessId;
  /** A `serviceUser` cluster: who owns the install and runs the server, and the sudoers drop-in written for it. */
  service?: { user: string; uid: number; gid: number; home: string; sudoers: string; passwordFile: string };
}

/** A pid and its start time, so a reused pid is not mistaken for the owner. */
interface ProcessId { pid: number; start: string; }

function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: ProcessId | undefined): boolean {
  return owner !== undefined && owner.pid !== process.pid && processStart(owner.pid) === owner.start;
}

/**
 * Another live process (say a second test run) is using this instance: wait for it rather than
 * pull its nodes away mid-test. A cluster left by a dead process or by the CLI is fair game.
 */
async function waitForOtherOwner(names: Names, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const desc = readRegistry(names);
    if (!desc || !ownerAlive(desc.owner)) return;
    if (Date.now() > deadline) {
      throw new Error(`Test cluster ${names.instance} is in use by process ${desc.owner!.pid} (state in ${desc.stateDir}). ` +
        'Wait for it to finish, or use another instance (UCDT_INSTANCE=1 or the instance option).');
    }
    await sleep(500);
  }
}

/** Why the cluster cannot run here, or undefined when it can; in CI (CI=true) a reason throws. */
export function clusterPrerequisites(): string | undefined {
  return skipOutsideCi(clusterMissing());
}

function clusterMissing(): string | undefined {
  if (process.platform !== 'linux') return 'the test cluster needs Linux namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the test cluster needs root (network and pid namespaces)';
  const tools: [string, string][] = [
    ['/usr/sbin/sshd', 'openssh-server'], ['/usr/bin/ssh-keygen', 'openssh-client'], ['/usr/bin/ssh', 'openssh-client'],
    ['ip', 'iproute2'], ['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['setpriv', 'util-linux'],
    ['useradd', 'passwd'], ['openssl', 'openssl'], ['/usr/bin/node', 'nodejs (the simulator runs on /usr/bin/node)'],
  ];
  for (const [tool, pkg] of tools) {
    if (!which(tool)) return `${tool} is missing (install ${pkg})`;
  }
  if (!fs.existsSync(simFile('lay-install.js'))) return `the simulator is missing at ${simFile('lay-install.js')}`;
  // Root in a container may still be denied namespaces; ask the kernel once.
  if (namespacesAllowed === undefined) {
    const r = spawnSync('unshare', ['--net', '--mount', '--pid', '--uts', '--ipc', '--fork', '--mount-proc', 'true'], { encoding: 'utf8', timeout: 10000 });
    namespacesAllowed = r.status === 0 ? '' : `this machine denies namespaces (unshare: ${(r.stderr || r.error?.message || '').trim()})`;
  }
  return namespacesAllowed || undefined;
}
let namespacesAllowed: string | undefined;

function which(tool: string): boolean {
  if (tool.startsWith('/')) return fs.existsSync(tool);
  return PATH_ENV.split(':').some((d) => fs.existsSync(path.join(d, tool)));
}

/** test/sim lives in the source tree, next to the compiled out/ tree. */
function simFile(name: string): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'test', 'sim', name);
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(process.cwd(), 'test', 'sim', name);
}

interface LayInstall {
  layInstall(o: { dir: string; version: string; installPath: string; appdataPath: string; webHost: string; user: string; dbUrl?: string; dbUser?: string }): void;
  layAppdata(o: { dir: string; version: string }): void;
  javaRelease(version: string): string;
}
function simLayout(): LayInstall {
  return require(simFile('lay-install.js')) as LayInstall;
}

// ---------------------------------------------------------------------------------------------
// Small process helpers

interface RunOptions { input?: string; allowFail?: boolean; timeoutMs?: number; }

function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH: `${PATH_ENV}:${process.env.PATH ?? ''}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${cmd} could not run: ${err.message}`));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`));
      } else resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true once host:port accepts a connection (and, if given, sends a banner with that prefix). */
function probeTcp(host: string, port: number, bannerPrefix?: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => {
      if (!bannerPrefix) finish(true);
    });
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= bannerPrefix!.length) finish(got.startsWith(bannerPrefix!));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(100);
  }
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

function pidState(pid: number): 'gone' | 'zombie' | 'alive' {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X' ? 'zombie' : 'alive';
  } catch {
    return 'gone';
  }
}

function sq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

function netnsMounted(): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === '/run/netns');
}

// ---------------------------------------------------------------------------------------------
// Cleanup by name prefix: works from the registry, the default state dir and the kernel's lists,
// so it also removes what a killed harness left behind.

function readRegistry(names: Names): Description | undefined {
  try {
    return JSON.parse(fs.readFileSync(names.registry, 'utf8')) as Description;
  } catch {
    return undefined;
  }
}

async function listNetns(prefix: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n && n.startsWith(prefix));
}

async function listLinks(prefix: string): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show'], { allowFail: true });
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m && m[1].startsWith(prefix)) out.push(m[1]);
  }
  return out;
}

async function cleanLeftovers(names: Names, extraStateDir?: string): Promise<void> {
  const desc = readRegistry(names);
  const netnsList = await listNetns(names.prefix);
  const pids: number[] = [];
  for (const ns of netnsList) {
    const r = await run('ip', ['netns', 'pids', ns], { allowFail: true });
    for (const p of r.stdout.split(/\s+/)) if (/^\d+$/.test(p)) pids.push(Number(p));
  }
  // Every process of a node lives in its netns: the node's init, sshd, sessions, servers.
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  // Wait until they are reaped, not just dead: a zombie still shows in /proc and in ps.
  const deadline = Date.now() + 5000;
  while (pids.some((p) => pidState(p) !== 'gone') && Date.now() < deadline) await sleep(20);
  for (const ns of netnsList) await run('ip', ['netns', 'delete', ns], { allowFail: true });
  for (const link of await listLinks(names.prefix)) await run('ip', ['link', 'delete', link], { allowFail: true });

  // The sudoers rule of a serviceUser cluster goes with it (the name is the instance's own).
  fs.rmSync(`/etc/sudoers.d/${names.prefix}service`, { force: true });
  for (const dir of new Set([desc?.stateDir, extraStateDir, names.defaultStateDir])) {
    if (dir && fs.existsSync(path.join(dir, MARKER))) {
      await stopHostDaemons(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.rmSync(names.registry, { force: true });
  // The host-wide leftovers are shared by all instances: the last one out removes them.
  if ((await listNetns('ucdt')).length === 0) {
    const host = readHostRecord();
    if (host.createdNetnsMount && fs.existsSync('/run/netns') && fs.readdirSync('/run/netns').length === 0) {
      await run('umount', ['/run/netns'], { allowFail: true });
      try {
        fs.rmdirSync('/run/netns');
      } catch {
        /* in use */
      }
    }
    // The test user's password and the service user were set up for serviceUser clusters only.
    if (host.sudoPassword) await run('usermod', ['-p', '*', TEST_USER], { allowFail: true });
    fs.rmSync(SUDO_PASSWORD_FILE, { force: true });
    for (const user of host.createdUsers ?? []) if (user !== TEST_USER) await run('userdel', ['--remove', user], { allowFail: true });
    fs.rmSync(HOST_RECORD, { force: true });
  }
}

/**
 * The database and load balancer run on the host, outside the nodes' namespaces: they are found by
 * their pid files in the state dir, and a pid counts only while its command line names that dir.
 */
async function stopHostDaemons(stateDir: string): Promise<void> {
  const daemons: [string, NodeJS.Signals][] = [[path.join(stateDir, 'db', 'mariadbd.pid'), 'SIGTERM'], [path.join(stateDir, 'lb', 'nginx.pid'), 'SIGTERM']];
  const pids: number[] = [];
  for (const [pidFile, signal] of daemons) {
    let pid = 0;
    try {
      pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    } catch {
      continue;
    }
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!pid || !cmdline.includes(stateDir)) continue;
    try {
      process.kill(pid, signal);
      pids.push(pid);
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 15000;
  while (pids.some((p) => pidState(p) === 'alive') && Date.now() < deadline) await sleep(50);
  for (const p of pids) {
    try {
      if (pidState(p) === 'alive') process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** What the harness added to the host outside any instance's names (/run/netns). */
/** What the harness changed on the host itself, undone by the last instance to stop. */
interface HostRecord { createdNetnsMount: boolean; createdUsers?: string[]; sudoPassword?: boolean; }
/** The SSH user's sudo password, one for all serviceUser instances at once (it is one host user). */
const SUDO_PASSWORD_FILE = '/run/ucdt-sudo-password';
const HOST_RECORD = '/run/ucdt-host.json';

function readHostRecord(): HostRecord {
  try {
    return JSON.parse(fs.readFileSync(HOST_RECORD, 'utf8')) as HostRecord;
  } catch {
    return { createdNetnsMount: false };
  }
}

/**
 * Creates the mount points nodes need. They stay: removing them when one instance stops raced with
 * another instance starting ("mount point does not exist"), and three empty folders cost nothing.
 */
function prepareHost(): void {
  const host = readHostRecord();
  if (!netnsMounted()) host.createdNetnsMount = true;
  for (const dir of ['/opt/ucd', INSTALL_DIR, APPDATA_DIR]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(HOST_RECORD, `${JSON.stringify(host)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Start

/** PID 1 of every node: addresses, private mounts, sshd; then it only reaps orphans. */
const NODE_INIT = `#!/bin/bash
# PID 1 of a test-cluster node (written by test/cluster/harness.ts).
set -eu
node_dir=$1 appdata=$2 addr=$3 name=$4 home=$5 service_home=\${6:-}
ip link set lo up
ip addr add "$addr" dev eth0
ip link set eth0 up
hostname "$name"
# A private /run and /tmp, as a separate machine has. The node's own state is bound at /run/ucdt
# before /tmp is covered, because the state dir itself may live under the host's /tmp.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/ucdt
mount --bind "$node_dir" /run/ucdt
mount --bind "$node_dir/server" ${INSTALL_DIR}
mount --bind "$appdata" ${APPDATA_DIR}
mount --bind "$node_dir/home" "$home"
# A service user's home of its own per node, as each machine has.
if [ -n "$service_home" ]; then mount --bind "$node_dir/service-home" "$service_home"; fi
# Its own /etc/machine-id, as a separate machine has (the host's file is shared otherwise).
if [ -e /etc/machine-id ] && [ -s "$node_dir/machine-id" ]; then mount --bind "$node_dir/machine-id" /etc/machine-id; fi
mount -t tmpfs -o mode=1777 tmpfs /tmp
/usr/sbin/sshd -D -f /run/ucdt/sshd_config -E /run/ucdt/sshd.log </dev/null &
cd /
echo ready
# bash reaps every orphan that is re-parented to it while it waits.
while :; do sleep 3600 & wait $! || true; done
`;

function sshdConfig(addr: string, user: string): string {
  return `# sshd of one test-cluster node (written by test/cluster/harness.ts)
ListenAddress ${addr}
Port 22
HostKey /run/ucdt/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PermitRootLogin no
AllowUsers ${user}
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`;
}

interface UserInfo { uid: number; gid: number; home: string; }

async function ensureUser(user: string): Promise<UserInfo> {
  let r = await run('getent', ['passwd', user], { allowFail: true });
  if (r.code !== 0) {
    // '*' rather than a locked '!' password: no password works, but key logins are allowed.
    await run('useradd', ['--create-home', '--shell', '/bin/bash', '--password', '*', user]);
    const host = readHostRecord();
    host.createdUsers = [...new Set([...(host.createdUsers ?? []), user])];
    fs.writeFileSync(HOST_RECORD, `${JSON.stringify(host)}\n`);
    r = await run('getent', ['passwd', user]);
  }
  const f = r.stdout.trim().split(':');
  const info = { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  fs.mkdirSync(info.home, { recursive: true });
  return info;
}

/** The port the database takes on the gateway: 3306 unless something there holds it. */
async function databasePort(gateway: string, instance: number): Promise<number> {
  for (const port of [3306, 13306 + instance]) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, gateway, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`Ports 3306 and ${13306 + instance} on ${gateway} are both taken; stop what holds them to start the test database.`);
}

/** Salted hashes of the REST credentials, shared by every node through appdata. */
function usersFile(admin: UcdAdmin): string {
  const entry = (secret: string): { salt: string; sha256: string } => {
    const salt = crypto.randomBytes(12).toString('hex');
    return { salt, sha256: crypto.createHash('sha256').update(`${salt}:${secret}`).digest('hex') };
  };
  return `${JSON.stringify({ users: [{ name: admin.user, ...entry(admin.password) }], tokens: [entry(admin.token)] }, null, 2)}\n`;
}

function nextVersion(v: string): string {
  const p = v.split('.').map(Number);
  return [p[0], p[1] + 1, 0, 0].join('.');
}

export async function startCluster(opts: StartOptions = {}): Promise<TestCluster> {
  const why = clusterPrerequisites() ?? (opts.database ? databasePrerequisites() : undefined) ?? (opts.loadBalancer ? loadBalancerPrerequisites() : undefined);
  if (why) throw new Error(`Cannot start the test cluster: ${why}.`);
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) throw new Error(`nodes must be 1..${MAX_NODES}; got ${count}`);
  const version = opts.version ?? DEFAULT_VERSION;
  if (!/^\d+\.\d+\.\d+\.\d+(\.\d+)?$/.test(version)) throw new Error(`version must look like 7.0.5.0; got "${version}"`);
  const names = namesFor(opts.instance ?? defaultInstance());
  const stateDir = path.resolve(opts.stateDir ?? names.defaultStateDir);

  await waitForOtherOwner(names, opts.waitMs ?? 600000);
  await cleanLeftovers(names, stateDir);
  if (fs.existsSync(stateDir) && fs.readdirSync(stateDir).length > 0) {
    throw new Error(`State dir ${stateDir} exists, is not empty and is not a test cluster's: give an empty or new directory.`);
  }
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(stateDir, MARKER), 'test cluster state; removed by its stop\n');

  const gateway = `${names.net3}.1`;
  const nodes: NodeRecord[] = Array.from({ length: count }, (_, i) => ({
    name: `ucd${i + 1}`,
    host: `${names.net3}.${10 + i + 1}`,
    sshPort: 22,
    netns: `${names.prefix}ucd${i + 1}`,
    veth: `${names.prefix}v${i + 1}`,
  }));
  const desc: Description = {
    instance: names.instance,
    stateDir,
    version,
    user: TEST_USER,
    uid: 0,
    gid: 0,
    home: '',
    identityFile: path.join(stateDir, 'id_ed25519'),
    knownHostsFile: path.join(stateDir, 'known_hosts'),
    installDir: INSTALL_DIR,
    appdataDir: APPDATA_DIR,
    gateway,
    nodes,
    id: `${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2)}`,
    owner: opts.detached ? undefined : { pid: process.pid, start: processStart(process.pid) ?? '' },
  };
  const writeDescription = (): void => {
    const text = `${JSON.stringify(desc, null, 2)}\n`;
    fs.writeFileSync(path.join(stateDir, 'cluster.json'), text);
    fs.writeFileSync(names.registry, text);
  };

  let dbStarting: Promise<TestDatabase> | undefined;
  let lbStarted: TestLoadBalancer | undefined;
  try {
    const user = await ensureUser(TEST_USER);
    Object.assign(desc, user);
    // Who owns the install and runs the server: the service user in a data centre's setup.
    let owner: UserInfo = user;
    if (opts.serviceUser) {
      owner = await ensureUser(SERVICE_USER);
      const sudoers = `/etc/sudoers.d/${names.prefix}service`;
      const passwordFile = path.join(stateDir, 'sudo-password');
      desc.service = { user: SERVICE_USER, ...owner, sudoers, passwordFile };
      writeDescription(); // the drop-in below is removed by any later stop
      // Another instance's sudo password is the same host user's: reuse it, so neither breaks the other.
      let password = fs.existsSync(SUDO_PASSWORD_FILE) ? fs.readFileSync(SUDO_PASSWORD_FILE, 'utf8').trim() : '';
      if (!password) {
        password = `${crypto.randomBytes(12).toString('base64url')}-Sudo`;
        fs.writeFileSync(SUDO_PASSWORD_FILE, `${password}\n`, { mode: 0o600 });
        const host = readHostRecord();
        fs.writeFileSync(HOST_RECORD, `${JSON.stringify({ ...host, sudoPassword: true })}\n`);
        await run('chpasswd', [], { input: `${TEST_USER}:${password}\n` });
      }
      fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
      const rule = `# test cluster ${names.instance} (test/cluster/harness.ts): removed at its stop\n${TEST_USER} ALL=(root,${SERVICE_USER}) ALL\n`;
      const tmp = `${sudoers}.tmp`;
      fs.writeFileSync(tmp, rule, { mode: 0o440 });
      await run('visudo', ['-c', '-q', '-f', tmp]);
      fs.renameSync(tmp, sudoers);
    }
    prepareHost();
    writeDescription(); // from here on, a crash is cleaned up by the next start or stop

    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${names.prefix}harness`, '-f', desc.identityFile]);
    const clientPub = fs.readFileSync(`${desc.identityFile}.pub`, 'utf8');
    const hostAppdata = path.join(stateDir, 'appdata');
    fs.mkdirSync(hostAppdata);
    const lay = simLayout();
    lay.layAppdata({ dir: hostAppdata, version });
    const admin: UcdAdmin = { user: 'admin', password: crypto.randomBytes(18).toString('base64url'), token: crypto.randomBytes(24).toString('hex') };
    fs.writeFileSync(path.join(stateDir, ADMIN_FILE), `${JSON.stringify(admin)}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(hostAppdata, 'conf', 'sim'), { recursive: true });
    fs.writeFileSync(path.join(hostAppdata, 'conf', 'sim', 'users.json'), usersFile(admin), { mode: 0o600 });
    await run('chown', ['-R', `${owner.uid}:${owner.gid}`, hostAppdata]);
    const initScript = path.join(stateDir, 'node-init.sh');
    fs.writeFileSync(initScript, NODE_INIT, { mode: 0o755 });

    await run('ip', ['link', 'add', names.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${gateway}/24`, 'dev', names.bridge]);
    await run('ip', ['link', 'set', names.bridge, 'up']);

    // The database starts while the nodes' files are laid (mariadb-install-db takes seconds).
    const dbPort = opts.database ? await databasePort(gateway, names.instance) : 3306;
    const dbUrl = `jdbc:mysql://${gateway}:${dbPort}/ucd`;
    if (opts.database) {
      dbStarting = startDatabase({ dir: path.join(stateDir, 'db'), bindAddress: gateway, port: dbPort, ucdVersion: version });
      desc.database = { dir: path.join(stateDir, 'db'), host: gateway, port: dbPort, optionFile: path.join(stateDir, 'db', 'client.cnf') };
      writeDescription();
    }

    // Files first (in parallel), then all links in one ip batch, then the nodes' init processes.
    await mapLimit(nodes, 4, async (node) => {
      const dir = path.join(stateDir, 'nodes', node.name);
      fs.mkdirSync(path.join(dir, 'faults'), { recursive: true, mode: 0o755 });
      fs.chmodSync(path.join(stateDir, 'nodes'), 0o755);
      fs.chmodSync(dir, 0o755);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${node.netns}`, '-f', path.join(dir, 'ssh_host_ed25519_key')]);
      fs.writeFileSync(path.join(dir, 'sshd_config'), sshdConfig(node.host, TEST_USER));
      fs.writeFileSync(path.join(dir, 'machine-id'), `${crypto.randomBytes(16).toString('hex')}\n`, { mode: 0o444 });
      const home = path.join(dir, 'home');
      fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
      fs.writeFileSync(path.join(home, '.ssh', 'authorized_keys'), clientPub);
      fs.writeFileSync(path.join(home, '.bashrc'), '# test node\n');
      fs.mkdirSync(path.join(home, 'backups'));
      lay.layInstall({ dir: path.join(dir, 'server'), version, installPath: INSTALL_DIR, appdataPath: APPDATA_DIR, webHost: node.host, user: desc.service?.user ?? TEST_USER, dbUrl, dbUser: 'ucd' });
      fs.copyFileSync(simFile('port-holder.js'), path.join(dir, 'port-holder.js'));
      fs.copyFileSync(simFile('workflow.js'), path.join(dir, 'workflow.js'));
      await run('chown', ['-R', `${user.uid}:${user.gid}`, home]);
      await run('chown', ['-R', `${owner.uid}:${owner.gid}`, path.join(dir, 'server')]);
      if (desc.service) {
        fs.mkdirSync(path.join(dir, 'service-home'), { mode: 0o700 });
        fs.chownSync(path.join(dir, 'service-home'), owner.uid, owner.gid);
      }
      // StrictModes: the home and key files must be the user's and not writable by others.
      fs.chmodSync(home, 0o755);
      fs.chmodSync(path.join(home, '.ssh'), 0o700);
      fs.chmodSync(path.join(home, '.ssh', 'authorized_keys'), 0o600);
    });

    let database: TestDatabase | undefined;
    if (dbStarting) {
      database = await dbStarting;
      // Each node's own client option file: the password only there (0600, the test user's).
      const password = /^password=(.*)$/m.exec(fs.readFileSync(database.optionFile, 'utf8'))?.[1];
      if (!password) throw new Error(`no password in ${database.optionFile}`);
      for (const node of nodes) {
        const file = path.join(stateDir, 'nodes', node.name, 'server', 'conf', 'sim', 'db.cnf');
        const text = `[client]\nuser=ucd\npassword=${password}\nhost=${gateway}\nport=${dbPort}\n`;
        fs.writeFileSync(file, text, { mode: 0o600 });
        fs.chmodSync(file, 0o600);
        fs.chownSync(file, owner.uid, owner.gid);
        if (desc.service) {
          // The backup runs as the SSH user, who cannot read the service user's file: its own copy.
          const mine = path.join(stateDir, 'nodes', node.name, 'home', 'db-backup.cnf');
          fs.writeFileSync(mine, text, { mode: 0o600 });
          fs.chownSync(mine, user.uid, user.gid);
        }
      }
    }

    const batch = nodes.flatMap((n) => [
      `netns add ${n.netns}`,
      `link add ${n.veth} type veth peer name eth0 netns ${n.netns}`,
      `link set ${n.veth} master ${names.bridge} up`,
    ]);
    await run('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });

    await mapLimit(nodes, 8, async (node) => {
      const dir = path.join(stateDir, 'nodes', node.name);
      const log = fs.openSync(path.join(dir, 'init.log'), 'a');
      const child = spawn('ip', [
        'netns', 'exec', node.netns,
        'unshare', '--pid', '--fork', '--kill-child', '--mount', '--uts', '--ipc', '--mount-proc', '--propagation', 'private',
        '--', '/bin/bash', initScript, dir, hostAppdata, `${node.host}/24`, node.name, user.home, ...(desc.service ? [desc.service.home] : []),
      ], { detached: true, stdio: ['ignore', log, log], env: { PATH: PATH_ENV, LANG: 'C.UTF-8', HOME: '/root' } });
      fs.closeSync(log);
      child.unref();
      const outer = child.pid;
      if (outer === undefined) throw new Error(`node ${node.name}: could not start its init process`);
      // `ip netns exec` execs unshare in place; unshare's only child is the node's PID 1.
      let initPid = 0;
      await waitFor(`node ${node.name}'s init process`, async () => {
        try {
          initPid = Number(fs.readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(/\s+/)[0]) || 0;
        } catch {
          initPid = 0;
        }
        return initPid > 0;
      }, 10000, () => tail(path.join(dir, 'init.log')));
      fs.writeFileSync(path.join(dir, 'init.pid'), `${initPid}\n`);
    });

    await Promise.all(nodes.map((node) => {
      const dir = path.join(stateDir, 'nodes', node.name);
      return waitFor(`sshd on node ${node.name} (${node.host}:22)`, () => probeTcp(node.host, 22, 'SSH-2.0-'), 20000 + count * 500,
        () => `init.log:\n${tail(path.join(dir, 'init.log'))}\nsshd.log:\n${tail(path.join(dir, 'sshd.log'))}`);
    }));

    const knownHosts = nodes.map((n) => {
      const pub = fs.readFileSync(path.join(stateDir, 'nodes', n.name, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
      return `${n.host} ${pub[0]} ${pub[1]}`;
    });
    fs.writeFileSync(desc.knownHostsFile, `${knownHosts.join('\n')}\n`, { mode: 0o644 });
    let loadBalancer: ClusterLoadBalancer | undefined;
    if (opts.loadBalancer) {
      const lbDir = path.join(stateDir, 'lb');
      lbStarted = await startLoadBalancer({ dir: lbDir, listen: `${gateway}:${HTTPS_PORT}`, upstreams: nodes.map((n) => `${n.host}:${HTTPS_PORT}`) });
      loadBalancer = Object.assign(lbStarted, { certFile: path.join(lbDir, 'lb.crt') });
      desc.loadBalancer = { dir: lbDir, url: lbStarted.url };
    }
    writeDescription();
    return new Cluster(desc, { database, loadBalancer });
  } catch (err) {
    await lbStarted?.stop().catch(() => undefined);
    await dbStarting?.then((d) => d.stop(), () => undefined).catch(() => undefined);
    await cleanLeftovers(names, stateDir).catch(() => undefined);
    throw err;
  }
}

/** The cluster a previous `start` (this or another process, e.g. the CLI) left running. */
export function attachCluster(opts: { instance?: number } = {}): TestCluster {
  const names = namesFor(opts.instance ?? defaultInstance());
  const desc = readRegistry(names);
  if (!desc) throw new Error(`No test cluster ${names.instance} is running (no ${names.registry}); start one first.`);
  return new Cluster(desc);
}

/** Stops whatever a cluster of this instance left behind, even when nothing describes it any more. */
export async function stopCluster(opts: { instance?: number; stateDir?: string } = {}): Promise<void> {
  await cleanLeftovers(namesFor(opts.instance ?? defaultInstance()), opts.stateDir && path.resolve(opts.stateDir));
}

// ---------------------------------------------------------------------------------------------
// A running cluster

class Cluster implements TestCluster {
  readonly nodes: readonly TestNode[];
  readonly user: string;
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly installDir: string;
  readonly appdataDir: string;
  readonly stateDir: string;
  readonly version: string;
  readonly gateway: string;
  readonly instance: number;
  readonly hostAppdataDir: string;
  readonly database?: TestDatabase;
  readonly loadBalancer?: ClusterLoadBalancer;
  readonly homeDir: string;
  readonly serverUser: string;
  private admin?: UcdAdmin;

  constructor(private readonly desc: Description, handles?: { database?: TestDatabase; loadBalancer?: ClusterLoadBalancer }) {
    this.nodes = desc.nodes.map((n) => ({ name: n.name, host: n.host, sshPort: n.sshPort }));
    this.user = desc.user;
    this.identityFile = desc.identityFile;
    this.knownHostsFile = desc.knownHostsFile;
    this.installDir = desc.installDir;
    this.appdataDir = desc.appdataDir;
    this.stateDir = desc.stateDir;
    this.version = desc.version;
    this.gateway = desc.gateway;
    this.instance = desc.instance;
    this.hostAppdataDir = path.join(desc.stateDir, 'appdata');
    this.homeDir = desc.home;
    this.serverUser = desc.service?.user ?? desc.user;
    // Attached from another process (the CLI): the same services, found through the description.
    const database = handles?.database ?? (desc.database ? attachedDatabase(desc.database) : undefined);
    const loadBalancer = handles?.loadBalancer ?? (desc.loadBalancer ? attachedLoadBalancer(desc.loadBalancer) : undefined);
    if (database) this.database = database;
    if (loadBalancer) this.loadBalancer = loadBalancer;
  }

  get sudoPassword(): string | undefined {
    return this.desc.service ? fs.readFileSync(this.desc.service.passwordFile, 'utf8').trim() : undefined;
  }

  /** Who owns the install's files and runs the server. */
  private get server(): { uid: number; gid: number } {
    return this.desc.service ?? this.desc;
  }

  get ucdAdmin(): UcdAdmin {
    this.admin ??= JSON.parse(fs.readFileSync(path.join(this.stateDir, ADMIN_FILE), 'utf8')) as UcdAdmin;
    return this.admin;
  }

  hostHomeDir(node: string): string {
    return path.join(this.nodeDir(node), 'home');
  }

  async startProcess(node: string, spec: ProcessSpec): Promise<string> {
    const out = await this.mustInNode(node, `starting the ${spec.type} process "${spec.name}"`, `
      out=$(mktemp /tmp/workflow.XXXXXX)
      setsid /usr/bin/node /run/ucdt/workflow.js run ${sq(this.appdataDir)} ${sq(JSON.stringify(spec))} >"$out" 2>&1 </dev/null &
      i=0; while [ $i -lt 200 ] && ! grep -q . "$out"; do sleep 0.05; i=$((i + 1)); done
      cat "$out"`, { user: this.serverUser, timeoutMs: 20000 });
    const m = /^started (\S+) (\S+) (\d+)$/m.exec(out);
    if (!m) throw new Error(`The ${spec.type} process "${spec.name}" did not start on node ${node}: ${out.trim() || 'no output'}`);
    return m[1];
  }

  processes(): SimProcessRecord[] {
    const dir = path.join(this.hostAppdataDir, 'var', 'sim', 'workflow');
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: SimProcessRecord[] = [];
    for (const name of names) {
      try {
        out.push(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as SimProcessRecord);
      } catch {
        /* being replaced */
      }
    }
    return out;
  }

  buildPackage(opts: { version?: string; product?: string; format?: 'zip' | 'tar.gz'; extraPrompt?: string; schemaUpgradeSeconds?: number; failAfterSchema?: boolean; preSchemaSeconds?: number } = {}): InstallerPackage {
    const outDir = path.join(this.stateDir, 'packages');
    fs.mkdirSync(outDir, { recursive: true });
    const builder = require(simFile('package.js')) as {
      buildPackage(o: { version: string; outDir: string; texts: unknown; product?: string; format?: string; extraPrompt?: string; schemaUpgradeSeconds?: number; failAfterSchema?: boolean; preSchemaSeconds?: number }): InstallerPackage;
    };
    return builder.buildPackage({
      version: opts.version ?? nextVersion(this.version),
      outDir,
      texts: { PROMPT_TEXTS, REFUSAL_TEXTS, INFO_TEXTS, ANT_TEXTS },
      ...(opts.product ? { product: opts.product } : {}),
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.extraPrompt ? { extraPrompt: opts.extraPrompt } : {}),
      ...(opts.schemaUpgradeSeconds !== undefined ? { schemaUpgradeSeconds: opts.schemaUpgradeSeconds } : {}),
      ...(opts.failAfterSchema ? { failAfterSchema: true } : {}),
      ...(opts.preSchemaSeconds !== undefined ? { preSchemaSeconds: opts.preSchemaSeconds } : {}),
    });
  }

  private record(node: string): NodeRecord {
    const n = this.desc.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`No node "${node}" in the test cluster (nodes: ${this.desc.nodes.map((x) => x.name).join(', ')}).`);
    return n;
  }

  private nodeDir(node: string): string {
    return path.join(this.stateDir, 'nodes', this.record(node).name);
  }

  hostInstallDir(node: string): string {
    return path.join(this.nodeDir(node), 'server');
  }

  /** The node's PID 1 as the host sees it, checked against the node's netns (pids get reused). */
  private initPid(node: string): number {
    const rec = this.record(node);
    const pid = Number(fs.readFileSync(path.join(this.nodeDir(node), 'init.pid'), 'utf8').trim());
    try {
      if (fs.statSync(`/proc/${pid}/ns/net`).ino === fs.statSync(`/run/netns/${rec.netns}`).ino && pidState(pid) === 'alive') return pid;
    } catch {
      /* fall through */
    }
    throw new Error(`Node ${node} is not running (its init process ${pid} is gone); start the cluster again.`);
  }

  hostPids(node: string, comm: string): number[] {
    const ns = fs.readlinkSync(`/proc/${this.initPid(node)}/ns/pid`);
    const out: number[] = [];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        if (fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() === comm && fs.readlinkSync(`/proc/${e}/ns/pid`) === ns) out.push(Number(e));
      } catch {
        /* gone meanwhile */
      }
    }
    return out;
  }

  inNode(node: string, command: string, opts: InNodeOptions = {}): Promise<ExecResult> {
    const pid = this.initPid(node);
    const asUser = opts.user !== undefined && opts.user !== 'root';
    const home = asUser ? (opts.user === this.desc.user ? this.desc.home : '/') : '/root';
    const args = ['-t', String(pid), '-m', '-n', '-p', '-u', '-i', '--wd=/', '--'];
    if (asUser) args.push('setpriv', `--reuid=${opts.user}`, `--regid=${opts.user}`, '--init-groups', '--');
    args.push('/bin/sh', '-c', command);
    const env = { PATH: PATH_ENV, LANG: 'C.UTF-8', HOME: home, USER: opts.user ?? 'root', LOGNAME: opts.user ?? 'root' };
    return new Promise((resolve, reject) => {
      // Own process group, so a timeout kills the command inside the node too, not just nsenter.
      const child = spawn('nsenter', args, { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const killGroup = (): void => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      const timer = setTimeout(killGroup, opts.timeoutMs ?? 120000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`inNode ${node}: nsenter could not run: ${err.message}`));
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        // A daemon started by the command may hold our pipes open; give the output a moment, then stop reading.
        const settle = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          resolve({ code, stdout, stderr });
        }, 300);
        child.on('close', () => {
          clearTimeout(settle);
          resolve({ code, stdout, stderr });
        });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }

  private async mustInNode(node: string, what: string, command: string, opts: InNodeOptions = {}): Promise<string> {
    const r = await this.inNode(node, command, opts);
    if (r.code !== 0) throw new Error(`${what} on node ${node} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim()}`);
    return r.stdout;
  }

  async startServer(node: string): Promise<void> {
    const host = this.record(node).host;
    await this.mustInNode(node, 'bin/server start', `${sq(this.installDir)}/bin/server start`, { user: this.serverUser, timeoutMs: 30000 });
    await waitFor(`the UCD server on node ${node} to listen on ${HTTPS_PORT} and ${JMS_PORT}`,
      async () => (await probeTcp(host, HTTPS_PORT)) && (await probeTcp(host, JMS_PORT)), 15000,
      () => tail(path.join(this.hostInstallDir(node), 'var/log/stdout')));
  }

  async stopServer(node: string): Promise<void> {
    await this.mustInNode(node, 'bin/server stop', `${sq(this.installDir)}/bin/server stop`, { user: this.serverUser, timeoutMs: 30000 });
  }

  async setFault(node: string, fault: FaultName, on: boolean): Promise<void> {
    const dir = this.nodeDir(node);
    const faults = path.join(dir, 'faults');
    const host = this.record(node).host;
    const pidFile = `${sq(this.installDir)}/var/server.pid`;
    switch (fault) {
      case 'ignoresStop':
        // The simulated server reads this flag when it gets SIGTERM.
        if (on) fs.writeFileSync(path.join(faults, 'ignoresStop'), 'the server ignores stop\n', { mode: 0o644 });
        else fs.rmSync(path.join(faults, 'ignoresStop'), { force: true });
        return;
      case 'stalePid':
        if (on) {
          // A running server is killed the hard way (a crash leaves its pid file); otherwise write a
          // pid file naming a pid no process of the node has.
          await this.mustInNode(node, 'making a stale pid file', `
            f=${pidFile}
            if [ -s "$f" ] && [ -d "/proc/$(cat "$f")" ]; then
              p=$(cat "$f"); kill -9 "$p"
              while [ -e "/proc/$p" ]; do sleep 0.05; done
            else
              p=4242; while [ -e "/proc/$p" ]; do p=$((p + 1)); done
              echo "$p" > "$f"; chown ${this.server.uid}:${this.server.gid} "$f"
            fi`, { timeoutMs: 15000 });
        } else {
          await this.mustInNode(node, 'removing a stale pid file', `
            f=${pidFile}
            if [ -e "$f" ] && ! [ -d "/proc/$(cat "$f")" ]; then rm -f "$f"; fi`);
        }
        return;
      case 'portHeld': {
        const pidPath = path.join(faults, 'portHeld.pid');
        if (on) {
          if (fs.existsSync(pidPath)) return;
          const out = await this.mustInNode(node, `holding port ${HTTPS_PORT}`, `
            out=/run/ucdt/faults/portHeld.out
            setsid setpriv --reuid=${this.server.uid} --regid=${this.server.gid} --init-groups -- \\
              /usr/bin/node /run/ucdt/port-holder.js ${HTTPS_PORT} >"$out" 2>&1 </dev/null &
            i=0; while [ $i -lt 100 ] && ! grep -q . "$out"; do sleep 0.05; i=$((i + 1)); done
            cat "$out"`, { timeoutMs: 15000 });
          const m = /listening \d+ pid (\d+)/.exec(out);
          if (!m) throw new Error(`Could not hold port ${HTTPS_PORT} on node ${node}: ${out.trim() || 'no answer'} (is the server running there?)`);
          fs.writeFileSync(pidPath, `${m[1]}\n`);
          await waitFor(`port ${HTTPS_PORT} held on ${node}`, () => probeTcp(host, HTTPS_PORT), 5000);
        } else {
          if (!fs.existsSync(pidPath)) return;
          const pid = Number(fs.readFileSync(pidPath, 'utf8').trim());
          await this.mustInNode(node, 'ending the port holder', `kill -9 ${pid} 2>/dev/null; while [ -e /proc/${pid} ]; do sleep 0.05; done; true`, { timeoutMs: 10000 });
          fs.rmSync(pidPath, { force: true });
          fs.rmSync(path.join(faults, 'portHeld.out'), { force: true });
        }
        return;
      }
      case 'sshdDown':
        if (on) {
          await this.mustInNode(node, 'stopping sshd', `
            if [ -s /run/sshd.pid ]; then p=$(cat /run/sshd.pid); kill "$p" 2>/dev/null; while [ -e "/proc/$p" ]; do sleep 0.05; done; fi; true`, { timeoutMs: 10000 });
          await waitFor(`sshd on ${node} to stop listening`, async () => !(await probeTcp(host, 22)), 5000);
        } else {
          if (await probeTcp(host, 22, 'SSH-2.0-')) return;
          await this.mustInNode(node, 'starting sshd',
            'setsid /usr/sbin/sshd -D -f /run/ucdt/sshd_config -E /run/ucdt/sshd.log </dev/null >/dev/null 2>&1 &', { timeoutMs: 10000 });
          await waitFor(`sshd on ${node} to listen again`, () => probeTcp(host, 22, 'SSH-2.0-'), 10000, () => tail(path.join(dir, 'sshd.log')));
        }
        return;
      default: {
        const never: never = fault;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  }

  async openSecondSshPort(node: string, port = 2222): Promise<number> {
    const host = this.record(node).host;
    if (!(await probeTcp(host, port, 'SSH-2.0-'))) {
      await this.mustInNode(node, `starting a second sshd on port ${port}`,
        `setsid /usr/sbin/sshd -D -f /run/ucdt/sshd_config -o Port=${port} -o PidFile=/run/sshd-${port}.pid -E /run/ucdt/sshd-${port}.log </dev/null >/dev/null 2>&1 &`, { timeoutMs: 10000 });
      await waitFor(`the second sshd on ${node} (${host}:${port})`, () => probeTcp(host, port, 'SSH-2.0-'), 10000, () => tail(path.join(this.nodeDir(node), `sshd-${port}.log`)));
    }
    const pub = fs.readFileSync(path.join(this.nodeDir(node), 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    const line = `[${host}]:${port} ${pub[0]} ${pub[1]}`;
    if (!fs.readFileSync(this.knownHostsFile, 'utf8').split('\n').includes(line)) fs.appendFileSync(this.knownHostsFile, `${line}\n`);
    return port;
  }

  setJavaVersion(node: string, version: string): void {
    const file = path.join(this.hostInstallDir(node), 'java', 'release');
    fs.writeFileSync(file, simLayout().javaRelease(version));
  }

  setInstalledProperty(node: string, key: string, value: string | undefined): void {
    const file = path.join(this.hostInstallDir(node), 'conf', 'server', 'installed.properties');
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith(`${key}=`) && l !== '');
    if (value !== undefined) lines.push(`${key}=${value}`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
  }

  setInstalledVersion(where: { node: string } | 'appdata', version: string): void {
    const dir = where === 'appdata' ? this.hostAppdataDir : this.hostInstallDir(where.node);
    fs.writeFileSync(path.join(dir, 'conf', 'installed.version'), `installed.version=${version}\n`);
  }

  setUnlistedServer(name: string, host: string | undefined): void {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`setUnlistedServer: bad name "${name}"`);
    const dir = path.join(this.hostAppdataDir, 'var', 'sim', 'servers');
    const file = path.join(dir, `${name}.json`);
    if (host === undefined) {
      fs.rmSync(file, { force: true });
      return;
    }
    for (const d of [path.join(this.hostAppdataDir, 'var', 'sim'), dir]) {
      // The servers (the test user) register here too: the folder must stay theirs.
      if (!fs.existsSync(d)) {
        fs.mkdirSync(d);
        fs.chownSync(d, this.server.uid, this.server.gid);
      }
    }
    const record = { id: crypto.createHash('sha256').update(name).digest('hex').slice(0, 32), name, hostName: host, port: HTTPS_PORT, jmsPort: JMS_PORT, version: this.version, active: true };
    fs.writeFileSync(file, `${JSON.stringify(record)}\n`, { mode: 0o644 });
    fs.chownSync(file, this.server.uid, this.server.gid);
  }

  machineId(node: string): string {
    return fs.readFileSync(path.join(this.nodeDir(node), 'machine-id'), 'utf8').trim();
  }

  clusterFile(overrides: Record<string, unknown> = {}): string {
    const lb = this.loadBalancer?.url ?? `https://${this.gateway}:${HTTPS_PORT}`;
    // With the real database: a real dump, taken over SSH on the first node with its option file.
    const backup = this.database
      ? {
          node: this.nodes[0].name,
          command: `mariadb-dump --defaults-extra-file=${this.desc.service ? `${this.homeDir}/db-backup.cnf` : NODE_DB_OPTION_FILE} --single-transaction ucd > ${BACKUP_ARTIFACT}`,
          artifact: BACKUP_ARTIFACT,
        }
      : { command: 'mysqldump --single-transaction ucd > /tmp/ucd-backup.sql', artifact: '/tmp/ucd-backup.sql' };
    const file: Record<string, unknown> = {
      name: `test-cluster-${this.instance}`,
      currentVersion: this.version,
      targetVersion: nextVersion(this.version),
      firstNode: this.nodes[0].name,
      sharedAppdata: this.appdataDir,
      loadBalancerUrl: lb,
      ucd: { url: lb, credential: 'ucd-test-admin' },
      // Roll back reads the dump on standard input, on the node where it was taken.
      database: { type: 'mariadb', backup, ...(this.database ? { restore: { command: `mariadb --defaults-extra-file=${NODE_DB_OPTION_FILE} ucd` } } : {}) },
      package: { remotePath: '/tmp/ibm-ucd-install' },
      ...(this.desc.service ? { privilege: { method: 'sudo', as: 'root', password: true, passwordEnv: 'UCD_SUDO_PASSWORD' }, installOwner: this.desc.service.user } : {}),
      nodes: this.nodes.map((n) => ({
        name: n.name, host: n.host, sshPort: n.sshPort, user: this.user, identityFile: this.identityFile, installDir: this.installDir,
      })),
      ...overrides,
    };
    return `${JSON.stringify(file, null, 2)}\n`;
  }

  async stop(): Promise<void> {
    const names = namesFor(this.instance);
    const current = readRegistry(names);
    if (current && current.id !== this.desc.id) {
      // A later start replaced this cluster; its nodes are not ours to stop.
      if (current.stateDir !== this.stateDir && fs.existsSync(path.join(this.stateDir, MARKER))) {
        await stopHostDaemons(this.stateDir);
        fs.rmSync(this.stateDir, { recursive: true, force: true });
      }
      return;
    }
    // The services first and gently (mariadbd flushes), then everything by name.
    await this.loadBalancer?.stop().catch(() => undefined);
    await this.database?.stop().catch(() => undefined);
    await cleanLeftovers(names, this.stateDir);
  }
}

const execFileAsync = promisify(execFile);

/** The database a start left running, driven through its option file (what mariadb.ts returns). */
function attachedDatabase(d: NonNullable<Description['database']>): TestDatabase {
  const query = async (sqlText: string): Promise<string> =>
    (await execFileAsync('/usr/bin/mariadb', [`--defaults-extra-file=${d.optionFile}`, '-N', '-B', 'ucd', '-e', sqlText])).stdout;
  return {
    host: d.host,
    port: d.port,
    database: 'ucd',
    optionFile: d.optionFile,
    query,
    schemaVersions: async () => (await query('SELECT release_name, ver FROM ds_db_version ORDER BY ver')).trim().split('\n').filter(Boolean).map((l) => l.replace('\t', ' ')),
    stop: () => stopHostDaemons(path.dirname(d.dir)),
  };
}

function attachedLoadBalancer(l: NonNullable<Description['loadBalancer']>): ClusterLoadBalancer {
  const certFile = path.join(l.dir, 'lb.crt');
  return {
    url: l.url,
    certFile,
    get: (pathname = '/') => pinnedGet(`${l.url}${pathname}`, certFile),
    stop: () => stopHostDaemons(path.dirname(l.dir)),
  };
}

/**
 * Arguments for /usr/bin/ssh to run `command` on a node as the test user, with nothing from the
 * caller's own ssh config and the node's host key checked. `tty` forces a pty (-tt).
 */
export function sshArgs(cluster: TestCluster, node: string, command: string, opts: { tty?: boolean } = {}): string[] {
  const n = cluster.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`No node "${node}" in the test cluster.`);
  return [
    '-F', '/dev/null', '-i', cluster.identityFile, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${cluster.knownHostsFile}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-p', String(n.sshPort),
    ...(opts.tty ? ['-tt'] : []), `${cluster.user}@${n.host}`, command,
  ];
}

/** Host pids of every process in the cluster's nodes: to simulate a crash, or to prove they are gone. */
export function nodeProcessesOf(cluster: TestCluster): number[] {
  const pids: number[] = [];
  for (const n of cluster.nodes) {
    const r = spawnSync('ip', ['netns', 'pids', `${namesFor(cluster.instance).prefix}${n.name}`], { encoding: 'utf8' });
    for (const p of (r.stdout ?? '').split(/\s+/)) if (/^\d+$/.test(p)) pids.push(Number(p));
  }
  return pids;
}

/** The names this instance's netns, links and registry carry (for tests asserting nothing is left). */
export function clusterNamePrefix(instance = defaultInstance()): string {
  return namesFor(instance).prefix;
}
