// The pre-flight's judgements: pure functions of what was read (nodes, UCD's server list, the load
// balancer's page) against the cluster file. Each says pass, fail or warn with the evidence.
import type { Cluster, ClusterNode } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import type { VersionFile } from '../probes/version';
import type { ListedServer } from '../ucd/rest/servers';
import type { DbRead } from './database';
import { APPDATA_KEY, HA_KEY, JAVA_HOME_KEY, type NodeRead } from './probe';

export type CheckStatus = 'pass' | 'fail' | 'warn';

export type CheckId = 'reachable' | 'owner' | 'version' | 'appdataVersion' | 'ha' | 'appdataDir' | 'java' | 'javaSame' | 'space' | 'servers' | 'loadBalancer' | 'database' | 'backupSpace' | 'archiveSpace';

export interface Check {
  readonly id: CheckId;
  readonly title: string;
  readonly status: CheckStatus;
  readonly evidence: readonly string[];
  /** What to do next, for a fail or warn. */
  readonly hint?: string;
}

/** A node's result: reached (with what was read) or not, with why. */
export type NodeOutcome =
  | { readonly node: string; readonly kind: 'read'; readonly read: NodeRead }
  | { readonly node: string; readonly kind: 'unreached'; readonly message: string; readonly hint: string };

export type ServersOutcome = { readonly kind: 'listed'; readonly servers: readonly ListedServer[] } | { readonly kind: 'error'; readonly message: string; readonly hint: string };

/** The database as the backup reaches it: read where the backup runs, or why it was not. */
export type DatabaseOutcome =
  | { readonly kind: 'read'; readonly where: string; readonly read: DbRead }
  | { readonly kind: 'not-checked'; readonly where: string; readonly why: string; readonly hint: string };

export type LoadBalancerOutcome = { readonly kind: 'answered'; readonly status: number; readonly version?: string } | { readonly kind: 'error'; readonly message: string; readonly hint: string };

/** What the upgrade changes that people forget; listed so it can be kept, never a failure. */
export interface ForgottenItem {
  readonly kind: 'patch' | 'tomcat' | 'keystore';
  readonly node?: string;
  readonly path: string;
  readonly note: string;
}

const pass = (id: CheckId, title: string, evidence: string[]): Check => ({ id, title, status: 'pass', evidence });
const fail = (id: CheckId, title: string, evidence: string[], hint: string): Check => ({ id, title, status: 'fail', evidence, hint });
const warn = (id: CheckId, title: string, evidence: string[], hint: string): Check => ({ id, title, status: 'warn', evidence, hint });

/** The Java major the target release needs at least (ucd-facts.md, "Java"). */
export function minimumJava(targetVersion: string): number {
  if (compareVersions(targetVersion, '8.2') >= 0) return 17;
  if (compareVersions(targetVersion, '8.1') >= 0) return 11;
  return 8;
}

/** "1.8.0_392" → 8, "17.0.9" → 17, "21" → 21. */
export function javaMajor(version: string): number | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(version);
  if (!m) return undefined;
  const first = Number(m[1]);
  return first === 1 && m[2] !== undefined ? Number(m[2]) : first;
}

const dir = (d: string) => d.replace(/\/+$/, '') || '/';

function versionText(v: VersionFile | undefined): string {
  switch (v?.kind) {
    case 'found': return v.version;
    case 'missing': return 'no conf/installed.version';
    case 'unreadable': return 'conf/installed.version not readable';
    case 'unparsed': return 'conf/installed.version has no installed.version line';
    default: return 'not read';
  }
}

export function checkReachable(n: NodeOutcome): Check {
  return n.kind === 'read' ? pass('reachable', 'Reachable over SSH, host key known', [`${n.node}: probe ran`]) : fail('reachable', 'Reachable over SSH, host key known', [n.message], n.hint);
}

