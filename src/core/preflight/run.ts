// The pre-flight: every node's probe, UCD's server list and the load balancer's login page, all at
// once (one round trip per node), judged against the cluster file. Read-only throughout; never
// throws for a node or a server: what failed is a check's evidence.
import type { Cluster, ClusterNode } from '../cluster/types';
import { failureOf, WINDOWS_UNSUPPORTED } from '../probes/node';
import type { Transport } from '../remote/transport';
import { UcdRestError } from '../ucd/rest/errors';
import type { ListedServer } from '../ucd/rest/servers';
import type { LoginPage } from '../ucd/loginPage';
import type { Verdict } from '../journal/events';
import { composeScript, splitSections } from '../probes/sections';
import { databaseFragment, parseDatabaseSection, planDbClient, type DbClientPlan } from './database';
import {
  checkArchiveSpace, checkBackupSpace, checkDatabase, type DatabaseOutcome,
  checkAppdataDir, checkAppdataVersion, checkHa, checkOwner, checkJava, checkJavaSame, checkLoadBalancer, checkNodeVersion, checkReachable, checkServers, checkSpace, forgottenItems,
  type Check, type ForgottenItem, type LoadBalancerOutcome, type NodeOutcome, type ServersOutcome,
} from './checks';
import { buildPreflightProbe, parsePreflightProbe } from './probe';

export interface PreflightDeps {
  readonly transportFor: (node: ClusterNode) => Promise<Transport>;
  /** UCD's server list (the REST client's servers()). */
  readonly servers: (signal?: AbortSignal) => Promise<readonly ListedServer[]>;
  /** The load balancer's login page (ucd/loginPage.ts fetchLoginPage with the user's TLS trust). */
  readonly loginPage: (url: string, signal?: AbortSignal) => Promise<LoginPage>;
  /** This machine, for a backup that runs locally (without it that database check is a warning). */
  readonly local?: () => Transport;
  /** Size of the local package file, when there is one to upload. */
  readonly packageBytes?: number;
  readonly now?: () => Date;
  readonly timeoutMs?: number;
  /** Each node's script and output, for the output channel. */
  readonly onExec?: (node: string, script: string, stdout: string, stderr: string, code: number | null) => void;
}

export interface NodeChecks {
  readonly node: string;
  readonly checks: readonly Check[];
}

export interface PreflightResult {
  readonly at: string;
  readonly cluster: string;
  readonly from: string;
  readonly to: string;
  readonly verdict: Verdict;
  readonly nodes: readonly NodeChecks[];
  readonly clusterChecks: readonly Check[];
  readonly forgotten: readonly ForgottenItem[];
}

type Plan = Extract<DbClientPlan, { kind: 'plan' }>;

async function probe(cluster: Cluster, node: ClusterNode, deps: PreflightDeps, signal?: AbortSignal, plan?: Plan): Promise<NodeOutcome> {
  if (node.os === 'windows') return { node: node.name, kind: 'unreached', message: `${node.name}: ${WINDOWS_UNSUPPORTED}`, hint: 'Check this node by hand.' };
  const built = buildPreflightProbe(node, cluster.sharedAppdata, undefined, plan ? [databaseFragment(plan, cluster.database.backup.artifact)] : []);
  try {
    const t = await deps.transportFor(node);
    const r = await t.exec(built.command, { stdin: built.script, timeoutMs: deps.timeoutMs ?? 60_000, ...(signal ? { signal } : {}) });
    deps.onExec?.(node.name, built.script, r.stdout, r.stderr, r.code);
    const parsed = parsePreflightProbe(built, r.stdout);
    if (!parsed.ok) return { node: node.name, kind: 'unreached', message: `${node.name}: ${parsed.reason} (exit ${r.code ?? r.signal ?? '?'})${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`, hint: 'See the UCD Upgrade log for the output, then run the pre-flight again.' };
    return { node: node.name, kind: 'read', read: parsed.read };
  } catch (e) {
    const f = failureOf(node.name, e);
    return { node: node.name, kind: 'unreached', message: f.message, hint: f.hint };
  }
}

async function servers(deps: PreflightDeps, signal?: AbortSignal): Promise<ServersOutcome> {
  try {
    return { kind: 'listed', servers: await deps.servers(signal) };
  } catch (e) {
    if (e instanceof UcdRestError) return { kind: 'error', message: e.message, hint: e.hint };
    return { kind: 'error', message: `asking UCD for its servers failed: ${(e as Error).message}`, hint: 'Check ucd.url and the credential, then run the pre-flight again.' };
  }
}

async function loadBalancer(cluster: Cluster, deps: PreflightDeps, signal?: AbortSignal): Promise<LoadBalancerOutcome> {
  const page = await deps.loginPage(cluster.loadBalancerUrl, signal).catch((e: Error): LoginPage => ({ ok: false, error: e.message, hint: 'Check the load balancer.', kind: 'other' }));
  return page.ok ? { kind: 'answered', status: page.status, ...(page.version ? { version: page.version } : {}) } : { kind: 'error', message: page.error, hint: page.hint };
}

const where = (cluster: Cluster): string => (cluster.database.backup.runOn.kind === 'node' ? cluster.database.backup.runOn.node : 'this machine');

