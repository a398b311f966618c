// The run journal's records. The journal is the only source of run state: the views are a
// function of it, so a reload rebuilds exactly what was there.
import type { StepId } from '../runbook/steps';
import type { NodeFacts } from '../status/facts';

/** A step as a whole (no node) or one node of a node-scoped step. */
export interface Target {
  readonly step: StepId;
  readonly node?: string;
}

export type ActionKind = 'run' | 'check';
/** Everything a person (or a runner) can ask of a step; what a refusal names. */
export type RequestKind = ActionKind | 'skip' | 'confirm' | 'reset';
export type Verdict = 'passed' | 'failed' | 'warning';

export type JournalEvent =
  | { readonly type: 'run-opened'; readonly ts: string; readonly cluster: string; readonly from: string; readonly to: string; readonly nodes: readonly string[] }
  | ({ readonly type: 'started'; readonly ts: string; readonly id: string; readonly kind: ActionKind } & Target)
  | ({ readonly type: 'finished'; readonly ts: string; readonly id: string; readonly kind: ActionKind; readonly verdict: Verdict; readonly evidence: readonly string[]; readonly hint?: string; readonly facts?: NodeFacts } & Target)
  // reason: set when the action's own process was found gone (not merely cut off from this window).
  | ({ readonly type: 'interrupted'; readonly ts: string; readonly id: string; readonly reason?: string } & Target)
  // The running action's process lives on the node, detached from this window: how to find it again.
  | ({ readonly type: 'detached'; readonly ts: string; readonly id: string; readonly runId: string; readonly pid: number; readonly dir: string } & Target)
  | ({ readonly type: 'skipped'; readonly ts: string; readonly reason: string } & Target)
  | ({ readonly type: 'confirmed'; readonly ts: string; readonly note: string } & Target)
  | ({ readonly type: 'reset'; readonly ts: string; readonly reason: string } & Target)
  // The engine said no, in the gate's own words; nothing was done.
  | ({ readonly type: 'refused'; readonly ts: string; readonly request: RequestKind; readonly reasons: readonly string[] } & Target)
  // A person's note beside a probe result: recorded, never counted as proof.
  | ({ readonly type: 'noted'; readonly ts: string; readonly note: string } & Target)
  // The pre-flight (src/core/preflight): not a step (no step, no node, so code that filters events
  // by step passes them by); its fails and warns, one line each.
  | ({ readonly type: 'preflight'; readonly ts: string; readonly verdict: Verdict; readonly findings: readonly string[] } & NoTarget)
  | ({ readonly type: 'preflight-skipped'; readonly ts: string; readonly reason: string } & NoTarget)
  // A systemd unit of a node's install masked for the upgrade (step 5) or unmasked (steps 8, 10).
  | ({ readonly type: 'service-unit'; readonly ts: string; readonly action: 'masked' | 'unmasked'; readonly unit: string; readonly command: string } & Target);

interface NoTarget {
  readonly step?: undefined;
  readonly node?: undefined;
}

export type JournalEventType = JournalEvent['type'];

const TYPES: ReadonlySet<string> = new Set(['run-opened', 'started', 'finished', 'interrupted', 'skipped', 'confirmed', 'reset', 'refused', 'noted', 'detached', 'preflight', 'preflight-skipped', 'service-unit']);
/** Events about the run as a whole, with no step. */
const RUN_WIDE: ReadonlySet<string> = new Set(['run-opened', 'preflight', 'preflight-skipped']);

/** Accepts a parsed line only if it has the shape of a known event; old or foreign lines are reported, not trusted. */
export function asEvent(value: unknown): JournalEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !TYPES.has(v.type) || typeof v.ts !== 'string') return undefined;
  if (!RUN_WIDE.has(v.type) && typeof v.step !== 'string') return undefined;
  return value as JournalEvent;
}