/** The installer runs as the SSH user: as anyone but the install's owner it leaves files the server cannot use (ucd-facts.md). */
export function checkOwner(node: string, read: NodeRead): Check {
  const title = 'SSH user owns the install';
  if (!read.sshUser || !read.installOwner) return warn('owner', title, [`${node}: user ${read.sshUser ?? '?'}, install owner ${read.installOwner ?? '?'}`], `Check by hand that the SSH user on ${node} is the user who installed the server.`);
  if (read.sshUser === read.installOwner) return pass('owner', title, [`${node}: ${read.sshUser}`]);
  return fail('owner', title, [`${node}: SSH user ${read.sshUser}, the install is owned by ${read.installOwner}`],
    `Log in to ${node} as ${read.installOwner} (set "user" for the node in the cluster file): an upgrade run as another user leaves files the server cannot use.`);
}

export function checkNodeVersion(cluster: Cluster, node: string, read: NodeRead): Check {
  const title = `installed.version is ${cluster.currentVersion}`;
  const v = read.installVersion;
  if (v.kind === 'found' && compareVersions(v.version, cluster.currentVersion) === 0) return pass('version', title, [`${node}: installed.version=${v.version}`]);
  return fail('version', title, [`${node}: ${versionText(v)}, the cluster file says currentVersion ${cluster.currentVersion}`], `Find out why ${node} is on another version (an earlier upgrade that stopped half-way?) and fix the node or currentVersion before the window.`);
}

export function checkHa(node: string, read: NodeRead): Check {
  const title = `HA on (${HA_KEY}=true)`;
  if (read.props.kind !== 'found') return fail('ha', title, [`${node}: conf/server/installed.properties is ${read.props.kind}`], `Check the install directory of ${node} in the cluster file.`);
  const v = read.props.values[HA_KEY];
  if (v !== undefined && v.trim().toLowerCase() === 'true') return pass('ha', title, [`${node}: ${HA_KEY}=${v}`]);
  return fail('ha', title, [`${node}: ${v === undefined ? `no ${HA_KEY} in conf/server/installed.properties` : `${HA_KEY}=${v}`}`], `${node} is not configured as an HA node; it would not share the cluster's work. Fix its installed.properties (and find out why) before the window.`);
}

export function checkAppdataDir(cluster: Cluster, node: string, read: NodeRead): Check {
  const title = `server.appdata.dir is ${cluster.sharedAppdata}`;
  if (read.props.kind !== 'found') return fail('appdataDir', title, [`${node}: conf/server/installed.properties is ${read.props.kind}`], `Check the install directory of ${node} in the cluster file.`);
  const v = read.props.values[APPDATA_KEY];
  if (v !== undefined && dir(v) === dir(cluster.sharedAppdata)) return pass('appdataDir', title, [`${node}: ${APPDATA_KEY}=${v}`]);
  return fail('appdataDir', title, [`${node}: ${v === undefined ? `no ${APPDATA_KEY} (the product then uses <install>/appdata)` : `${APPDATA_KEY}=${v}`}, the cluster file says sharedAppdata ${cluster.sharedAppdata}`], `Every node must use the same shared appdata folder: fix ${node}'s installed.properties or sharedAppdata in the cluster file.`);
}

export function checkJava(cluster: Cluster, node: string, read: NodeRead): Check {
  const min = minimumJava(cluster.targetVersion);
  const title = `Java ${min} or later (needed by ${cluster.targetVersion})`;
  const j = read.java;
  switch (j.kind) {
    case 'no-set-env': return fail('java', title, [`${node}: no bin/set_env`], `${node}'s install has no bin/set_env; the installer would ask for a JRE. Check the install directory.`);
    case 'no-java-home': return fail('java', title, [`${node}: bin/set_env sets no JAVA_HOME`], `Set JAVA_HOME in ${node}'s bin/set_env to the JRE the server runs on.`);
    case 'java-failed': return fail('java', title, [`${node}: ${j.javaHome}/bin/java -version failed: ${j.output.split('\n')[0]}`], `Install or repair the JRE at ${j.javaHome} on ${node}, or fix JAVA_HOME in bin/set_env.`);
    case 'ok': {
      const major = j.version !== undefined ? javaMajor(j.version) : undefined;
      const evidence = [`${node}: JAVA_HOME=${j.javaHome}: ${j.versionText}`];
      const propsHome = read.props.kind === 'found' ? read.props.values[JAVA_HOME_KEY] : undefined;
      if (major === undefined) return fail('java', title, evidence, `Could not read the Java version on ${node}; run ${j.javaHome}/bin/java -version there.`);
      if (major < min) return fail('java', title, [...evidence, `Java ${major} is below ${min}`], `Install Java ${min} or later on ${node} and point bin/set_env's JAVA_HOME (and install.java.home) at it before the window.`);
      if (propsHome !== undefined && dir(propsHome) !== dir(j.javaHome)) {
        return warn('java', title, [...evidence, `installed.properties ${JAVA_HOME_KEY}=${propsHome} differs from set_env's JAVA_HOME`], `Make ${JAVA_HOME_KEY} in ${node}'s installed.properties equal bin/set_env's JAVA_HOME.`);
      }
      return pass('java', title, evidence);
    }
  }
}

