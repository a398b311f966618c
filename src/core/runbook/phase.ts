// Where the run is, from the journal: before the first installer starts (proving every server
// stopped is the point), upgrading (steps 1–6 are history: their age reopens nothing), complete
// (a probe showed every node on the target version; it stays complete).
import type { Cluster } from '../cluster/types';
import type { JournalEvent } from '../journal/events';
import { isProven } from './gates';
import { targetKey, type RunState } from './state';
import type { StepId } from './steps';

export type Phase =
  | { readonly kind: 'preparing' }
  | { readonly kind: 'upgrading'; readonly since: string }
  | { readonly kind: 'complete'; readonly since: string };

/** The steps that prepare the installer: once it has started they are the record of how it began. */
const BEFORE_INSTALLER: ReadonlySet<StepId> = new Set<StepId>(['backup', 'processes', 'package', 'stop', 'verifyStopped', 'storage']);

/** Steps that would stop a server: never offered for a node already on the target version. */
export const STOPS_A_SERVER: ReadonlySet<StepId> = new Set<StepId>(['stop', 'verifyStopped']);

export function isHistory(step: StepId, phase: Phase): boolean {
  return phase.kind !== 'preparing' && BEFORE_INSTALLER.has(step);
}

export function runPhase(events: readonly JournalEvent[], cluster: Cluster): Phase {
  const nodes = cluster.nodes.map((n) => n.name);
  let upgradingSince: string | undefined;
  // verifyVersions per node, folded as the journal goes: complete is the first moment all passed.
  const verified = new Map<string, boolean>();
  for (const e of events) {
    if (e.type === 'run-opened' || e.type === 'refused' || e.type === 'noted') continue;
    if (upgradingSince === undefined && e.type === 'started' && e.kind === 'run' && (e.step === 'installFirst' || e.step === 'installOthers')) upgradingSince = e.ts;
    if (e.step !== 'verifyVersions') continue;
    const passed = e.type === 'finished' && e.verdict === 'passed';
    for (const n of e.node === undefined ? nodes : [e.node]) verified.set(n, passed);
    if (nodes.every((n) => verified.get(n))) return { kind: 'complete', since: e.ts };
  }
  return upgradingSince === undefined ? { kind: 'preparing' } : { kind: 'upgrading', since: upgradingSince };
}

/**
 * Nodes a probe showed on the target version: their installer step, their restart or the final
 * check passed. Stopping one of them is no part of this upgrade.
 */
export function upgradedNodes(cluster: Cluster, state: RunState): Set<string> {
  const out = new Set<string>();
  for (const n of cluster.nodes) {
    const steps: StepId[] = n.name === cluster.firstNode ? ['installFirst', 'startFirst', 'verifyVersions'] : ['installOthers', 'startOthers', 'verifyVersions'];
    if (steps.some((s) => isProven(state.get(targetKey(s, n.name))))) out.add(n.name);
  }
  return out;
}
