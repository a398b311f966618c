// What a person must hear when an action ends, in one sentence they can act on: a step that failed
// or was refused names its node(s) and what to do next; the upgrade's end gives its total time and
// the outage window, as the report computes them (journal/report.ts). Pure: the editor and the
// command line show these words; the journal already holds the facts.
import type { Cluster } from '../cluster/types';
import type { JournalEvent, RequestKind, Target } from '../journal/events';
import { duration, localTime } from '../journal/localTime';
import { outageWindow, runTotal } from '../journal/report';
import { runPhase } from './phase';
import { STEPS, stepDef } from './steps';

export interface Notice {
  readonly severity: 'info' | 'warning' | 'error';
  readonly message: string;
  /** The nodes it is about (Show Log opens the first's transcript). */
  readonly nodes: readonly string[];
}

export const REQUEST_VERB: Readonly<Record<RequestKind, string>> = { run: 'Run', check: 'Check', skip: 'Skip', confirm: 'Confirm Manually', reset: 'Reset' };

/** "Step 5 (Ensure each server is stopped)" */
export function stepName(step: Target['step']): string {
  return `Step ${STEPS.findIndex((s) => s.id === step) + 1} (${stepDef(step).title})`;
}

/** The key of a cluster-wide step's result (no node). */
const CLUSTER = '';

function sameTarget(e: { step?: string; node?: string }, target: Target): boolean {
  return e.step === target.step && (target.node === undefined || e.node === undefined || e.node === target.node);
}

/**
 * The failures an action ended with: every failed or interrupted result of `target` the journal
 * gained after `from` (its length when the action started). Undefined when there were none.
 */
export function failureNotice(events: readonly JournalEvent[], from: number, target: Target): Notice | undefined {
  const bad = new Map<string, { what: string; hint?: string }>();
  for (const e of events.slice(from)) {
    if (!sameTarget(e as { step?: string; node?: string }, target)) continue;
    const node = 'node' in e && e.node !== undefined ? e.node : CLUSTER;
    if (e.type === 'finished' && e.verdict === 'failed') bad.set(node, { what: `${REQUEST_VERB[e.kind]} failed: ${e.evidence[0] ?? 'no evidence'}`, ...(e.hint ? { hint: e.hint } : {}) });
    else if (e.type === 'interrupted') bad.set(node, { what: `interrupted: ${e.reason ?? 'cut off before it ended'}`, hint: 'Check it again to see where it got to.' });
    // A later pass of the same node (a Run that ended with its Check) supersedes the failure.
    else if (e.type === 'finished') bad.delete(node);
  }
  if (bad.size === 0) return undefined;
  const nodes = [...bad.keys()];
  const hints = [...new Set([...bad.values()].map((b) => b.hint).filter((h): h is string => !!h))];
  const on = nodes.filter((n) => n !== CLUSTER);
  const each = [...bad].map(([n, b]) => (n === CLUSTER ? b.what : `${n}: ${b.what}`)).join('; ');
  const message = `${stepName(target.step)} failed${on.length ? ` on ${on.join(', ')}` : ''}. ${each}.${hints.length ? ` Next: ${hints.join(' ')}` : ' Read the log, then Check the step again.'}`;
  return { severity: 'error', message, nodes: on };
}

/** A refusal by the engine (the gates, or another action running): nothing was done, and why. */
export function refusalNotice(cluster: Cluster, target: Target, request: RequestKind, reasons: readonly string[]): Notice {
  const names = cluster.nodes.map((n) => n.name);
  // The gates' words name the nodes they are about ("ucd2: not proven stopped yet — …").
  const nodes = target.node !== undefined ? [target.node] : names.filter((n) => reasons.some((r) => new RegExp(`(^|[^\\w-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^\\w-]|$)`).test(r)));
  const message = `${stepName(target.step)}${target.node !== undefined ? ` on ${target.node}` : ''}: ${REQUEST_VERB[request]} refused, nothing was done. ${reasons.join('; ')}.`;
  return { severity: 'warning', message, nodes };
}

/**
 * The upgrade's end, once: when the journal before `from` was not complete and now is (a probe
 * showed every node on the target version). Total time and the outage window as the report has them.
 */
export function completionNotice(events: readonly JournalEvent[], from: number, cluster: Cluster, timeZone?: string): Notice | undefined {
  const now = runPhase(events, cluster);
  if (now.kind !== 'complete' || runPhase(events.slice(0, from), cluster).kind === 'complete') return undefined;
  const at = (ts: string) => localTime(ts, timeZone);
  const total = runTotal(events);
  const totalText = total.kind === 'over' ? `total time ${duration(Date.parse(total.end) - Date.parse(total.start))} (${at(total.start)} → ${at(total.end)})`
    : total.kind === 'running' ? `total time so far ${duration(Date.parse(now.since) - Date.parse(total.start))}, an action still running`
    : 'no step timed';
  const outage = outageWindow(events, cluster.nodes.map((n) => n.name));
  const outageText = outage.kind === 'over' ? `outage ${duration(Date.parse(outage.until) - Date.parse(outage.since))} (${at(outage.since)} → ${at(outage.until)}, until ${outage.firstUp} was back online)`
    : outage.kind === 'ongoing' ? `outage since ${at(outage.since)}, no server recorded back online`
    : outage.why;
  return {
    severity: 'info',
    message: `Upgrade complete: every node of ${cluster.name} is on ${cluster.targetVersion}; ${totalText}; ${outageText}. Export Run Report for the change record.`,
    nodes: cluster.nodes.map((n) => n.name),
  };
}