/** The same Java on every node: another major fails, another update only warns. */
export function checkJavaSame(nodes: readonly NodeOutcome[]): Check {
  const title = 'The same Java on every node';
  const seen = nodes.flatMap((n) => (n.kind === 'read' && n.read.java.kind === 'ok' && n.read.java.version ? [{ node: n.node, version: n.read.java.version }] : []));
  const evidence = seen.map((s) => `${s.node}: ${s.version}`);
  if (seen.length === 0) return fail('javaSame', title, ['no node\'s Java could be read'], 'See the nodes\' Java checks.');
  const majors = new Set(seen.map((s) => javaMajor(s.version)));
  if (majors.size > 1) return fail('javaSame', title, evidence, 'Run every node on the same Java release.');
  if (new Set(seen.map((s) => s.version)).size > 1) return warn('javaSame', title, evidence, 'Same Java release, different updates: consider aligning them.');
  return pass('javaSame', title, evidence);
}

export function checkAppdataVersion(cluster: Cluster, nodes: readonly NodeOutcome[]): Check {
  const title = `Shared appdata's installed.version is ${cluster.currentVersion}`;
  const first = nodes.find((n): n is Extract<NodeOutcome, { kind: 'read' }> => n.kind === 'read' && n.read.appdataVersion !== undefined);
  if (!first) return fail('appdataVersion', title, ['no node could read the shared appdata'], `Check sharedAppdata (${cluster.sharedAppdata}) in the cluster file and that every node mounts it.`);
  const v = first.read.appdataVersion;
  const at = `${cluster.sharedAppdata}/conf/installed.version (read on ${first.node})`;
  if (v?.kind === 'found' && compareVersions(v.version, cluster.currentVersion) === 0) return pass('appdataVersion', title, [`${at}: ${v.version}`]);
  return fail('appdataVersion', title, [`${at}: ${versionText(v)}`], 'The installer compares every node with this file; find out why it differs (a half-done upgrade?) before the window.');
}

/** Free space where step 3 stages the package: about three times the archive (archive plus extraction). */
export function checkSpace(node: string, read: NodeRead, packageBytes: number | undefined): Check {
  const title = 'Free space for the package';
  const mib = (k: number) => `${Math.round(k / 1024)} MiB`;
  const evidence = [`${node}: home ${read.homeFreeKb !== undefined ? mib(read.homeFreeKb) : '?'} free, install ${read.installFreeKb !== undefined ? mib(read.installFreeKb) : '?'} free`];
  if (read.homeFreeKb === undefined) return warn('space', title, evidence, `Could not read the free space in the SSH user's home on ${node}.`);
  if (packageBytes === undefined) return pass('space', [title, '(package already on the nodes)'].join(' '), evidence);
  const needKb = Math.ceil((packageBytes * 3) / 1024);
  if (read.homeFreeKb < needKb) return fail('space', title, [...evidence, `need about ${mib(needKb)} for the package and its extraction`], `Free space in the SSH user's home on ${node}.`);
  return pass('space', title, [...evidence, `need about ${mib(needKb)}`]);
}

