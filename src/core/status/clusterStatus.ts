// The cluster status the webview shows: one row per node and the warnings above the table, most
// serious first. Pure: a function of the cluster, the journal and the clock, like the runbook.
import type { Cluster } from '../cluster/types';
import type { JournalEvent } from '../journal/events';
import { isSettled, storageStepApplies, warnings as gateWarnings } from '../runbook/gates';
import { runningDetail, type Following } from '../runbook/following';
import { targetKey, type Outcome, type RunState } from '../runbook/state';
import { mergeFacts, showsRunning, type NodeFacts, type UnitFact } from './facts';

export type ServerState = 'stopped' | 'running' | 'stale-pid' | 'unknown';

export interface NodeRow {
  readonly node: string;
  readonly host: string;
  readonly reachable: 'yes' | 'no' | 'unknown';
  readonly reachableDetail?: string;
  readonly version?: string;
  readonly server: ServerState;
  /** The evidence behind `server`, e.g. `pid 4242; listening on :8443`. */
  readonly serverDetail: string;
  readonly loadBalancer: 'in-rotation' | 'out-of-rotation' | 'unknown';
  readonly installer: string;
  /** Set while its installer runs detached on the node: `installer` then says how it is followed. */
  readonly installerFollow?: Following['kind'];
  /** When this node was last checked (ISO time), if ever. */
  readonly lastCheck?: string;
  /** The systemd units that manage the install, when a probe looked. */
  readonly units?: readonly UnitFact[];
}

export type Severity = 'critical' | 'error' | 'warning' | 'info';

export type WarningCode =
  | 'host-key-changed' | 'still-running' | 'stale-pid' | 'unreachable' | 'storage-must-move'
  | 'versions-differ' | 'unexpected-version' | 'backup-missing' | 'backup-before-shutdown' | 'fips'
  | 'installer-guard-alarm' | 'connection-lost';

export interface StatusWarning {
  readonly severity: Severity;
  readonly code: WarningCode;
  readonly message: string;
  readonly node?: string;
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly from: string;
  readonly to: string;
  readonly rows: readonly NodeRow[];
  readonly warnings: readonly StatusWarning[];
}

const RANK: Record<Severity, number> = { critical: 0, error: 1, warning: 2, info: 3 };

/** Latest facts per node, merged over every finished record that carried some. */
export function factsByNode(events: readonly JournalEvent[]): Map<string, { facts: NodeFacts; at: string }> {
  const out = new Map<string, { facts: NodeFacts; at: string }>();
  for (const e of events) {
    if (e.type !== 'finished' || !e.node || !e.facts) continue;
    const prev = out.get(e.node);
    out.set(e.node, { facts: mergeFacts(prev?.facts, e.facts), at: e.ts });
  }
  return out;
}

function serverOf(f: NodeFacts): { state: ServerState; detail: string } {
  const parts: string[] = [];
  if (f.pidFile?.state === 'live') parts.push(`var/server.pid: pid ${f.pidFile.pid}`);
  if (f.pidFile?.state === 'stale') parts.push(`stale var/server.pid (pid ${f.pidFile.pid}, no process)`);
  if (typeof f.serverPid === 'number') parts.push(`server process ${f.serverPid}`);
  if (f.listening?.length) parts.push(`listening on ${f.listening.map((p) => `:${p}`).join(', ')}`);
  if (showsRunning(f)) return { state: 'running', detail: parts.join('; ') };
  if (f.pidFile?.state === 'stale') return { state: 'stale-pid', detail: parts.join('; ') };
  if (f.pidFile === undefined && f.serverPid === undefined && f.listening === undefined) return { state: 'unknown', detail: 'not checked yet' };
  return { state: 'stopped', detail: 'no pid file, no process, ports free' };
}

function installerOf(o: Outcome | undefined, f: NodeFacts, following: ReadonlyMap<string, Following>): string {
  if (o?.status === 'running') return following.has(o.id) ? runningDetail(o.kind, following.get(o.id)) : 'running';
  if (f.installer === 'running') return 'running';
  if (!o) return f.installer ?? 'not started';
  switch (o.status) {
    case 'passed': case 'warning': return 'upgraded';
    case 'failed': return f.installer === 'refused' ? 'refused' : 'failed';
    case 'skipped': return 'skipped';
    case 'confirmed': return 'confirmed by hand';
    case 'interrupted': return 'interrupted';
    default: return 'not started';
  }
}

/** Whether the shutdown has begun: from then on a running server is a danger, not a fact. */
function shutdownBegun(state: RunState, cluster: Cluster): boolean {
  return cluster.nodes.some((n) => state.has(targetKey('stop', n.name)) || state.has(targetKey('verifyStopped', n.name)));
}

