// Run state = a fold over the journal. One record per (step, node) target: the latest thing that
// happened to it. Node-scoped steps keep one record per node; a step-level skip or confirmation
// of a node-scoped step applies to each of its nodes.
import type { Cluster } from '../cluster/types';
import type { ActionKind, JournalEvent, Verdict } from '../journal/events';
import { STEPS, type StepDef, type StepId } from './steps';

export type Outcome =
  // What the views say beside "running": a link down to its node, a guard alarm while it ran.
  | { readonly status: 'running'; readonly at: string; readonly kind: ActionKind; readonly id: string; readonly connection?: string; readonly alarm?: string }
  // startedAt: when the action that gave this verdict started (its duration, in the tree).
  | { readonly status: Verdict; readonly at: string; readonly kind: ActionKind; readonly evidence: readonly string[]; readonly hint?: string; readonly startedAt?: string }
  | { readonly status: 'skipped'; readonly at: string; readonly reason: string }
  | { readonly status: 'confirmed'; readonly at: string; readonly note: string }
  | { readonly status: 'interrupted'; readonly at: string; readonly reason?: string };

export type RunState = ReadonlyMap<string, Outcome>;

/** The pre-flight's record in the run state: not a step, but step 1's gate reads it (gates.ts). */
export const PREFLIGHT_KEY = 'preflight';

/** Key of a record: the step for cluster-scoped steps, step + node otherwise. */
export function targetKey(step: StepId, node?: string): string {
  return node === undefined ? step : `${step}@${node}`;
}

export function nodesOf(def: StepDef, cluster: Cluster): string[] {
  const all = cluster.nodes.map((n) => n.name);
  switch (def.scope) {
    case 'cluster': return [];
    case 'everyNode': return all;
    case 'firstNode': return [cluster.firstNode];
    case 'otherNodes': return all.filter((n) => n !== cluster.firstNode);
  }
}

export function reduceJournal(events: readonly JournalEvent[], cluster: Cluster): Map<string, Outcome> {
  const state = new Map<string, Outcome>();
  const keysFor = (step: StepId, node?: string): string[] => {
    const def = STEPS.find((s) => s.id === step);
    if (!def) return [];
    const nodes = nodesOf(def, cluster);
    if (def.scope === 'cluster') return [targetKey(step)];
    if (node !== undefined) return nodes.includes(node) ? [targetKey(step, node)] : [];
    return nodes.map((n) => targetKey(step, n));
  };
  for (const ev of events) {
    // A decision is the record of what a person said; the step's outcome is its own event.
    if (ev.type === 'run-opened' || ev.type === 'backup-archive' || ev.type === 'rollback' || ev.type === 'maintenance' || ev.type === 'decided') continue;
    if (ev.type === 'preflight') {
      state.set(PREFLIGHT_KEY, { status: ev.verdict, at: ev.ts, kind: 'check', evidence: ev.findings });
      continue;
    }
    if (ev.type === 'preflight-skipped') {
      state.set(PREFLIGHT_KEY, { status: 'skipped', at: ev.ts, reason: ev.reason });
      continue;
    }
    for (const key of keysFor(ev.step, ev.node)) {
      switch (ev.type) {
        case 'started':
          state.set(key, { status: 'running', at: ev.ts, kind: ev.kind, id: ev.id });
          break;
        case 'finished': {
          const cur = state.get(key);
          const startedAt = cur?.status === 'running' && cur.id === ev.id ? cur.at : undefined;
          state.set(key, { status: ev.verdict, at: ev.ts, kind: ev.kind, evidence: ev.evidence, ...(ev.hint ? { hint: ev.hint } : {}), ...(startedAt ? { startedAt } : {}) });
          break;
        }
        case 'interrupted': {
          const cur = state.get(key);
          if (cur?.status === 'running' && cur.id === ev.id) state.set(key, { status: 'interrupted', at: ev.ts, ...(ev.reason ? { reason: ev.reason } : {}) });
          break;
        }
        case 'connection-lost': case 'connection-restored': case 'guard-alarm': {
          const cur = state.get(key);
          if (cur?.status !== 'running' || cur.id !== ev.id) break;
          if (ev.type === 'guard-alarm') state.set(key, { ...cur, alarm: ev.message });
          else if (ev.type === 'connection-lost') state.set(key, { ...cur, connection: ev.message });
          else {
            const { connection: _gone, ...rest } = cur;
            state.set(key, rest);
          }
          break;
        }
        case 'skipped':
          state.set(key, { status: 'skipped', at: ev.ts, reason: ev.reason });
          break;
        case 'confirmed':
          state.set(key, { status: 'confirmed', at: ev.ts, note: ev.note });
          break;
        case 'reset':
          state.delete(key);
          break;
      }
    }
  }
  return state;
}

/** Records still 'running' after a reload belong to a window that closed mid-action. */
export function danglingRuns(state: RunState): { key: string; id: string }[] {
  const out: { key: string; id: string }[] = [];
  for (const [key, o] of state) if (o.status === 'running') out.push({ key, id: o.id });
  return out;
}

export function splitKey(key: string): { step: StepId; node?: string } {
  const at = key.indexOf('@');
  return at < 0 ? { step: key as StepId } : { step: key.slice(0, at) as StepId, node: key.slice(at + 1) };
}
