// The cluster status the webview shows: the run's progress, one row per node and the warnings
// above the table, most serious first; every fact with when it was seen and by what. Pure: a
// function of the cluster, the journal, the view's own looks (look.ts) and the clock.
import type { Cluster } from '../cluster/types';
import type { JournalEvent } from '../journal/events';
import { outageWindow, stepTimings, type Outage } from '../journal/report';
import { DEFAULT_GATE_OPTIONS, isSettled, storageStepApplies, warnings as gateWarnings } from '../runbook/gates';
import { runningDetail, type Following } from '../runbook/following';
import { runPhase } from '../runbook/phase';
import { PREFLIGHT_KEY, targetKey, type Outcome, type RunState } from '../runbook/state';
import { STEPS } from '../runbook/steps';
import { deriveRunbook, type DisplayState, type StepView } from '../runbook/view';
import { mergeFacts, showsRunning, type NodeFacts, type UnitFact } from './facts';
import type { Look } from './look';

/** When a fact was seen, and by what: "step 5 check", "step 3 run", "status probe". */
export interface Seen {
  readonly at: string;
  readonly by: string;
}

/** The status view's own probe of a node, as the row shows it (its facts are merged into the row). */
export type RowLook =
  | { readonly kind: 'probing'; readonly since: string }
  | { readonly kind: 'probed'; readonly at: string }
  | { readonly kind: 'failed'; readonly at: string; readonly message: string; readonly hint: string }
  | { readonly kind: 'left'; readonly at: string; readonly why: string };

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
  /** When the version and the server state shown were seen, and by what. */
  readonly versionSeen?: Seen;
  readonly serverSeen?: Seen;
  /** What step 3 staged on the node, e.g. `~/.ucd-upgrade-stage/… (1234 entries, tree sha256 1a2b3c4d…)`. */
  readonly staged?: { readonly text: string; readonly seen: Seen };
  /** The view's own probe of this node since it opened, if any. */
  readonly look?: RowLook;
}

/** A run-wide fact with its age: the backup, the processes check, the storage, maintenance mode, the pre-flight. */
export interface RunFact {
  readonly id: 'preflight' | 'backup' | 'backup-archive' | 'processes' | 'storage' | 'maintenance';
  readonly label: string;
  readonly text: string;
  readonly at?: string;
}

/** Where the run is: the step it is at, how long since its first action, the outage so far. */
export interface RunProgress {
  readonly steps: number;
  /** Steps settled (passed, skipped, confirmed, not needed; history counts as settled). */
  readonly done: number;
  /** The first step not settled yet; none once every step is. */
  readonly at?: { readonly number: number; readonly title: string; readonly state: DisplayState };
  /** The first action's start, if any; `until`: the last result, once the run is complete. */
  readonly since?: string;
  readonly until?: string;
  readonly complete: boolean;
  /** As the report computes it (journal/report.ts outageWindow). */
  readonly outage: Outage;
}

export type Severity = 'critical' | 'error' | 'warning' | 'info';

export type WarningCode =
  | 'host-key-changed' | 'still-running' | 'stale-pid' | 'unreachable' | 'storage-must-move'
  | 'versions-differ' | 'unexpected-version' | 'backup-missing' | 'backup-before-shutdown' | 'fips'
  | 'installer-guard-alarm' | 'connection-lost' | 'probe-failed';

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
  readonly progress: RunProgress;
  readonly runFacts: readonly RunFact[];
  /** When this status was computed (ISO): ages are counted from the clock, this says how old the page is. */
  readonly at: string;
}

export interface StatusExtras {
  /** The runbook as the tree shows it (RunSession.view()); derived with the default gates when absent. */
  readonly views?: readonly StepView[];
  /** The status view's own looks at the nodes (their last answers); their facts win over older records. */
  readonly looks?: ReadonlyMap<string, Look>;
  /** Nodes a look is probing now, and since when. */
  readonly probing?: ReadonlyMap<string, string>;
  readonly now?: number;
}

const RANK: Record<Severity, number> = { critical: 0, error: 1, warning: 2, info: 3 };

interface TimedFacts {
  readonly facts: NodeFacts;
  /** When each field was last set, and by what. */
  readonly seen: Readonly<Partial<Record<keyof NodeFacts, Seen>>>;
  /** The newest record or look that carried facts. */
  readonly at: string;
}