function notChecked(cluster: Cluster, plan: DbClientPlan): DatabaseOutcome | undefined {
  if (plan.kind === 'plan') return undefined;
  if (plan.kind === 'password-on-command-line') {
    return { kind: 'not-checked', where: where(cluster), why: 'the backup command has a password on its command line (visible to every user of that machine); it is copied nowhere', hint: 'Put the password in an option file (--defaults-extra-file, mode 0600) and name that in database.backup.command.' };
  }
  return { kind: 'not-checked', where: where(cluster), why: plan.why, hint: 'Check by hand that the backup command can reach the database from where it runs.' };
}

/** The database read where the backup runs: from that node's probe, or from this machine. */
async function database(cluster: Cluster, plan: DbClientPlan, outcomes: readonly NodeOutcome[], deps: PreflightDeps, signal?: AbortSignal): Promise<DatabaseOutcome> {
  const skipped = notChecked(cluster, plan);
  if (skipped || plan.kind !== 'plan') return skipped!;
  const runOn = cluster.database.backup.runOn;
  if (runOn.kind === 'node') {
    const n = outcomes.find((o) => o.node === runOn.node);
    if (n?.kind === 'read' && n.read.database) return { kind: 'read', where: runOn.node, read: n.read.database };
    return { kind: 'not-checked', where: runOn.node, why: `${runOn.node} was not reached`, hint: 'See its reachable check, then run the pre-flight again.' };
  }
  if (!deps.local) return { kind: 'not-checked', where: 'this machine', why: 'local commands are not available to this pre-flight', hint: 'Check by hand that the backup command can reach the database from this machine.' };
  const built = composeScript([databaseFragment(plan, cluster.database.backup.artifact)]);
  try {
    const r = await deps.local().exec('/bin/sh -s', { stdin: built.script, timeoutMs: deps.timeoutMs ?? 60_000, ...(signal ? { signal } : {}) });
    deps.onExec?.('local', built.script, r.stdout, r.stderr, r.code);
    const split = splitSections(r.stdout, built.nonce, built.names);
    const body = split.ok ? split.sections.get('database')?.body : undefined;
    if (body === undefined) return { kind: 'not-checked', where: 'this machine', why: split.ok ? 'no answer' : split.reason, hint: 'See the UCD Upgrade log for the output.' };
    return { kind: 'read', where: 'this machine', read: parseDatabaseSection(body) };
  } catch (e) {
    return { kind: 'not-checked', where: 'this machine', why: (e as Error).message, hint: 'See the UCD Upgrade log.' };
  }
}

export function verdictOf(checks: readonly Check[]): Verdict {
  if (checks.some((c) => c.status === 'fail')) return 'failed';
  return checks.some((c) => c.status === 'warn') ? 'warning' : 'passed';
}

/** Pure: the judgement of what was read. */
export function judge(cluster: Cluster, outcomes: readonly NodeOutcome[], listed: ServersOutcome, lb: LoadBalancerOutcome, packageBytes: number | undefined, at: string, db: DatabaseOutcome): PreflightResult {
  const nodes: NodeChecks[] = outcomes.map((n) => ({
    node: n.node,
    checks: n.kind === 'read'
      ? [checkReachable(n), checkOwner(n.node, n.read), checkNodeVersion(cluster, n.node, n.read), checkHa(n.node, n.read), checkAppdataDir(cluster, n.node, n.read), checkJava(cluster, n.node, n.read), checkSpace(n.node, n.read, packageBytes), checkArchiveSpace(n.node, n.read, packageBytes)]
      : [checkReachable(n)],
  }));
  // The most dangerous finding first.
  const clusterChecks = [checkServers(cluster, listed), checkAppdataVersion(cluster, outcomes), checkJavaSame(outcomes), checkLoadBalancer(cluster, lb), checkDatabase(db), checkBackupSpace(cluster, db)];
  const all = [...clusterChecks, ...nodes.flatMap((n) => n.checks)];
  return { at, cluster: cluster.name, from: cluster.currentVersion, to: cluster.targetVersion, verdict: verdictOf(all), nodes, clusterChecks, forgotten: forgottenItems(outcomes, cluster) };
}

export async function runPreflight(cluster: Cluster, deps: PreflightDeps, signal?: AbortSignal): Promise<PreflightResult> {
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const plan = planDbClient(cluster);
  const runOn = cluster.database.backup.runOn;
  // The database check rides in the backup node's own probe: still one round trip per node.
  const dbOn = (n: ClusterNode) => (plan.kind === 'plan' && runOn.kind === 'node' && runOn.node === n.name ? plan : undefined);
  const [outcomes, [lb, listed]] = await Promise.all([
    Promise.all(cluster.nodes.map((n) => probe(cluster, n, deps, signal, dbOn(n)))),
    // One after the other: ucd.url is often the balancer itself, and an unknown certificate is
    // then asked once, not twice at the same moment (the second connection finds it trusted).
    (async () => [await loadBalancer(cluster, deps, signal), await servers(deps, signal)] as const)(),
  ]);
  const db = await database(cluster, plan, outcomes, deps, signal);
  return judge(cluster, outcomes, listed, lb, deps.packageBytes, at, db);
}

/** The lines the journal keeps: every fail and warn, named. */
export function findingsOf(result: PreflightResult): string[] {
  const lines: string[] = [];
  for (const c of result.clusterChecks) if (c.status !== 'pass') lines.push(`${c.status}: ${c.title}: ${c.evidence.join('; ')}`);
  for (const n of result.nodes) for (const c of n.checks) if (c.status !== 'pass') lines.push(`${c.status}: ${n.node}: ${c.title}: ${c.evidence.join('; ')}`);
  return lines.length ? lines : ['every check passed'];
}