function matches(s: ListedServer, n: ClusterNode): boolean {
  const names = [n.name, n.host, n.sshAlias].filter((x): x is string => !!x).map((x) => x.toLowerCase());
  const said = [s.name, s.host].filter((x): x is string => !!x).map((x) => x.toLowerCase());
  return said.some((x) => names.includes(x) || names.includes(x.split('.')[0] ?? x));
}

/** UCD's own list of its servers against the file: a server the file forgot would keep running on the database. */
export function checkServers(cluster: Cluster, outcome: ServersOutcome): Check {
  const title = 'The servers UCD lists are the file\'s nodes';
  if (outcome.kind === 'error') return fail('servers', title, [outcome.message], `${outcome.hint} Without UCD's list, a server the file forgot cannot be ruled out.`);
  const describe = (s: ListedServer) => [s.name, s.host && s.host !== s.name ? `(${s.host})` : ''].filter(Boolean).join(' ');
  const unknown = outcome.servers.filter((s) => !cluster.nodes.some((n) => matches(s, n)));
  const unlisted = cluster.nodes.filter((n) => !outcome.servers.some((s) => matches(s, n)));
  const evidence = [`UCD lists ${outcome.servers.length}: ${outcome.servers.map(describe).join(', ') || 'none'}`];
  if (unknown.length) {
    return fail('servers', title, [...evidence, ...unknown.map((s) => `UCD lists ${describe(s)}, which the cluster file does not: it would keep running on the database while the others are upgraded`)],
      'Add every server of the cluster to the cluster file (or remove a server that is gone for good from UCD\'s server list) before the window.');
  }
  if (unlisted.length) return warn('servers', title, [...evidence, ...unlisted.map((n) => `${n.name} (${n.host}) is not in UCD's list (not running, or not connected)`)], 'Start the node or find out why it is not connected to the cluster.');
  return pass('servers', title, evidence);
}

export function checkLoadBalancer(cluster: Cluster, lb: LoadBalancerOutcome): Check {
  const title = `Load balancer answers (${cluster.loadBalancerUrl})`;
  if (lb.kind === 'error') return fail('loadBalancer', title, [lb.message], lb.hint);
  if (lb.status < 200 || lb.status >= 400) return fail('loadBalancer', title, [`HTTP ${lb.status}`], 'Check the load balancer and the servers behind it.');
  if (!lb.version) return warn('loadBalancer', title, [`HTTP ${lb.status}, no UCD version on the page`], 'Check that loadBalancerUrl points at the UCD login page.');
  if (compareVersions(lb.version, cluster.currentVersion) !== 0) return fail('loadBalancer', title, [`answers v. ${lb.version}, the cluster file says ${cluster.currentVersion}`], 'Find out which server answers on another version.');
  return pass('loadBalancer', title, [`HTTP ${lb.status}, v. ${lb.version}`]);
}

export function forgottenItems(nodes: readonly NodeOutcome[], cluster: Cluster): ForgottenItem[] {
  const out: ForgottenItem[] = [];
  const patchNote = compareVersions(cluster.currentVersion, '7.0.3') >= 0 || compareVersions(cluster.targetVersion, '7.0.3') >= 0
    ? 'the upgrade renames it to .off; keep a copy and re-apply it if still needed'
    : 'check whether the target release still needs it';
  const read = nodes.filter((n): n is Extract<NodeOutcome, { kind: 'read' }> => n.kind === 'read');
  const patches = read.find((n) => n.read.patches !== undefined)?.read.patches ?? [];
  for (const p of patches) if (!p.endsWith('.off')) out.push({ kind: 'patch', path: `${dir(cluster.sharedAppdata)}/patches/${p}`, note: patchNote });
  for (const n of read) {
    for (const f of n.read.tomcatChanged) out.push({ kind: 'tomcat', node: n.node, path: f, note: 'changed after the install; the upgrade removes custom files under opt/tomcat' });
    for (const k of n.read.keystores) {
      if (k.startsWith(`${dir(cluster.sharedAppdata)}/`) && out.some((o) => o.kind === 'keystore' && o.path === k)) continue;
      out.push({ kind: 'keystore', ...(k.startsWith(`${dir(cluster.sharedAppdata)}/`) ? {} : { node: n.node }), path: k, note: 'the upgrade removes custom keystores; back it up' });
    }
  }
  return out;
}

