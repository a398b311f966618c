// Step 5 "Ensure each server is stopped": the verdict from a node's probes (pure), the Check that
// probes every node in parallel, and the Run that stops what is left — naming each process and
// asking first, and removing a stale pid file only when no process owns its pid.
import type { Rights } from '../remote/privilege';
import type { Cluster, ClusterNode } from '../cluster/types';
import type { Target, Verdict } from '../journal/events';
import type { Transport } from '../remote/transport';
import type { ActionContext, ActionLog } from '../runbook/actions';
import type { StepId } from '../runbook/steps';
import type { MachineFact, NodeFacts } from '../status/facts';
import { factsByNode } from '../status/clusterStatus';
import { factsFromProbe, machineFact } from '../status/fromProbe';
import { cleanupScript, parseCleanup, type CleanupPlanScript, type CleanupResult } from '../probes/cleanup';
import { commandText, isServerOf, SERVER_CLASS, type ProcessInfo } from '../probes/cmdline';
import { sameInstall } from '../probes/identity';
import type { UcdServerProcess } from '../probes/processes';
import { logExec } from '../probes/logRecord';
import { failureOf, probeNode, SH_STDIN_COMMAND, type NodeProbe } from '../probes/node';
import { NO_PORT_TOOL, type Owner } from '../probes/ports';
import { PID_FILE } from '../probes/pidFile';
import { unitFindings } from './systemd';
import { maskedByRun, offerMasks } from './systemdMask';

/** A node's transport with the rights the action needs (privilege.ts); default the SSH user's own. */
export type TransportFor = (node: ClusterNode, rights?: Rights) => Promise<Transport>;
export type Confirm = (question: string, detail: string) => Promise<boolean>;

type Probed = Extract<NodeProbe, { kind: 'probed' }>;

export interface StoppedEvaluation {
  readonly node: string;
  readonly verdict: Verdict;
  /** One fact per line, as a person reads it on the node's tree item. */
  readonly evidence: readonly string[];
  /** The next thing to do, when there is one. */
  readonly hint?: string;
  readonly facts: NodeFacts;
  /** Other entries that reached this same machine and install. */
  readonly duplicates?: readonly string[];
}