function mergeTimed(prev: TimedFacts | undefined, facts: NodeFacts, seen: Seen): TimedFacts {
  const stamps: Partial<Record<keyof NodeFacts, Seen>> = { ...(prev?.seen ?? {}) };
  for (const [k, v] of Object.entries(facts)) if (v !== undefined) stamps[k as keyof NodeFacts] = seen;
  return { facts: mergeFacts(prev?.facts, facts), seen: stamps, at: prev && prev.at > seen.at ? prev.at : seen.at };
}

/**
 * Per node: the journal's facts (every finished record that carried some), then the view's own
 * looks where they are newer, field by field, each with when and by what it was seen.
 */
export function timedFactsByNode(events: readonly JournalEvent[], looks: ReadonlyMap<string, Look> = new Map()): Map<string, TimedFacts> {
  const out = new Map<string, TimedFacts>();
  for (const e of events) {
    if (e.type !== 'finished' || !e.node || !e.facts) continue;
    out.set(e.node, mergeTimed(out.get(e.node), e.facts, { at: e.ts, by: `step ${STEPS.findIndex((d) => d.id === e.step) + 1} ${e.kind}` }));
  }
  for (const [node, look] of looks) {
    if (look.kind !== 'probed' && look.kind !== 'failed') continue;
    const prev = out.get(node);
    // A record made after the look (a Check since) is newer: only fields it did not carry come from the look.
    const newer = Object.fromEntries(Object.entries(look.facts).filter(([k]) => !(prev?.seen[k as keyof NodeFacts] && prev.seen[k as keyof NodeFacts]!.at > look.at)));
    out.set(node, mergeTimed(prev, newer as NodeFacts, { at: look.at, by: 'status probe' }));
  }
  return out;
}

/** The oldest of the stamps given: a state read from several fields is as old as its oldest part. */
function oldest(...seen: (Seen | undefined)[]): Seen | undefined {
  return seen.filter((x): x is Seen => !!x).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))[0];
}

/** The look as the row shows it; none once a record of the run about the node is newer. */
function rowLook(l: Look | undefined, since: string | undefined, recordAt: string | undefined): RowLook | undefined {
  if (since) return { kind: 'probing', since };
  if (!l) return undefined;
  if (recordAt && recordAt > l.at) return undefined;
  if (l.kind === 'probed') return { kind: 'probed', at: l.at };
  if (l.kind === 'failed') return { kind: 'failed', at: l.at, message: l.message, hint: l.hint };
  return l;
}

const SETTLED: ReadonlySet<DisplayState> = new Set(['passed', 'warning', 'skipped', 'confirmed', 'notNeeded']);

