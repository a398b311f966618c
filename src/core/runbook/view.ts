// What the views show: each step's display state, a one-line summary, its nodes, and which
// actions make sense now. Pure: the same journal and clock always give the same runbook.
import { WAITING_FOR_TRUST } from '../trust/words';
import type { Cluster } from '../cluster/types';
import { hardGates, isSettled, stoppedProof, storageStepApplies, warnings, type GateOptions } from './gates';
import { isHistory, STOPS_A_SERVER, upgradedNodes, type Phase } from './phase';
import { runningDetail, type Following } from './following';
import { nodesOf, targetKey, type Outcome, type RunState } from './state';
import { STEPS, type StepDef, type StepId } from './steps';

export type DisplayState =
  | 'pending' | 'blocked' | 'ready' | 'running' | 'passed' | 'warning' | 'failed'
  // Failed only because a host key or certificate was dismissed: not refused for good (trust/words.ts).
  | 'waitingForTrust'
  | 'skipped' | 'confirmed' | 'interrupted' | 'stale' | 'notNeeded';

export interface Actions {
  readonly run: boolean;
  readonly check: boolean;
  readonly skip: boolean;
  readonly confirm: boolean;
  readonly reset: boolean;
}

export interface NodeView {
  readonly node: string;
  readonly state: DisplayState;
  /** One line for the tree: evidence, reason or note. */
  readonly detail: string;
  readonly outcome?: Outcome;
  readonly actions: Actions;
}

export interface StepView {
  readonly def: StepDef;
  readonly number: number;
  readonly state: DisplayState;
  readonly summary: string;
  /** Gate failures (blocked) or the doc's warnings, each a full sentence. */
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
  readonly outcome?: Outcome;
  readonly nodes: readonly NodeView[];
  readonly actions: Actions;
  /** A step before the installer, once the installer has started: the record of how it began. */
  readonly history: boolean;
}

const NOUN: Record<StepId, string> = {
  backup: 'backed up', processes: 'clear', package: 'extracted', stop: 'stopped', verifyStopped: 'proven stopped',
  storage: 'updated', installFirst: 'upgraded', startFirst: 'online', installOthers: 'upgraded',
  startOthers: 'online', verifyVersions: 'on target version',
};

const DONE: ReadonlySet<DisplayState> = new Set(['passed', 'warning', 'skipped', 'confirmed', 'notNeeded']);

/** `following`: per action id, how an action that runs detached on its node is followed (following.ts). */
export function deriveRunbook(cluster: Cluster, state: RunState, now: number, opts: GateOptions, phase: Phase, following: ReadonlyMap<string, Following> = new Map()): StepView[] {
  const views: StepView[] = [];
  let earlierOpen: StepView | undefined;
  const ctx: Derivation = { cluster, state, now, opts, phase, upgraded: upgradedNodes(cluster, state), following };
  STEPS.forEach((def, i) => {
    const view = deriveStep(def, i + 1, ctx, earlierOpen);
    views.push(view);
    // History does not hold up what follows: the installer already ran past it.
    if (!earlierOpen && !view.history && !DONE.has(view.state)) earlierOpen = view;
  });
  return views;
}

interface Derivation {
  readonly cluster: Cluster;
  readonly state: RunState;
  readonly now: number;
  readonly opts: GateOptions;
  readonly phase: Phase;
  readonly upgraded: ReadonlySet<string>;
  readonly following: ReadonlyMap<string, Following>;
}

function outcomeState(o: Outcome | undefined): DisplayState | undefined {
  if (o?.status === 'failed' && o.evidence.some((e) => e.startsWith(`${WAITING_FOR_TRUST}: `))) return 'waitingForTrust';
  return o?.status;
}

function detailOf(o: Outcome | undefined, following: ReadonlyMap<string, Following>): string {
  if (!o) return '';
  switch (o.status) {
    case 'running': {
      // How it is followed says a lost link in the runbook's words; the event's own text otherwise.
      const f = following.get(o.id);
      return [o.alarm, f ? runningDetail(o.kind, f) : o.connection].filter(Boolean).join('; ') || runningDetail(o.kind, undefined);
    }
    case 'passed': case 'failed': case 'warning': return o.evidence.join('; ');
    case 'skipped': return `skipped: ${o.reason}`;
    case 'confirmed': return `confirmed: ${o.note}`;
    case 'interrupted': return o.reason ?? 'interrupted when the window closed — check again';
  }
}

// Workspace trust is applied by the editor glue (when-clauses), not here. What is offered mirrors
// what the runner accepts; the runner decides again when the action starts.
function actionsFor(state: DisplayState, step: StepId, stopsUpgraded = false): Actions {
  const idle = state !== 'running';
  return {
    run: idle && state !== 'blocked' && state !== 'notNeeded' && !stopsUpgraded,
    check: idle && state !== 'notNeeded',
    skip: idle && !DONE.has(state),
    // A probe guards step 5: only Check proves a server stopped.
    confirm: idle && !DONE.has(state) && step !== 'verifyStopped',
    reset: idle && ((DONE.has(state) && state !== 'notNeeded') || state === 'failed' || state === 'waitingForTrust' || state === 'interrupted' || state === 'stale'),
  };
}