/** `following`: how each action running detached on its node is followed (RunSession.following()). */
export function clusterStatus(cluster: Cluster, events: readonly JournalEvent[], state: RunState, following: ReadonlyMap<string, Following> = new Map()): ClusterStatus {
  const facts = factsByNode(events);
  const warnings: StatusWarning[] = [];
  const rows: NodeRow[] = cluster.nodes.map((n) => {
    const entry = facts.get(n.name);
    const f = entry?.facts ?? {};
    const server = serverOf(f);
    const installStep = n.name === cluster.firstNode ? 'installFirst' : 'installOthers';
    const upgraded = isSettled(state.get(targetKey(installStep, n.name)));

    const install = state.get(targetKey(installStep, n.name));
    const link = install?.status === 'running' ? following.get(install.id) : undefined;
    if (link?.kind === 'connection-lost') {
      warnings.push({ severity: 'warning', code: 'connection-lost', node: n.name, message: `${runningDetail('run', link)}.` });
    } else if (install?.status === 'running' && install.connection && !link) {
      warnings.push({ severity: 'warning', code: 'connection-lost', node: n.name, message: install.connection });
    }
    if (f.hostKeyChanged) {
      warnings.push({ severity: 'critical', code: 'host-key-changed', node: n.name, message: `${n.name}: its SSH host key CHANGED. Nothing will connect to it until you verify the new key with its administrator.` });
    }
    if (f.reachable === false && !f.hostKeyChanged) {
      warnings.push({ severity: 'error', code: 'unreachable', node: n.name, message: `${n.name} is unreachable: ${f.unreachableReason ?? 'the last attempt failed'}` });
    }
    if (server.state === 'running' && shutdownBegun(state, cluster) && !upgraded) {
      warnings.push({ severity: 'critical', code: 'still-running', node: n.name, message: `${n.name} is still running (${server.detail}). The installer must not run while any server touches the database: run step 5.` });
    }
    if (f.version && f.version !== cluster.currentVersion && f.version !== cluster.targetVersion) {
      warnings.push({ severity: 'error', code: 'unexpected-version', node: n.name, message: `${n.name} runs ${f.version}, but the cluster file says the upgrade goes from ${cluster.currentVersion} to ${cluster.targetVersion}. Fix the cluster file or the node before the installer runs.` });
    }
    // While its installer runs: what the guard saw (installerGuard.ts); a lost link is said above.
    if (install?.status === 'running' && install.alarm) {
      warnings.push({ severity: 'critical', code: 'installer-guard-alarm', node: n.name, message: install.alarm });
    }
    if (f.pidFile?.state === 'stale') {
      warnings.push({ severity: 'error', code: 'stale-pid', node: n.name, message: `${n.name} has a stale var/server.pid (pid ${f.pidFile.pid}, no process). The installer refuses while it exists: Run step 5 removes it.` });
    }
    return {
      node: n.name,
      host: n.sshPort === 22 ? n.host : `${n.host}:${n.sshPort}`,
      reachable: f.reachable === undefined ? 'unknown' : f.reachable ? 'yes' : 'no',
      ...(f.unreachableReason && f.reachable === false ? { reachableDetail: f.unreachableReason } : {}),
      ...(f.version ? { version: f.version } : {}),
      server: server.state,
      serverDetail: server.detail,
      loadBalancer: f.loadBalancer ?? 'unknown',
      installer: installerOf(install, f, following),
      ...(link ? { installerFollow: link.kind } : {}),
      ...(entry ? { lastCheck: entry.at } : {}),
      ...(f.units && f.units.length > 0 ? { units: f.units } : {}),
    };
  });

  const versions = new Map<string, string[]>();
  for (const r of rows) if (r.version) versions.set(r.version, [...(versions.get(r.version) ?? []), r.node]);
  if (versions.size > 1) {
    const list = [...versions].map(([v, ns]) => `${ns.join(', ')} on ${v}`).join('; ');
    warnings.push({ severity: 'warning', code: 'versions-differ', message: `Versions differ: ${list}. All nodes of an HA cluster must end on ${cluster.targetVersion}.` });
  }
  if (storageStepApplies(cluster) && !isSettled(state.get(targetKey('storage')))) {
    warnings.push({ severity: 'error', code: 'storage-must-move', message: `The upgrade starts at ${cluster.currentVersion}, before 6.1.1.5: network storage must be moved into ${cluster.sharedAppdata} before the installer runs (step 6).` });
  }
  // About the backup the upgrade can fall back on: it matters until the first node is upgraded.
  if (!isSettled(state.get(targetKey('installFirst', cluster.firstNode)))) {
    for (const w of gateWarnings('installFirst', state)) {
      warnings.push({ severity: w.kind === 'backup-missing' ? 'warning' : 'info', code: w.kind, message: w.reason });
    }
  }
  if (cluster.fips) {
    warnings.push({ severity: 'info', code: 'fips', message: 'FIPS mode (-fips): only FIPS 140-2 certified providers; cloud provisioning will not be available.' });
  }
  warnings.sort((a, b) => RANK[a.severity] - RANK[b.severity]);
  return { cluster: cluster.name, from: cluster.currentVersion, to: cluster.targetVersion, rows, warnings };
}