function progressOf(cluster: Cluster, events: readonly JournalEvent[], views: readonly StepView[]): RunProgress {
  const settled = (v: StepView) => v.history || SETTLED.has(v.state);
  const open = views.find((v) => !settled(v));
  const timings = stepTimings(events);
  const since = timings.map((t) => t.start).sort()[0];
  const complete = runPhase(events, cluster).kind === 'complete' && !open;
  const until = complete && timings.every((t) => t.end) ? timings.map((t) => t.end!).sort().at(-1) : undefined;
  return {
    steps: views.length,
    done: views.filter(settled).length,
    ...(open ? { at: { number: open.number, title: open.def.title, state: open.state } } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    complete,
    outage: outageWindow(events, cluster.nodes.map((n) => n.name)),
  };
}

function outcomeText(o: Outcome | undefined): string {
  if (!o) return 'not done yet';
  switch (o.status) {
    case 'running': return 'running';
    case 'skipped': return `skipped: ${o.reason}`;
    case 'confirmed': return `confirmed by hand: ${o.note}`;
    case 'interrupted': return `interrupted${o.reason ? `: ${o.reason}` : ''}; check it again`;
    default: return `${o.status === 'warning' ? 'passed with a warning' : o.status}${o.evidence.length ? `: ${o.evidence.join('; ')}` : ''}`;
  }
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** What the journal knows about the run as a whole, each with its age. */
function runFactsOf(cluster: Cluster, events: readonly JournalEvent[], state: RunState, views: readonly StepView[]): RunFact[] {
  const out: RunFact[] = [];
  const view = (id: StepView['def']['id']) => views.find((v) => v.def.id === id);
  const pre = state.get(PREFLIGHT_KEY);
  if (pre) out.push({ id: 'preflight', label: 'Pre-flight', text: outcomeText(pre), at: pre.at });
  const backup = state.get(targetKey('backup'));
  out.push({ id: 'backup', label: 'Step 1, backup', text: outcomeText(backup), ...(backup ? { at: backup.at } : {}) });
  for (const e of events) {
    if (e.type !== 'backup-archive') continue;
    out.push({ id: 'backup-archive', label: `Archive (${e.what})`, text: `${e.path} on ${e.where}, ${sizeText(e.size)}, sha256 ${e.sha256.slice(0, 12)}…`, at: e.ts });
  }
  const processes = state.get(targetKey('processes'));
  out.push({ id: 'processes', label: 'Step 2, processes', text: outcomeText(processes), ...(processes ? { at: processes.at } : {}) });
  const storage = view('storage');
  const stored = state.get(targetKey('storage'));
  out.push({ id: 'storage', label: 'Step 6, network storage', text: storageStepApplies(cluster) ? outcomeText(stored) : `not needed: the upgrade starts at ${cluster.currentVersion}, 6.1.1.5 or later`, ...(stored ? { at: stored.at } : storage?.outcome ? { at: storage.outcome.at } : {}) });
  const maint = events.filter((e): e is Extract<JournalEvent, { type: 'maintenance' }> => e.type === 'maintenance').at(-1);
  if (maint) out.push({ id: 'maintenance', label: 'Maintenance mode', text: `${maint.state}: ${maint.detail}`, at: maint.ts });
  return out;
}

function stagedText(f: NodeFacts): string | undefined {
  const s = f.staged;
  if (!s) return undefined;
  return `${s.installerDir} (${s.entries} entries, tree sha256 ${s.treeSha256.slice(0, 12)}…${s.owned ? ', the SSH user\'s own folder' : ''})`;
}

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
export function clusterStatus(cluster: Cluster, events: readonly JournalEvent[], state: RunState, following: ReadonlyMap<string, Following> = new Map(), extras: StatusExtras = {}): ClusterStatus {
  const now = extras.now ?? Date.now();
  const views = extras.views ?? deriveRunbook(cluster, state, now, DEFAULT_GATE_OPTIONS, runPhase(events, cluster), following);
  const facts = timedFactsByNode(events, extras.looks);
  const warnings: StatusWarning[] = [];
  const rows: NodeRow[] = cluster.nodes.map((n) => {
    const entry = facts.get(n.name);
    const f = entry?.facts ?? {};
    const seen = entry?.seen ?? {};
    const server = serverOf(f);
    const serverSeen = server.state === 'unknown' ? undefined : oldest(seen.pidFile, seen.listening, seen.serverPid);
    const staged = stagedText(f);
    const recordAt = events.filter((e) => e.type === 'finished' && e.node === n.name && e.facts).at(-1)?.ts;
    const look = rowLook(extras.looks?.get(n.name), extras.probing?.get(n.name), recordAt);
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
    // Unreachable is said above; anything else the view's own probe met is said here, with what to do.
    const lastLook = rowLook(extras.looks?.get(n.name), undefined, recordAt);
    if (lastLook?.kind === 'failed' && f.reachable !== false) {
      warnings.push({ severity: 'warning', code: 'probe-failed', node: n.name, message: `${n.name}: the status probe got no answer it could read: ${lastLook.message}. ${lastLook.hint}` });
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
      ...(f.version && seen.version ? { versionSeen: seen.version } : {}),
      ...(serverSeen ? { serverSeen } : {}),
      ...(staged && seen.staged ? { staged: { text: staged, seen: seen.staged } } : {}),
      ...(look ? { look } : {}),
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
  return {
    cluster: cluster.name, from: cluster.currentVersion, to: cluster.targetVersion, rows, warnings,
    progress: progressOf(cluster, events, views),
    runFacts: runFactsOf(cluster, events, state, views),
    at: new Date(now).toISOString(),
  };
}