const mib = (k: number) => `${Math.max(0, Math.round(k / 1024))} MiB`;

/** The backup's own client and option file, one read-only SELECT, where the backup runs. */
export function checkDatabase(db: DatabaseOutcome): Check {
  const title = `Database reachable from where the backup runs (${db.where})`;
  if (db.kind === 'not-checked') return warn('database', title, [`${db.where}: ${db.why}`], db.hint);
  if (db.read.kind === 'ok') return pass('database', title, [`${db.where}: SELECT 1 answered through the backup command's client and option file${db.read.schemaBytes !== undefined ? `; the schema holds ${mib(db.read.schemaBytes / 1024)}` : ''}`]);
  return fail('database', title, [`${db.where}: the backup command's client could not run SELECT 1 (exit ${db.read.exit}): ${db.read.output.split('\n').slice(0, 2).join(' | ')}`],
    `Fix the connection the backup uses on ${db.where} (its option file, host, user and grants in database.backup.command) before the window: step 1 would fail the same way.`);
}

/** Room for the dump where the command writes it: at least the schema's size on disk. */
export function checkBackupSpace(cluster: Cluster, db: DatabaseOutcome): Check {
  const title = 'Free space for the database backup';
  if (db.kind === 'not-checked') return warn('backupSpace', title, [`${db.where}: not checked (${db.why})`], `Check by hand that ${cluster.database.backup.artifact} has room on ${db.where}.`);
  const r = db.read;
  const at = `${db.where}: ${r.dumpDir} has ${r.dumpFreeKb !== undefined ? mib(r.dumpFreeKb) : '?'} free`;
  if (r.dumpFreeKb === undefined) return warn('backupSpace', title, [at], `Could not read the free space for ${cluster.database.backup.artifact} on ${db.where}; check it by hand.`);
  if (r.kind !== 'ok' || r.schemaBytes === undefined) return warn('backupSpace', title, [at, 'the schema size is not known (the database did not answer)'], 'See the database check first.');
  const needKb = Math.ceil(r.schemaBytes / 1024);
  if (r.dumpFreeKb < needKb) return fail('backupSpace', title, [at, `the schema holds about ${mib(needKb)}`], `Free space in ${r.dumpDir} on ${db.where}, or point database.backup at a folder with room, before the window.`);
  return pass('backupSpace', title, [at, `the schema holds about ${mib(needKb)}`]);
}

/** Room in the SSH user's home for this node's filesystem archive (the install tree, an upper bound) beside the staged package. */
export function checkArchiveSpace(node: string, read: NodeRead, packageBytes: number | undefined): Check {
  const title = 'Free space for the filesystem backup';
  if (read.installTreeKb === undefined || read.homeFreeKb === undefined) return warn('archiveSpace', title, [`${node}: install tree ${read.installTreeKb !== undefined ? mib(read.installTreeKb) : '?'}, home ${read.homeFreeKb !== undefined ? mib(read.homeFreeKb) : '?'} free`], `Could not read the sizes on ${node}; check by hand that the SSH user's home has room for an archive of the install.`);
  const packageKb = packageBytes === undefined ? 0 : Math.ceil((packageBytes * 3) / 1024);
  const needKb = read.installTreeKb + packageKb;
  const evidence = [`${node}: the install and the shared conf hold ${mib(read.installTreeKb)}${packageKb ? `, the package needs about ${mib(packageKb)}` : ''}; home has ${mib(read.homeFreeKb)} free`];
  if (read.homeFreeKb < needKb) return fail('archiveSpace', title, evidence, `Free about ${mib(needKb - read.homeFreeKb)} in the SSH user's home on ${node} before the window: the archive of what the upgrade replaces would not fit.`);
  return pass('archiveSpace', title, evidence);
}