function deriveStep(def: StepDef, number: number, d: Derivation, earlierOpen: StepView | undefined): StepView {
  const { cluster, state, now, opts } = d;
  const history = isHistory(def.id, d.phase);
  const gateFailures = hardGates(def.id, cluster, state, now, opts);
  // Warnings are about starting a step; once it is done they only repeat history.
  const stepWarnings = recordedDone(def, cluster, state) ? [] : warnings(def.id, state).map((w) => w.reason);
  const waiting = earlierOpen ? `waiting for step ${earlierOpen.number}` : '';

  if (def.id === 'storage' && !storageStepApplies(cluster)) {
    const summary = `not needed: upgrade starts at ${cluster.currentVersion} (6.1.1.5 or later)`;
    return { def, number, state: 'notNeeded', summary, reasons: [summary], warnings: [], nodes: [], actions: actionsFor('notNeeded', def.id), history };
  }

  const openState = (own: DisplayState | undefined, blockedHere: boolean): DisplayState =>
    own ?? (blockedHere ? 'blocked' : earlierOpen ? 'pending' : 'ready');

  if (def.scope === 'cluster') {
    const o = state.get(targetKey(def.id));
    const st = openState(outcomeState(o), gateFailures.length > 0);
    const summary = o ? detailOf(o, d.following) : st === 'blocked' ? gateFailures[0].reason : st === 'pending' ? waiting : '';
    return { def, number, state: st, summary, reasons: gateFailures.map((g) => g.reason), warnings: stepWarnings, outcome: o, nodes: [], actions: actionsFor(st, def.id), history };
  }

  const stopsUpgraded = (nodes: readonly string[]) => STOPS_A_SERVER.has(def.id) && nodes.some((n) => d.upgraded.has(n));
  const nodeViews: NodeView[] = nodesOf(def, cluster).map((node) => {
    const o = state.get(targetKey(def.id, node));
    const nodeGate = hardGates(def.id, cluster, state, now, opts, node);
    let st = openState(outcomeState(o), nodeGate.length > 0);
    // A stopped-check ages only while it still matters: not for a node already on the target version.
    if (def.id === 'verifyStopped' && o?.status === 'passed' && !d.upgraded.has(node) && stoppedProof(state, node, now, opts)) st = 'stale';
    const detail = o ? (st === 'stale' ? `${detailOf(o, d.following)} (stale: check again)` : detailOf(o, d.following)) : nodeGate[0]?.reason.replace(`${node}: `, '') ?? (st === 'pending' ? waiting : '');
    return { node, state: st, detail, outcome: o, actions: actionsFor(st, def.id, stopsUpgraded([node])) };
  });

  // Blocked when a node still to do is: a step-wide gate may only concern nodes already done.
  const st = aggregate(nodeViews.map((n) => n.state), nodeViews.some((n) => n.state === 'blocked'), !!earlierOpen);
  const settled = nodeViews.filter((n) => DONE.has(n.state)).length;
  const failed = nodeViews.filter((n) => n.state === 'failed').length;
  const untrusted = nodeViews.filter((n) => n.state === 'waitingForTrust').length;
  let summary = `${settled}/${nodeViews.length} node${nodeViews.length === 1 ? '' : 's'} ${NOUN[def.id]}`;
  if (failed) summary += `, ${failed} failed`;
  if (untrusted) summary += `, ${untrusted} waiting for trust`;
  // A detached installer is the news of the step: where it runs and whether anyone follows it.
  for (const n of nodeViews) if (n.outcome?.status === 'running' && d.following.has(n.outcome.id)) summary += `, ${n.detail}`;
  if (st === 'blocked' && settled === 0) summary = `blocked: ${gateFailures[0].reason}`;
  else if (st === 'pending' && settled === 0) summary = waiting;
  const actions = actionsFor(st, def.id, stopsUpgraded(nodeViews.map((n) => n.node)));
  return { def, number, state: st, summary, reasons: gateFailures.map((g) => g.reason), warnings: stepWarnings, nodes: nodeViews, actions, history };
}

/** Whether the step's own records say it is done, whatever the gates and the order say now. */
function recordedDone(def: StepDef, cluster: Cluster, state: RunState): boolean {
  const keys = def.scope === 'cluster' ? [targetKey(def.id)] : nodesOf(def, cluster).map((n) => targetKey(def.id, n));
  return keys.length > 0 && keys.every((k) => isSettled(state.get(k)));
}

/** A node-scoped step's state: the most urgent of its nodes', or done when all are done. */
export function aggregate(states: readonly DisplayState[], blocked: boolean, earlierOpen: boolean): DisplayState {
  const has = (s: DisplayState) => states.includes(s);
  if (has('running')) return 'running';
  if (has('failed')) return 'failed';
  if (has('waitingForTrust')) return 'waitingForTrust';
  if (has('interrupted')) return 'interrupted';
  if (has('stale')) return 'stale';
  if (states.length && states.every((s) => DONE.has(s))) {
    if (states.every((s) => s === 'skipped')) return 'skipped';
    if (states.every((s) => s === 'confirmed')) return 'confirmed';
    return has('warning') ? 'warning' : 'passed';
  }
  if (blocked) return 'blocked';
  return earlierOpen ? 'pending' : 'ready';
}

export { isSettled };
