// The doc's hard rules as pure functions of (cluster, run state, now). A gate that fails names the
// node and the reason, so the tree can say exactly what stands in the way.
import type { Cluster } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import { PREFLIGHT_KEY, targetKey, type Outcome, type RunState } from './state';
import type { StepId } from './steps';

export interface GateOptions {
  /** How old a passed stopped-check may be before the installer treats it as stale. */
  readonly stoppedMaxAgeMs: number;
}

export const DEFAULT_GATE_OPTIONS: GateOptions = { stoppedMaxAgeMs: 5 * 60_000 };

export interface GateFailure {
  readonly node?: string;
  readonly reason: string;
}

export interface StepWarning {
  /** missing: no backup at all; beforeShutdown: taken while servers could still write (the doc's own order). */
  readonly kind: 'backup-missing' | 'backup-before-shutdown';
  readonly reason: string;
}

const STORAGE_LAYOUT_CHANGED_IN = '6.1.1.5';

export function storageStepApplies(cluster: Cluster): boolean {
  return compareVersions(cluster.currentVersion, STORAGE_LAYOUT_CHANGED_IN) < 0;
}

/** Done for the purpose of moving on: proven, or consciously skipped or confirmed by a person. */
export function isSettled(o: Outcome | undefined): boolean {
  return !!o && (o.status === 'passed' || o.status === 'warning' || o.status === 'skipped' || o.status === 'confirmed');
}

function age(o: Outcome, now: number): number {
  return now - Date.parse(o.at);
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 1 ? `${Math.round(ms / 1000)} s` : `${m} min`;
}

/**
 * Only a real probe counts as proof that a server is stopped: a skip or manual confirmation is a
 * person's word, and the installer's whole safety rests on this check.
 */
export function stoppedProof(state: RunState, node: string, now: number, opts: GateOptions): GateFailure | undefined {
  const o = state.get(targetKey('verifyStopped', node));
  if (!o) return { node, reason: `${node}: not proven stopped yet — run Check on step 5` };
  switch (o.status) {
    case 'passed': {
      const a = age(o, now);
      return a > opts.stoppedMaxAgeMs
        ? { node, reason: `${node}: stopped-check is ${minutes(a)} old (limit ${minutes(opts.stoppedMaxAgeMs)}) — check again` }
        : undefined;
    }
    case 'running': return { node, reason: `${node}: stopped-check is still running` };
    case 'failed':
    case 'warning': return { node, reason: `${node}: not stopped (${o.evidence.join('; ') || 'check failed'})` };
    case 'skipped': return { node, reason: `${node}: stopped-check was skipped ("${o.reason}") — the installer needs a real check` };
    case 'confirmed': return { node, reason: `${node}: confirmed stopped by hand, not proven — run Check on step 5` };
    case 'interrupted': return { node, reason: `${node}: stopped-check was interrupted — run it again` };
  }
}

/**
 * What a probe showed: a Run or Check that passed (or passed with a warning). A skip or a
 * confirmation is a person's word and never opens a gate that a probe guards.
 */
export function isProven(o: Outcome | undefined): boolean {
  return !!o && (o.status === 'passed' || o.status === 'warning');
}

/** `missing` when there is no probe result; otherwise why the record is not one, for a refusal. */
function notProven(o: Outcome | undefined, missing: string, what: string, step: number): string {
  switch (o?.status) {
    case 'skipped': return `${what} was skipped ("${o.reason}"), not proven — run Check on step ${step}`;
    case 'confirmed': return `${what} was confirmed by hand, not proven — run Check on step ${step}`;
    case 'running': return `${what} is still running — step ${step}`;
    case 'failed': return `${what} failed (${o.evidence.join('; ') || 'see the log'}) — step ${step}`;
    case 'interrupted': return `${what} was interrupted — run Check on step ${step}`;
    default: return `${missing} — step ${step}`;
  }
}

/**
 * The doc's hard rules for acting on `step` (or on one `node` of it). Gates are preconditions of
 * the action, not of one node's row: installing ucd2 needs the first node back online whatever
 * node the failure names.
 */
export function hardGates(step: StepId, cluster: Cluster, state: RunState, now: number, opts: GateOptions, node?: string): GateFailure[] {
  const failures: GateFailure[] = [];
  const first = cluster.firstNode;
  const others = cluster.nodes.map((n) => n.name).filter((n) => n !== first);
  const isTarget = (n: string) => node === undefined || node === n;
  switch (step) {
    case 'backup': {
      // Only a pre-flight recorded failed blocks: a run without one works as before.
      const p = state.get(PREFLIGHT_KEY);
      if (p?.status === 'failed') {
        failures.push({ reason: `the pre-flight failed (${p.evidence.filter((e) => e.startsWith('fail')).join('; ') || 'see its report'}) — fix it and run the pre-flight again, or skip it with a reason` });
      }
      break;
    }
    case 'installFirst': {
      for (const n of cluster.nodes) {
        const f = stoppedProof(state, n.name, now, opts);
        if (f) failures.push(f);
      }
      if (storageStepApplies(cluster) && !isSettled(state.get(targetKey('storage')))) {
        failures.push({ reason: `network storage must be updated first (upgrade starts at ${cluster.currentVersion}, before ${STORAGE_LAYOUT_CHANGED_IN}) — step 6` });
      }
      break;
    }
    case 'startFirst': {
      const o = state.get(targetKey('installFirst', first));
      if (!isProven(o)) failures.push({ node: first, reason: `${first}: ${notProven(o, 'not upgraded yet', 'its upgrade', 7)}` });
      break;
    }
    case 'installOthers': {
      const online = state.get(targetKey('startFirst', first));
      if (!isProven(online)) {
        failures.push({ node: first, reason: `${first}: ${notProven(online, `first node not back online at ${cluster.targetVersion} yet`, `first node not proven back online at ${cluster.targetVersion}: its restart`, 8)}` });
      }
      // A node proven upgraded may be back online (as the first node is); one still on the old
      // version, and the node about to be installed, must be down.
      for (const n of others) {
        if (!isTarget(n) && isProven(state.get(targetKey('installOthers', n)))) continue;
        const f = stoppedProof(state, n, now, opts);
        if (f) failures.push(f);
      }
      break;
    }
    case 'startOthers': {
      for (const n of others.filter(isTarget)) {
        const o = state.get(targetKey('installOthers', n));
        if (!isProven(o)) failures.push({ node: n, reason: `${n}: ${notProven(o, 'not upgraded yet', 'its upgrade', 9)}` });
      }
      break;
    }
    default:
      break;
  }
  return failures;
}

/** Soft problems the doc warns about: shown, never blocking. */
export function warnings(step: StepId, state: RunState): StepWarning[] {
  if (step !== 'installFirst') return [];
  const backup = state.get(targetKey('backup'));
  if (!backup || backup.status === 'skipped') return [{ kind: 'backup-missing', reason: 'no database backup recorded — server upgrades cannot be rolled back' }];
  const stops = [...state.entries()].filter(([k, o]) => k.startsWith('stop@') && o.status === 'passed').map(([, o]) => Date.parse(o.at));
  if (stops.length && Date.parse(backup.at) < Math.min(...stops) && backup.status !== 'confirmed') {
    // The doc wants the backup taken with every server stopped.
    return [{ kind: 'backup-before-shutdown', reason: 'the database backup is older than the shutdown — servers may have written to the database since' }];
  }
  return [];
}