function short(p: ProcessInfo, max = 160): string {
  const t = commandText(p);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function portList(p: Probed): string {
  return p.httpsPort === p.jmsPort ? `:${p.httpsPort}` : `:${p.httpsPort} or :${p.jmsPort}`;
}

/** Whether a process the probe saw (pid file owner, port holder) is this install's UCD server. */
export function isOwnServer(p: Probed, proc: ProcessInfo): boolean {
  if (p.processes.kind === 'ok') {
    if (p.processes.servers.some((s) => s.pid === proc.pid)) return true;
    if (p.processes.otherInstalls.some((s) => s.pid === proc.pid)) return false;
  }
  // Not in the process list (it started between the two reads): its text is all there is.
  return isServerOf(proc, p.installDir);
}

function installText(o: UcdServerProcess): string {
  if (o.install === undefined) return 'install unknown: its launcher.jar path could not be read or resolved';
  return `install ${o.install}${o.installResolved ? '' : ' (as written; not resolved)'}`;
}

/** Another entry of the cluster file that reached the same machine and install. */
export interface DuplicateEntry {
  readonly node: string;
  readonly machine: MachineFact;
}

export interface EvaluateOptions {
  /** Other entries whose probe reached this same machine and install (see findDuplicates). */
  readonly duplicates?: readonly DuplicateEntry[];
}

/** Pure: a node's probe results → verdict, evidence and the next thing to do. */
export function evaluateStopped(probe: NodeProbe, opts: EvaluateOptions = {}): StoppedEvaluation {
  if (probe.kind === 'failed') {
    return { node: probe.node, verdict: 'failed', evidence: [probe.message], hint: probe.hint, facts: factsFromProbe(probe) };
  }
  if (probe.kind === 'unsupported') {
    return {
      node: probe.node,
      verdict: 'failed',
      evidence: [`${probe.node}: ${probe.reason}`],
      hint: `Check ${probe.node} by hand: no ${PID_FILE}, nothing on the HTTPS and JMS ports, no ${SERVER_CLASS} process.`,
      facts: {},
    };
  }
  const p = probe;
  const evidence: string[] = [];
  const hints: string[] = [];
  let stopped = true;
  const serverPids = new Set(p.processes.kind === 'ok' ? p.processes.servers.map((s) => s.pid) : []);

  // Ports first: something answering there is what the installer (and the load balancer) sees.
  if (p.ports.kind === 'no-tool') {
    stopped = false;
    evidence.push(NO_PORT_TOOL);
    hints.push(`Install iproute2 (ss) or net-tools (netstat) on ${p.node}, then Check again.`);
  } else if (p.ports.kind === 'error') {
    stopped = false;
    evidence.push(`cannot tell what listens on ${portList(p)}: ${p.ports.message}`);
    hints.push('See the UCD Upgrade log for the port probe\'s output, then Check again.');
  } else {
    // One line per process (a server often listens on both ports, and on IPv4 and IPv6), HTTPS first.
    const order = (port: number) => (port === p.httpsPort ? 0 : port === p.jmsPort ? 1 : 2);
    const listeners = [...p.ports.listeners].sort((a, b) => order(a.port) - order(b.port));
    const byPid = new Map<number, { ports: number[]; owner: Owner }>();
    const hiddenPorts: number[] = [];
    for (const l of listeners) {
      stopped = false;
      if (l.owners.length === 0 && !hiddenPorts.includes(l.port)) hiddenPorts.push(l.port);
      for (const o of l.owners) {
        const e = byPid.get(o.pid) ?? { ports: [], owner: o };
        if (!e.ports.includes(l.port)) e.ports.push(l.port);
        byPid.set(o.pid, e);
      }
    }
    for (const [pid, { ports, owner }] of byPid) {
      const on = ports.map((x) => `:${x}`).join(' and ');
      if (serverPids.has(pid) || (owner.process && isOwnServer(p, owner.process))) {
        evidence.push(`pid ${pid} listening on ${on}`);
        hints.push('Run step 5 to stop what is left.');
      } else {
        evidence.push(`pid ${pid} listening on ${on}, not this install's server: ${owner.process ? short(owner.process) : owner.name || 'command line unknown'}`);
        hints.push(`Stop the process that holds ${on}, or Run step 5 (it shows the command line and asks first).`);
      }
    }
    for (const port of hiddenPorts) {
      evidence.push(`something listening on :${port} (its process is not visible to the SSH user)`);
      hints.push(`Find out as root what holds :${port} on ${p.node} (ss -ltnp) and stop it.`);
    }
  }

  if (p.processes.kind === 'error') {
    stopped = false;
    evidence.push(`cannot list processes: ${p.processes.message}`);
  } else {
    for (const s of p.processes.servers) {
      stopped = false;
      evidence.push(`server process ${s.pid} running (${SERVER_CLASS})`);
      hints.push('Run step 5 to stop what is left.');
    }
  }

  // A unit that runs brings the server back however it is stopped; one enabled with Restart= is flagged.
  const units = unitFindings(p);
  if (units.blocking.length > 0) stopped = false;
  evidence.push(...units.blocking);
  hints.push(...units.hints);

  switch (p.pidFile.kind) {
    case 'absent': break;
    case 'stale':
      stopped = false;
      evidence.push(`stale ${PID_FILE} (pid ${p.pidFile.pid}), no process`);
      hints.push('Remove the stale pid file (Run offers it).');
      break;
    case 'live':
      stopped = false;
      if (!p.pidFile.process) {
        evidence.push(`${PID_FILE} names pid ${p.pidFile.pid}, which is running (its command line is hidden from the SSH user)`);
        hints.push(`Check pid ${p.pidFile.pid} on ${p.node} as root or as the server's user, and stop it.`);
      } else if (isOwnServer(p, p.pidFile.process)) {
        evidence.push(`${PID_FILE} names pid ${p.pidFile.pid}, the running server`);
        hints.push('Run step 5 to stop what is left.');
      } else {
        evidence.push(`${PID_FILE} names pid ${p.pidFile.pid}, now another process: ${short(p.pidFile.process)}`);
        hints.push(`Check pid ${p.pidFile.pid} on ${p.node}; if it is not the server, delete ${PID_FILE} by hand (a process owns that pid, so Run will not).`);
      }
      break;
    case 'invalid':
      stopped = false;
      evidence.push(`${PID_FILE} present but holds ${JSON.stringify(p.pidFile.content)}, not a pid`);
      hints.push(`Look at ${PID_FILE} on ${p.node} and delete it once no server runs.`);
      break;
    case 'unreadable':
      stopped = false;
      evidence.push(`${PID_FILE} present but not readable by the SSH user`);
      hints.push(`Check ${PID_FILE} on ${p.node} as the server's user.`);
      break;
    case 'error':
      stopped = false;
      evidence.push(`cannot read ${PID_FILE}: ${p.pidFile.message}`);
      break;
  }

  // Any UCD server on a cluster node blocks: one "of another install" may be this one under
  // another path, or a server the cluster file does not list, on the same database.
  if (p.processes.kind === 'ok') {
    for (const o of p.processes.otherInstalls) {
      stopped = false;
      const where = o.container ? ' in a container on the node' : '';
      evidence.push(`pid ${o.pid} is a UCD server of another install${where} (${installText(o)}), not ${p.installDir}: any UCD server on a cluster node blocks the proof`);
      hints.push(o.install !== undefined
        ? `Stop pid ${o.pid} on ${p.node} (${o.install}/bin/server stop as its user, or Run step 5, which asks first); if it is this node's server, correct installDir in the cluster file.`
        : `Find out what pid ${o.pid} on ${p.node} is (ls -l /proc/${o.pid}/cwd as root) and stop it; Run step 5 asks before killing it.`);
    }
  }

  const dups = opts.duplicates ?? [];
  if (dups.length > 0) {
    stopped = false;
    const mine = p.identity.kind === 'ok' ? p.identity : undefined;
    const id = mine?.machineId ? `machine-id ${mine.machineId}` : `host name ${mine?.hostname ?? '?'}`;
    evidence.push(`${[p.node, ...dups.map((d) => d.node)].join(' and ')} reach the same machine (${id}) and the same install (${mine?.install ?? p.installDir}): one node is listed more than once, so a real node may be missing from the proof`);
    hints.push(`Fix the cluster file: ${p.node} and ${dups.map((d) => d.node).join(', ')} must each name their own node (host, sshAlias, port); then Check again.`);
  }

  // With hidepid the process list shows only the SSH user's own processes: no proof for a server run by another user.
  const visibility = p.processes.kind === 'ok' ? p.processes.visibility : undefined;
  if (stopped) evidence.push(visibility?.kind === 'limited' ? `nothing seen on ${portList(p)}, no pid file, no server process visible` : `nothing on ${portList(p)}, no pid file, no server process`);
  if (visibility?.kind === 'limited') {
    stopped = false;
    evidence.push(`process list limited: ${visibility.why}, so a server run by another user would be invisible: this is no proof`);
    hints.push(`Check ${p.node} with an SSH user that is root (or can sudo to it), or remount /proc without hidepid (mount -o remount,hidepid=0 /proc; under systemd, ProtectProc=default), then Check again.`);
  }
  evidence.push(...units.notes);
  if (p.identity.kind === 'error') {
    evidence.push(`note: cannot tell which machine this is (${p.identity.message})`);
  } else if (!p.identity.machineId) {
    evidence.push('note: the node has no /etc/machine-id: a second cluster entry reaching this machine is recognized by boot id and host name only');
  }
  if (p.version.kind === 'ok' && p.version.install.kind === 'found') {
    const shared = p.version.appdata?.kind === 'found' ? `, shared appdata ${p.version.appdata.version}` : '';
    evidence.push(`installed version ${p.version.install.version}${shared}`);
  }
  const verdict: Verdict = stopped ? 'passed' : 'failed';
  const hint = verdict === 'passed' ? undefined : hints[0] ?? 'See the UCD Upgrade log, then Check again.';
  return { node: p.node, verdict, evidence, ...(hint ? { hint } : {}), facts: factsFromProbe(p), ...(dups.length ? { duplicates: dups.map((d) => d.node) } : {}) };
}

export interface StoppedOptions {
  readonly probeTimeoutMs?: number;
  /** Seconds between TERM and KILL when stopping leftovers. */
  readonly killGraceSeconds?: number;
  readonly cleanupTimeoutMs?: number;
}

/** The nodes an action concerns: the one of its target, or all. */
export function nodesOf(cluster: Cluster, target: Target): ClusterNode[] {
  if (target.node === undefined) return [...cluster.nodes];
  const n = cluster.nodes.find((x) => x.name === target.node);
  if (!n) throw new Error(`Node ${target.node} is not in cluster ${cluster.name}; reload the cluster file.`);
  return [n];
}

function logProbe(log: ActionLog, node: string, record: Awaited<ReturnType<typeof probeNode>>['record'], withScript: boolean): void {
  if (record) logExec(log, node, 'probe (pid file, ports, server process, version)', record.command, withScript ? record.script : undefined, record.result);
}

function logVerdict(log: ActionLog, what: string, e: Pick<StoppedEvaluation, 'node' | 'verdict' | 'evidence' | 'hint'>): void {
  const line = `[${e.node}] ${what} ${e.verdict}: ${e.evidence.join('; ')}${e.hint ? ` — ${e.hint}` : ''}`;
  if (e.verdict === 'passed') log.info(line);
  else if (e.verdict === 'warning') log.warn(line);
  else log.error(line);
}

/** How an entry reaches its node, as written in the cluster file (with its installDir). */
export function viaOf(n: ClusterNode): string {
  return JSON.stringify([n.user ?? '', n.sshAlias ?? '', n.host, n.sshPort, n.installDir]);
}

/** Pure: for each entry, the other entries whose report shows the same machine and install. */
export function findDuplicates(reports: readonly DuplicateEntry[]): Map<string, DuplicateEntry[]> {
  const out = new Map<string, DuplicateEntry[]>();
  for (const a of reports) {
    const same = reports.filter((b) => b.node !== a.node && sameInstall(toIdentity(a.machine), toIdentity(b.machine)));
    if (same.length) out.set(a.node, same);
  }
  return out;
}

function toIdentity(m: MachineFact) {
  return { ...m, installResolved: true, installExists: true };
}

/** What the other entries' last stopped-checks recorded, while their entries are unchanged. */
function recordedMachines(ctx: Pick<ActionContext, 'cluster' | 'session'>, exclude: ReadonlySet<string>): DuplicateEntry[] {
  const facts = factsByNode(ctx.session.journal.events);
  const out: DuplicateEntry[] = [];
  for (const n of ctx.cluster.nodes) {
    if (exclude.has(n.name)) continue;
    const m = facts.get(n.name)?.facts.machine;
    if (m && m.via === viaOf(n)) out.push({ node: n.name, machine: m });
  }
  return out;
}

/**
 * Evaluates probes taken together: besides each node's own findings, entries that reached the same
 * machine and install (in this batch, or as another entry's last check recorded) fail, all of them.
 */
export function evaluateProbes(ctx: Pick<ActionContext, 'cluster' | 'session'>, probes: readonly { node: ClusterNode; probe: NodeProbe }[]): StoppedEvaluation[] {
  const fresh = probes.flatMap(({ node, probe }) => {
    const machine = machineFact(probe, viaOf(node));
    return machine ? [{ node: node.name, machine }] : [];
  });
  const dups = findDuplicates([...fresh, ...recordedMachines(ctx, new Set(probes.map((x) => x.node.name)))]);
  return probes.map(({ node, probe }) => {
    const e = evaluateStopped(probe, { duplicates: dups.get(node.name) ?? [] });
    const machine = fresh.find((f) => f.node === node.name)?.machine;
    return machine ? { ...e, facts: { ...e.facts, machine } } : e;
  });
}

async function probeOnly(
  ctx: Pick<ActionContext, 'cluster' | 'log' | 'signal' | 'session'>,
  node: ClusterNode,
  transportFor: TransportFor,
  opts: StoppedOptions,
  withScript: boolean,
): Promise<NodeProbe> {
  const { probe, record } = await probeNode(() => transportFor(node, 'root'), node, {
    appdataDir: ctx.cluster.sharedAppdata,
    // Masked, a unit no longer names the install: the journal says which ones this run masked.
    extraUnits: maskedByRun(ctx.session.journal.events, node.name),
    signal: ctx.signal,
    ...(opts.probeTimeoutMs ? { timeoutMs: opts.probeTimeoutMs } : {}),
  });
  logProbe(ctx.log, node.name, record, withScript);
  return probe;
}

/** Probe one node and evaluate it (no recording). `withScript: false` keeps repeated polls short in the log. */
export async function probeStopped(
  ctx: Pick<ActionContext, 'cluster' | 'log' | 'signal' | 'session'>,
  node: ClusterNode,
  transportFor: TransportFor,
  opts: StoppedOptions = {},
  withScript = true,
): Promise<{ probe: NodeProbe; evaluation: StoppedEvaluation }> {
  const probe = await probeOnly(ctx, node, transportFor, opts, withScript);
  return { probe, evaluation: evaluateProbes(ctx, [{ node, probe }])[0]! };
}

/**
 * Check: probes the target's nodes in parallel and records each node's verdict (as a check of
 * `step`, normally step 5). A node that cannot be reached is that node's failed result; the
 * others still arrive. The nodes' reports are compared with each other before anything is recorded.
 */
export async function checkStopped(ctx: ActionContext, transportFor: TransportFor, opts: StoppedOptions = {}, step: StepId = 'verifyStopped'): Promise<StoppedEvaluation[]> {
  return checkNodesStopped(ctx, nodesOf(ctx.cluster, ctx.target), transportFor, opts, step);
}

/** checkStopped for the given nodes: the installer's re-proof should use this for all its nodes at once. */
export async function checkNodesStopped(ctx: ActionContext, nodes: readonly ClusterNode[], transportFor: TransportFor, opts: StoppedOptions, step: StepId): Promise<StoppedEvaluation[]> {
  // Every node's start is recorded first; the probes run in parallel and are compared with each
  // other (duplicates) before any node's result is recorded.
  let all: Promise<StoppedEvaluation[]> | undefined;
  const evaluate = (): Promise<StoppedEvaluation[]> => (all ??= (async () => evaluateProbes(ctx, await Promise.all(nodes.map(async (node) => {
    try {
      return { node, probe: await probeOnly(ctx, node, transportFor, opts, true) };
    } catch (err) {
      // probeNode does not throw for remote failures; this is a bug path, still recorded.
      return { node, probe: failureOf(node.name, err) as NodeProbe };
    }
  }))))());
  return ctx.eachNode(nodes, step, 'check', async (node) => {
    const evaluation = (await evaluate())[nodes.indexOf(node)]!;
    logVerdict(ctx.log, 'stopped-check', evaluation);
    return evaluation;
  });
}

export async function checkOneNode(ctx: ActionContext, node: ClusterNode, transportFor: TransportFor, opts: StoppedOptions, step: StepId): Promise<StoppedEvaluation> {
  return (await checkNodesStopped(ctx, [node], transportFor, opts, step))[0]!;
}

// ---------------------------------------------------------------------------------------------
// Run: stop what is left.

export interface KillItem {
  readonly process: ProcessInfo;
  /** The node's ports this process holds. */
  readonly ports: readonly number[];
  /** For a UCD server of another install: where that install is, as the probe saw it. */
  readonly otherInstall?: string;
}

export interface CleanupPlan {
  readonly node: string;
  readonly installDir: string;
  /** UCD server processes of this install. */
  readonly own: readonly KillItem[];
  /** Processes of something else that hold one of the node's ports: killed only after their own confirmation. */
  readonly foreign: readonly KillItem[];
  /** The pid var/server.pid names, when the file should go once no process has that pid. */
  readonly pidFilePid?: number;
  readonly pidFileStale: boolean;
  /** What Run cannot fix, as evidence lines. */
  readonly blockers: readonly string[];
}

/** Pure: what to stop on a node, from its probe. */
export function planCleanup(p: Probed): CleanupPlan {
  const own = new Map<number, { process: ProcessInfo; ports: Set<number> }>();
  const foreign = new Map<number, { process: ProcessInfo; ports: Set<number> }>();
  const blockers: string[] = [];
  if (p.processes.kind === 'ok') for (const s of p.processes.servers) own.set(s.pid, { process: s, ports: new Set() });
  else blockers.push(`cannot list processes: ${p.processes.message}`);
  if (p.pidFile.kind === 'live' && p.pidFile.process && isOwnServer(p, p.pidFile.process) && !own.has(p.pidFile.pid)) {
    own.set(p.pidFile.pid, { process: p.pidFile.process, ports: new Set() });
  }
  if (p.ports.kind === 'ok') {
    for (const l of p.ports.listeners) {
      if (l.owners.length === 0) blockers.push(`something listens on :${l.port} but its process is not visible to the SSH user: stop it as root`);
      for (const o of l.owners) {
        const mine = own.get(o.pid);
        if (mine) {
          mine.ports.add(l.port);
        } else if (!o.process) {
          blockers.push(`pid ${o.pid} (${o.name ?? '?'}) holds :${l.port} but its command line could not be read: stop it by hand`);
        } else if (isOwnServer(p, o.process)) {
          own.set(o.pid, { process: o.process, ports: new Set([l.port]) });
        } else {
          const f = foreign.get(o.pid) ?? { process: o.process, ports: new Set<number>() };
          f.ports.add(l.port);
          foreign.set(o.pid, f);
        }
      }
    }
  } else {
    blockers.push(p.ports.kind === 'no-tool' ? NO_PORT_TOOL : `cannot tell what listens on the ports: ${p.ports.message}`);
  }
  // A UCD server of another install blocks the proof even when it holds none of our ports.
  const otherInstall = new Map<number, string>();
  if (p.processes.kind === 'ok') {
    for (const o of p.processes.otherInstalls) {
      otherInstall.set(o.pid, installText(o));
      if (!foreign.has(o.pid) && !own.has(o.pid)) foreign.set(o.pid, { process: o, ports: new Set() });
    }
    if (p.processes.visibility.kind === 'limited') blockers.push(`process list limited (${p.processes.visibility.why}): a server of another user cannot be seen, so nothing here is proven; check as root`);
  }
  let pidFilePid: number | undefined;
  let pidFileStale = false;
  switch (p.pidFile.kind) {
    case 'stale':
      pidFilePid = p.pidFile.pid;
      pidFileStale = true;
      break;
    case 'live':
      // Once its process is stopped the file is stale; the script re-verifies before removing it.
      if (own.has(p.pidFile.pid) || foreign.has(p.pidFile.pid)) pidFilePid = p.pidFile.pid;
      else if (!p.pidFile.process) blockers.push(`${PID_FILE} names pid ${p.pidFile.pid}, a running process hidden from the SSH user: stop it as root or the server's user`);
      else blockers.push(`${PID_FILE} names pid ${p.pidFile.pid}, now another process (${short(p.pidFile.process)}): not removed while a process owns that pid`);
      break;
    case 'invalid':
      blockers.push(`${PID_FILE} holds ${JSON.stringify(p.pidFile.content)}, not a pid: look at it and delete it by hand`);
      break;
    case 'unreadable':
      blockers.push(`${PID_FILE} is not readable by the SSH user: check it as the server's user`);
      break;
    case 'error':
      blockers.push(`cannot read ${PID_FILE}: ${p.pidFile.message}`);
      break;
    case 'absent':
      break;
  }
  const items = (m: Map<number, { process: ProcessInfo; ports: Set<number> }>): KillItem[] =>
    [...m.values()].map((v) => {
      const other = otherInstall.get(v.process.pid);
      return { process: v.process, ports: [...v.ports].sort((a, b) => a - b), ...(other !== undefined ? { otherInstall: other } : {}) };
    });
  return {
    node: p.node,
    installDir: p.installDir,
    own: items(own),
    foreign: items(foreign),
    ...(pidFilePid !== undefined ? { pidFilePid } : {}),
    pidFileStale,
    blockers,
  };
}

/** The plan as the lines a person approves: "kill pid 4242: /usr/lib/jvm/.../java ... com.urbancode.ds.UDeployServer". */
export function describeKill(item: KillItem): string {
  const holds = item.ports.length ? ` (holds ${item.ports.map((x) => `:${x}`).join(', ')})` : '';
  return `kill pid ${item.process.pid}${holds}: ${shownCommand(item)}`;
}

/** A JVM command line can hold a classpath of many kilobytes; keep its start and its end (the main class). */
function shownCommand(item: KillItem): string {
  const cmd = commandText(item.process);
  return cmd.length > 1600 ? `${cmd.slice(0, 1200)} … ${cmd.slice(-300)}` : cmd;
}

/** What the person approved and declined on a node, in the journal with who decided. */
function recordApproval(ctx: ActionContext, node: string, approved: { kills: KillItem[]; declined: string[] }): void {
  const target = { step: ctx.target.step, node };
  if (approved.kills.length) ctx.session.decided({ kind: 'kill', node, processes: approved.kills.map((k) => ({ pid: k.process.pid, command: shownCommand(k) })) }, target);
  for (const d of approved.declined) ctx.session.decided({ kind: 'confirmation', question: `${node}: ${d.replace(/^declined: /, '')}`, answer: 'no' }, target);
}

export interface StopLeftoversDeps {
  readonly transportFor: TransportFor;
  readonly confirm: Confirm;
  /** Asks before masking a systemd unit for the upgrade; without it nothing is offered. */
  readonly confirmMask?: Confirm;
}

export interface NodeRunResult {
  readonly node: string;
  readonly verdict: Verdict;
  readonly evidence: readonly string[];
  readonly hint?: string;
  readonly plan?: CleanupPlan;
  readonly cleanup?: CleanupResult;
}

const DEFAULT_GRACE_SECONDS = 15;

function describeOutcome(pid: number, outcome: string, grace: number): { line: string; ok: boolean } {
  switch (outcome) {
    case 'term': return { line: `pid ${pid} stopped (TERM)`, ok: true };
    case 'killed': return { line: `pid ${pid} killed (KILL after ${grace} s)`, ok: true };
    case 'gone-before': return { line: `pid ${pid} had already ended`, ok: true };
    case 'changed': return { line: `pid ${pid} not signalled: it is now another process`, ok: true };
    case 'denied': return { line: `pid ${pid} not stopped: permission denied (another user's process)`, ok: false };
    case 'survived': return { line: `pid ${pid} still running after KILL`, ok: false };
    default: return { line: `pid ${pid}: no report from the node (cut short?)`, ok: false };
  }
}

function describePidFile(outcome: string | undefined, pid: number, now?: string): { line: string; ok: boolean } | undefined {
  switch (outcome) {
    case undefined: return undefined;
    case 'removed': return { line: `removed stale ${PID_FILE} (pid ${pid})`, ok: true };
    case 'gone': return { line: `${PID_FILE} already gone`, ok: true };
    case 'changed': return { line: `${PID_FILE} now names pid ${now ?? '?'}, not ${pid}: left in place`, ok: false };
    case 'owned': return { line: `${PID_FILE} not removed: a process has pid ${pid}`, ok: false };
    case 'failed': return { line: `could not remove ${PID_FILE}`, ok: false };
    default: return { line: `${PID_FILE}: no report from the node`, ok: false };
  }
}

/** The two answers of step 5's dialog (labels agreed for issue 8); the safe one is the default. */
export const KILL_ANSWER = 'Kill Them';
export const LEAVE_ANSWER = 'Leave Them Running';

function answers(yes: string, no: string): string {
  return `"${KILL_ANSWER}" ${yes}. "${LEAVE_ANSWER}" ${no}.`;
}

/** Asks the user about a node's plan; returns what they approved. Sequential: one question at a time. */
async function approve(plan: CleanupPlan, confirm: Confirm, grace: number): Promise<{ kills: KillItem[]; removePidFile: boolean; declined: string[] }> {
  const declined: string[] = [];
  const kills: KillItem[] = [];
  let removePidFile = false;
  const ownLines = plan.own.map(describeKill);
  // A pid file naming a foreign process goes only with that process's own approval, below.
  const pidFileWithOwn = plan.pidFilePid !== undefined && (plan.pidFileStale || plan.own.some((k) => k.process.pid === plan.pidFilePid));
  if (pidFileWithOwn) ownLines.push(`remove ${plan.installDir}/${PID_FILE} (pid ${plan.pidFilePid}) if no process has that pid`);
  if (ownLines.length > 0) {
    const what = plan.own.length > 0
      ? `Kill ${plan.own.length} UCD server process${plan.own.length === 1 ? '' : 'es'} of ${plan.installDir} on ${plan.node}?`
      : `Remove the stale pid file on ${plan.node}?`;
    const tail = plan.own.length > 0
      ? answers(`sends each TERM, then KILL if it still runs after ${grace} s${pidFileWithOwn ? ', then removes the pid file' : ''}`, `changes nothing on ${plan.node}; step 5 stays failed and names what still runs`)
      : answers('removes the file, only if no process has that pid by then', 'leaves it in place (the installer refuses to run while it exists)');
    if (await confirm(what, [...ownLines, tail].join('\n'))) {
      kills.push(...plan.own);
      removePidFile = pidFileWithOwn;
    } else {
      declined.push(...ownLines.map((l) => `declined: ${l}`));
    }
  }
  for (const f of plan.foreign) {
    const holds = f.ports.length ? `holds ${f.ports.map((x) => `:${x}`).join(', ')}` : '';
    const q = f.otherInstall !== undefined
      ? `${plan.node}: pid ${f.process.pid} is a UCD server of another install (${f.otherInstall})${holds ? ` and ${holds}` : ''}, NOT of ${plan.installDir}. Kill it?`
      : `${plan.node}: pid ${f.process.pid} ${holds} but is NOT the UCD server of ${plan.installDir}. Kill it?`;
    if (await confirm(q, `${describeKill(f)}\n${answers(`sends it TERM, then KILL if it still runs after ${grace} s`, 'leaves it alone')}`)) {
      kills.push(f);
      if (plan.pidFilePid === f.process.pid) removePidFile = true;
    } else declined.push(`declined: ${describeKill(f)}`);
  }
  return { kills, removePidFile, declined };
}

async function executePlan(
  ctx: ActionContext,
  node: ClusterNode,
  transportFor: TransportFor,
  plan: CleanupPlan,
  approved: { kills: KillItem[]; removePidFile: boolean },
  grace: number,
  opts: StoppedOptions,
): Promise<{ lines: string[]; ok: boolean; cleanup?: CleanupResult }> {
  const scriptPlan: CleanupPlanScript = {
    kills: approved.kills.map((k) => k.process),
    ...(approved.removePidFile && plan.pidFilePid !== undefined ? { removePidFile: { installDir: node.installDir, pid: plan.pidFilePid } } : {}),
    graceSeconds: grace,
  };
  if (scriptPlan.kills.length === 0 && !scriptPlan.removePidFile) return { lines: [], ok: true };
  const script = cleanupScript(scriptPlan);
  try {
    const transport = await transportFor(node, 'root');
    const result = await transport.exec(SH_STDIN_COMMAND, {
      stdin: script,
      timeoutMs: opts.cleanupTimeoutMs ?? (grace + 30) * 1000,
      signal: ctx.signal,
    });
    logExec(ctx.log, node.name, 'stop what is left', SH_STDIN_COMMAND, script, result);
    const cleanup = parseCleanup(result.stdout, scriptPlan);
    const lines: string[] = [];
    let ok = cleanup.complete;
    for (const [pid, outcome] of cleanup.kills) {
      const d = describeOutcome(pid, outcome, grace);
      lines.push(d.line);
      ok &&= d.ok;
    }
    const pf = describePidFile(cleanup.pidFile, plan.pidFilePid ?? 0, cleanup.pidFileNow);
    if (pf) {
      lines.push(pf.line);
      ok &&= pf.ok;
    }
    if (!cleanup.complete) lines.push(`the stop script did not finish (exit ${result.code ?? result.signal})`);
    return { lines, ok, cleanup };
  } catch (err) {
    const f = failureOf(node.name, err);
    logExec(ctx.log, node.name, 'stop what is left', SH_STDIN_COMMAND, script, undefined);
    ctx.log.error(`[${node.name}] ${f.message} — ${f.hint}`);
    return { lines: [f.message], ok: false };
  }
}

interface Refusal {
  readonly reason: string;
  readonly hint: string;
}

/**
 * Pure: why Run must not offer to stop anything on a node. A node that already shows the target
 * version is upgraded: its server may rightly run, and stopping it is never step 5's business.
 * Entries that reach one machine would offer to kill the same processes twice.
 */
export function refuseCleanup(cluster: Pick<Cluster, 'targetVersion'>, p: Probed, e: Pick<StoppedEvaluation, 'evidence' | 'hint' | 'duplicates'>): Refusal | undefined {
  if (p.version.kind === 'ok' && p.version.install.kind === 'found' && p.version.install.version === cluster.targetVersion) {
    return {
      reason: `${p.node} already shows the target version ${cluster.targetVersion} in conf/installed.version: it is upgraded, and Run on step 5 never stops an upgraded server`,
      hint: `Nothing to do on ${p.node} for step 5. If it must stop for another reason, use its service script (${p.installDir}/bin/server stop).`,
    };
  }
  if (e.duplicates?.length) {
    return {
      reason: `${p.node} and ${e.duplicates.join(', ')} reach the same machine and install: Run would offer to stop the same processes twice`,
      hint: `Fix the cluster file: ${p.node} and ${e.duplicates.join(', ')} must each name their own node; then Check again.`,
    };
  }
  return undefined;
}

/**
 * Run of step 5: probe, plan, ask, stop, then Check again. Probing and stopping run in parallel
 * across nodes; the questions come one at a time.
 */
export async function stopLeftovers(ctx: ActionContext, deps: StopLeftoversDeps, opts: StoppedOptions = {}): Promise<NodeRunResult[]> {
  const nodes = nodesOf(ctx.cluster, ctx.target);
  const grace = opts.killGraceSeconds ?? DEFAULT_GRACE_SECONDS;
  // Every node's start is recorded first; what each node gets is decided over all of them.
  let all: Promise<{ results: NodeRunResult[]; refusals: (Refusal | undefined)[] }> | undefined;
  const leftovers = () => (all ??= stopWhatIsLeft(ctx, nodes, deps, opts, grace));
  const results = await ctx.eachNode(nodes, 'verifyStopped', 'run', async (node) => (await leftovers()).results[nodes.indexOf(node)]!);
  const { refusals } = await leftovers();
  // The Run's own report is not proof: the node is probed again and that is what the gate reads
  // (not for a refused node: nothing changed there).
  const again = nodes.filter((_, i) => !refusals[i]);
  if (again.length) await checkNodesStopped(ctx, again, deps.transportFor, opts, 'verifyStopped');
  return results;
}

async function stopWhatIsLeft(ctx: ActionContext, nodes: readonly ClusterNode[], deps: StopLeftoversDeps, opts: StoppedOptions, grace: number): Promise<{ results: NodeRunResult[]; refusals: (Refusal | undefined)[] }> {
  const first = await Promise.all(nodes.map(async (node) => ({ node, probe: await probeOnly(ctx, node, deps.transportFor, opts, true) })));
  // Units first: a server killed while its unit runs (or may start it) comes back.
  const masking = deps.confirmMask ? await offerMasks(ctx, first.filter((r) => r.probe.kind !== 'probed' || !refuseCleanup(ctx.cluster, r.probe, { evidence: [] })), deps.transportFor, deps.confirmMask, (node) => ({ step: 'verifyStopped', node })) : new Map<string, never>();
  const raw = await Promise.all(first.map(async (r) => (masking.get(r.node.name)?.changed ? { node: r.node, probe: await probeOnly(ctx, r.node, deps.transportFor, opts, true) } : r)));
  const evaluations = evaluateProbes(ctx, raw);
  const probes = raw.map((r, i) => ({ probe: r.probe, evaluation: evaluations[i]! }));

  const approvals: ({ kills: KillItem[]; removePidFile: boolean; declined: string[] } | undefined)[] = [];
  const plans: (CleanupPlan | undefined)[] = [];
  const refusals: (Refusal | undefined)[] = [];
  for (const { probe, evaluation } of probes) {
    const refusal = probe.kind === 'probed' ? refuseCleanup(ctx.cluster, probe, evaluation) : undefined;
    refusals.push(refusal);
    if (probe.kind !== 'probed' || refusal) {
      if (refusal) ctx.log.warn(`[${probe.node}] nothing offered: ${refusal.reason}`);
      plans.push(undefined);
      approvals.push(undefined);
      continue;
    }
    const plan = evaluation.verdict === 'passed' ? undefined : planCleanup(probe);
    plans.push(plan);
    if (plan) {
      ctx.log.info(`[${plan.node}] plan: ${[...plan.own, ...plan.foreign].map(describeKill).join(' | ') || 'no process to stop'}${plan.pidFilePid !== undefined ? ` | remove ${PID_FILE} (pid ${plan.pidFilePid}) if no process has it` : ''}${plan.blockers.length ? ` | cannot fix: ${plan.blockers.join('; ')}` : ''}`);
    }
    const approval = plan && !ctx.signal.aborted ? await approve(plan, deps.confirm, grace) : undefined;
    if (plan && approval) recordApproval(ctx, plan.node, approval);
    approvals.push(approval);
  }

  const executed = await Promise.all(
    nodes.map(async (node, i) => {
      const plan = plans[i];
      const approved = approvals[i];
      return plan && approved ? executePlan(ctx, node, deps.transportFor, plan, approved, grace, opts) : undefined;
    }),
  );

  const results: NodeRunResult[] = [];
  nodes.forEach((node, i) => {
    const { probe, evaluation } = probes[i]!;
    const plan = plans[i];
    const approved = approvals[i];
    const done = executed[i];
    const refusal = refusals[i];
    let r: NodeRunResult;
    if (refusal) {
      r = { node: node.name, verdict: 'failed', evidence: [`nothing was stopped: ${refusal.reason}`, ...evaluation.evidence], hint: refusal.hint };
    } else if (probe.kind !== 'probed') {
      r = { node: node.name, verdict: 'failed', evidence: evaluation.evidence, ...(evaluation.hint ? { hint: evaluation.hint } : {}) };
    } else if (plan && !approved) {
      r = { node: node.name, verdict: 'failed', evidence: ['cancelled before anything was stopped'], hint: 'Run again to stop what is left.', plan };
    } else if (!plan) {
      r = { node: node.name, verdict: 'passed', evidence: ['nothing left to stop', ...evaluation.evidence] };
    } else {
      const evidence = [...(done?.lines ?? []), ...(approved?.declined ?? []), ...plan.blockers.map((b) => `cannot fix: ${b}`)];
      const nothingPlanned = plan.own.length === 0 && plan.foreign.length === 0 && plan.pidFilePid === undefined;
      const ok = (done?.ok ?? true) && (approved?.declined.length ?? 0) === 0 && plan.blockers.length === 0 && !nothingPlanned;
      const hint = ok
        ? undefined
        : approved && approved.declined.length > 0
          ? 'Nothing was stopped that you declined; stop it yourself or Run again.'
          : 'Stop the rest by hand (see the evidence), then Check again.';
      r = { node: node.name, verdict: ok ? 'passed' : 'failed', evidence: evidence.length ? evidence : ['nothing Run can stop'], ...(hint ? { hint } : {}), plan, ...(done?.cleanup ? { cleanup: done.cleanup } : {}) };
    }
    const units = masking.get(node.name);
    if (units) r = { ...r, evidence: [...units.lines, ...r.evidence], ...(units.ok ? {} : { verdict: 'failed' as const, hint: r.hint ?? 'See the systemctl error in the evidence, then Run again.' }) };
    logVerdict(ctx.log, 'stop-leftovers', r);
    results.push(r);
  });
  return { results, refusals };
}
