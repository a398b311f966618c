// The one way into the runbook: every Run, Check, Skip, Confirm and Reset, from the tree, the
// command palette, the status view or a command-line runner, comes through here. The hard gates
// are evaluated from the journal at the moment the action starts, whatever the views show; a
// refusal is recorded with the gates' own words and nothing is done.
import { randomUUID } from 'node:crypto';
import type { Cluster, ClusterNode } from '../cluster/types';
import type { ActionKind, RequestKind, Target } from '../journal/events';
import { handlerOf, type ActionContext, type ActionLog, type ActionRecord, type HandlerTable, type Outcome, type StepHandler } from './actions';
import { cutOffOf, cutOffReason } from './cutOff';
import { DEFAULT_GATE_OPTIONS, hardGates, isProven, storageStepApplies, type GateOptions } from './gates';
import { STOPS_A_SERVER, upgradedNodes } from './phase';
import type { RunSession } from './session';
import type { ProgressReporter } from './progress';
import { trustWait } from '../trust/waiting';
import type { RollbackOutcome } from '../steps/rollback';
import { nodesOf, targetKey, type RunState } from './state';
import { isStepId, stepDef, type StepId } from './steps';

export type Request =
  | { readonly kind: 'run' | 'check'; readonly target: Target }
  | { readonly kind: 'skip'; readonly target: Target; readonly reason: string }
  | { readonly kind: 'confirm'; readonly target: Target; readonly note: string }
  | { readonly kind: 'reset'; readonly target: Target; readonly reason: string };

export type Result =
  /** Done; the outcome (passed, failed, …) is in the journal. */
  | { readonly kind: 'done' }
  /** Confirm on a step a probe guards: a fresh Check proved it; the note is recorded beside the probe. */
  | { readonly kind: 'proven'; readonly evidence: readonly string[] }
  /** Nothing was done, for these reasons (recorded in the journal). */
  | { readonly kind: 'refused'; readonly reasons: readonly string[] }
  /** Another action on the same target is still running; nothing was done. */
  | { readonly kind: 'busy'; readonly running: string }
  /** This step has no handler for the action in this version. */
  | { readonly kind: 'unavailable'; readonly reason: string }
  /** The request was malformed, or the handler threw: the message says which. */
  | { readonly kind: 'error'; readonly message: string };

export interface RunnerOptions {
  readonly handlers: HandlerTable;
  readonly log: ActionLog;
  /** Gate limits, read when each action starts (a setting may change in between). */
  readonly gates?: () => GateOptions;
  /** Roll back (steps/rollback.ts `rollBack` with the front end's deps); absent: not offered. */
  /** Where each running action is on each node (ActionContext.progress), for the front end to show. */
  readonly progress?: (target: Required<Target>, text: string) => void;
  readonly rollback?: (ctx: { cluster: Cluster; session: RunSession; log: ActionLog; signal: AbortSignal }) => Promise<RollbackOutcome>;
}

/** Steps whose result a probe can establish: Confirm Manually runs the Check instead of taking a word for it. */
const PROVEN_BY_CHECK: ReadonlySet<StepId> = new Set<StepId>(['installFirst', 'startFirst', 'installOthers', 'startOthers', 'verifyVersions']);

const VERB: Record<RequestKind, string> = { run: 'Run', check: 'Check', skip: 'Skip', confirm: 'Confirm Manually', reset: 'Reset' };

interface InFlight {
  readonly kind: RequestKind;
  /** 'rollback': the whole cluster, in conflict with every other action. */
  readonly step: StepId | 'rollback';
  /** undefined: a cluster-scoped step (it has no nodes of its own). */
  readonly nodes: ReadonlySet<string> | undefined;
  readonly text: string;
}

export function describeTarget(t: Target): string {
  const title = stepDef(t.step).title;
  return t.node ? `${title} on ${t.node}` : title;
}

/** The nodes a target covers: the one named, or every node of the step. */
export function targetNodes(cluster: Cluster, t: Target): string[] {
  return t.node !== undefined ? [t.node] : nodesOf(stepDef(t.step), cluster);
}

/**
 * Why Run must not start on `target` now: the phase's rules and the hard gates, each a sentence.
 * Pure, so a unit test and a dry run see exactly what the runner sees.
 */
export function runRefusals(cluster: Cluster, state: RunState, now: number, opts: GateOptions, target: Target): string[] {
  const reasons: string[] = [];
  if (target.step === 'storage' && !storageStepApplies(cluster)) {
    reasons.push(`network storage is not moved: the upgrade starts at ${cluster.currentVersion} (6.1.1.5 or later)`);
  }
  if (STOPS_A_SERVER.has(target.step)) {
    const upgraded = upgradedNodes(cluster, state);
    for (const n of targetNodes(cluster, target)) {
      if (upgraded.has(n)) reasons.push(`${n} is already on ${cluster.targetVersion}: stopping it is not part of this upgrade any more`);
    }
  }
  reasons.push(...hardGates(target.step, cluster, state, now, opts, target.node).map((g) => g.reason));
  return reasons;
}

/** What a handler's context is made of; actionContext adds the recording the runner does. */
export interface ActionBase {
  readonly cluster: Cluster;
  readonly session: RunSession;
  readonly target: Target;
  readonly log: ActionLog;
  readonly signal: AbortSignal;
  readonly progress?: ProgressReporter;
}

const THROWN_HINT = 'Read the log, then Check this step again.';

/**
 * The context a handler works in, and the only code that records an action's start and its
 * outcome (session.begin/finish): a handler returns what it found, or throws. Runner.execute makes
 * one per action; a test drives a handler through one too.
 */
export function actionContext(base: ActionBase): ActionContext {
  const { session } = base;
  const settle = async <T extends Outcome>(id: string, target: Target, kind: ActionKind, work: (a: ActionRecord) => Promise<T>): Promise<T> => {
    let outcome: T;
    try {
      outcome = await work({ id, target });
    } catch (e) {
      // It ran in this window and ended with no finding: failed here, unless it was cut off
      // (the runner's judge then records it interrupted).
      // A trust question dismissed is not a refusal for good: said as waiting, in the trust's own words.
      const waiting = trustWait(e);
      const message = (e as Error).message;
      const hint = typeof (e as { hint?: unknown }).hint === 'string' ? (e as { hint: string }).hint : THROWN_HINT;
      if (waiting) session.finish(id, target, kind, 'failed', waiting.evidence, waiting.hint);
      else session.finish(id, target, kind, 'failed', [`ended without a result: ${message}`], hint);
      throw e;
    }
    if ('verdict' in outcome) session.finish(id, target, kind, outcome.verdict, outcome.evidence, outcome.hint, outcome.facts);
    else if (outcome.ended === 'let-go') session.letGo(id);
    else session.interrupt(id, target, outcome.reason);
    return outcome;
  };
  return {
    cluster: base.cluster,
    session,
    target: base.target,
    log: base.log,
    signal: base.signal,
    ...(base.progress ? { progress: base.progress } : {}),
    act: (target, kind, work) => settle(session.begin(target, kind), target, kind, work),
    eachNode: async <T extends Outcome>(nodes: readonly ClusterNode[], step: StepId, kind: ActionKind, work: (node: ClusterNode, a: ActionRecord) => Promise<T>): Promise<T[]> => {
      const started = nodes.map((node) => {
        const target = { step, node: node.name };
        return { node, target, id: session.begin(target, kind) };
      });
      const settled = await Promise.allSettled(started.map(({ node, target, id }) => settle(id, target, kind, (a) => work(node, a))));
      const thrown = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (thrown) throw thrown.reason;
      return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
    },
    resume: (id, target, kind, work) => {
      session.adopt(id);
      return settle(id, target, kind, work);
    },
  };
}

export class Runner {
  private readonly inFlight = new Set<InFlight>();
  /** Detached actions this runner has followed again: each once. */
  private readonly followed = new Set<string>();

  constructor(readonly session: RunSession, private readonly opts: RunnerOptions) {}

  get cluster(): Cluster {
    return this.session.cluster;
  }

  run(target: Target, signal?: AbortSignal): Promise<Result> {
    return this.perform({ kind: 'run', target }, signal);
  }

  check(target: Target, signal?: AbortSignal): Promise<Result> {
    return this.perform({ kind: 'check', target }, signal);
  }

  skip(target: Target, reason: string): Promise<Result> {
    return this.perform({ kind: 'skip', target, reason });
  }

  confirm(target: Target, note: string, signal?: AbortSignal): Promise<Result> {
    return this.perform({ kind: 'confirm', target, note }, signal);
  }

  reset(target: Target, reason: string): Promise<Result> {
    return this.perform({ kind: 'reset', target, reason });
  }

  /**
   * Roll back the run: only when nothing else runs (it stops and rewrites every node), and only
   * through here, so its refusals are evaluated and recorded like every other action's.
   */
  async rollback(signal: AbortSignal = new AbortController().signal): Promise<RollbackOutcome | Exclude<Result, { kind: 'done' | 'proven' | 'refused' }>> {
    const handler = this.opts.rollback;
    if (!handler) return { kind: 'unavailable', reason: 'Roll back is not available here.' };
    const entry: InFlight = { kind: 'run', step: 'rollback', nodes: new Set(this.cluster.nodes.map((n) => n.name)), text: 'Roll back' };
    const other = [...this.inFlight][0];
    if (other) return { kind: 'busy', running: `${other.text} is still running` };
    this.inFlight.add(entry);
    try {
      const outcome = await handler({ cluster: this.cluster, session: this.session, log: this.opts.log, signal });
      if (outcome.kind === 'refused') {
        this.session.recordRollback({ id: randomUUID(), stage: 'begin', verdict: 'failed', evidence: outcome.reasons.map((r) => `refused: ${r}`) });
        this.opts.log.warn(`Roll back refused: ${outcome.reasons.join('; ')}`);
      }
      return outcome;
    } catch (e) {
      this.opts.log.error(`Roll back failed: ${(e as Error).message}`);
      return { kind: 'error', message: (e as Error).message };
    } finally {
      this.inFlight.delete(entry);
    }
  }

  /**
   * Follows again the actions an earlier owner left running detached on their nodes (an installer
   * after a reload), each through its step's Check, which reads the log and records the real
   * outcome on the run that started it. Only an owner has any (a follower's session lists none
   * until it takes the run over); each is followed once, unless it already ended meanwhile.
   */
  followAgain(signal?: AbortSignal): { readonly target: Target; readonly result: Promise<Result> }[] {
    const out: { target: Target; result: Promise<Result> }[] = [];
    if (this.session.role.kind !== 'owner') return out;
    for (const d of this.session.detachedOnOpen) {
      const o = this.session.state().get(targetKey(d.target.step, d.target.node));
      if (this.followed.has(d.id) || this.session.carries(d.id) || o?.status !== 'running' || o.id !== d.id) continue;
      this.followed.add(d.id);
      this.opts.log.info(`${describeTarget(d.target)}: still running on ${d.target.node ?? 'its node'} when this window opened (run ${d.run.runId}, pid ${d.run.pid}): following it again`);
      out.push({ target: d.target, result: this.perform({ kind: 'check', target: d.target }, signal) });
    }
    return out;
  }

  /** Whether an action on (an overlap of) this target is running now. */
  isBusy(target: Target): boolean {
    return this.conflict({ kind: 'check', step: target.step, nodes: this.nodeSet(target), text: '' }) !== undefined;
  }

  /** `onStart` is called once the gates let the action through, right before its handler runs. */
  async perform(req: Request, signal: AbortSignal = new AbortController().signal, onStart?: () => void): Promise<Result> {
    const problem = this.malformed(req);
    if (problem) return { kind: 'error', message: problem };
    const target = req.target.node === undefined ? { step: req.target.step } : { step: req.target.step, node: req.target.node };
    const entry: InFlight = { kind: req.kind, step: target.step, nodes: this.nodeSet(target), text: `${VERB[req.kind]} of ${describeTarget(target)}` };
    // Claimed before the first await: two clicks in the same tick cannot both get through.
    const other = this.conflict(entry);
    if (other) {
      const running = `${other.text} is still running`;
      this.refuse(target, req.kind, [running]);
      return { kind: 'busy', running };
    }
    this.inFlight.add(entry);
    try {
      switch (req.kind) {
        case 'run': return await this.runOrCheck('run', target, signal, onStart);
        case 'check': return await this.runOrCheck('check', target, signal, onStart);
        case 'confirm': return await this.confirmNow(target, req.note, signal, onStart);
        case 'skip':
          this.session.skip(target, req.reason);
          this.logOf(target).info(`${describeTarget(target)}: skipped — ${req.reason.trim()}`);
          return { kind: 'done' };
        case 'reset':
          this.session.reset(target, req.reason);
          this.logOf(target).info(`${describeTarget(target)}: reset`);
          return { kind: 'done' };
      }
    } finally {
      this.inFlight.delete(entry);
    }
  }

  private async runOrCheck(kind: 'run' | 'check', target: Target, signal: AbortSignal, onStart?: () => void): Promise<Result> {
    if (kind === 'run') {
      // The journal as it is now, the clock as it is now: not what a view rendered a while ago.
      const reasons = runRefusals(this.cluster, this.session.state(), this.session.time(), this.gateOptions(), target);
      if (reasons.length) {
        this.refuse(target, 'run', reasons);
        return { kind: 'refused', reasons };
      }
    }
    const entry = this.opts.handlers[target.step][kind];
    const handler = handlerOf(entry);
    if (!handler) {
      const why = typeof entry === 'function' ? '' : ` ${entry.unavailable}`;
      const reason = `"${stepDef(target.step).title}": ${VERB[kind]} is not available in this version of the extension.${why} Do it by hand, then use Confirm Manually (or Skip) to record it.`;
      this.logOf(target).info(`${describeTarget(target)}: ${VERB[kind]} requested, not available`);
      return { kind: 'unavailable', reason };
    }
    onStart?.();
    return this.execute(handler, kind, target, signal);
  }

  /**
   * Confirm Manually. Step 5 is a probe's alone. On the installer, restart and final steps the
   * Check runs now: if it proves the step, that result is what counts and the note goes beside it;
   * if not, the confirmation is refused with what the probe saw.
   */
  private async confirmNow(target: Target, note: string, signal: AbortSignal, onStart?: () => void): Promise<Result> {
    if (target.step === 'verifyStopped') {
      const reasons = [`a probe guards this: only Check on step 5 proves a server stopped, and the installer accepts nothing else — run Check on ${target.node ?? 'every node'}`];
      this.refuse(target, 'confirm', reasons);
      return { kind: 'refused', reasons };
    }
    if (!PROVEN_BY_CHECK.has(target.step)) {
      this.session.confirm(target, note);
      this.logOf(target).info(`${describeTarget(target)}: confirmed manually — ${note.trim()}`);
      return { kind: 'done' };
    }
    const handler = handlerOf(this.opts.handlers[target.step].check);
    if (!handler) {
      const reasons = [`a probe guards this step and this version of the extension cannot run its Check: nothing was recorded`];
      this.refuse(target, 'confirm', reasons);
      return { kind: 'refused', reasons };
    }
    const since = this.session.time();
    this.logOf(target).info(`${describeTarget(target)}: Confirm Manually — checking with a fresh probe first`);
    onStart?.();
    const checked = await this.execute(handler, 'check', target, signal);
    if (checked.kind === 'error') return checked;
    const state = this.session.state();
    const evidence: string[] = [];
    const reasons: string[] = [];
    for (const n of targetNodes(this.cluster, target)) {
      const o = state.get(targetKey(target.step, n));
      const fresh = o !== undefined && o.status !== 'running' && Date.parse(o.at) >= since;
      if (fresh && isProven(o) && 'evidence' in o && o.kind === 'check') {
        evidence.push(`${n}: ${o.evidence.join('; ')}`);
        continue;
      }
      const saw = o && 'evidence' in o && fresh ? o.evidence.join('; ') : 'no result';
      reasons.push(`${n}: Confirm Manually refused — a fresh probe does not show ${n} ${this.provenAs(target.step)} (${saw}). A probe guards this step: a note is not proof. Fix the node, then Check again.`);
    }
    if (reasons.length) {
      this.refuse(target, 'confirm', reasons);
      return { kind: 'refused', reasons };
    }
    this.session.note(target, note);
    this.logOf(target).info(`${describeTarget(target)}: a fresh probe proved it (${evidence.join(' | ')}); note recorded beside it — ${note.trim()}`);
    return { kind: 'proven', evidence };
  }

  private provenAs(step: StepId): string {
    const v = this.cluster.targetVersion;
    switch (step) {
      case 'installFirst': case 'installOthers': return `on ${v}`;
      case 'startFirst': case 'startOthers': return `back online at ${v}`;
      default: return `on ${v} behind the load balancer`;
    }
  }

  private async execute(handler: StepHandler, kind: 'run' | 'check', target: Target, signal: AbortSignal): Promise<Result> {
    const since = this.session.time();
    // A failure the handler records while this window closes, or in the words of a dropped link,
    // is an interruption: what the node did is not known, and Check tells.
    const judging = this.session.judgeFailures(this.keysOf(target), (t, evidence) => this.cutOff(t, signal, evidence));
    try {
      const progress = this.opts.progress;
      await handler(actionContext({ cluster: this.cluster, session: this.session, target, log: this.logOf(target), signal, ...(progress ? { progress: (node: string, text: string) => progress({ step: target.step, node }, text) } : {}) }));
      return { kind: 'done' };
    } catch (e) {
      const message = (e as Error).message;
      this.logOf(target).error(`${describeTarget(target)}: ${VERB[kind]} failed: ${message}`);
      this.closeDangling(target, since, message);
      return { kind: 'error', message };
    } finally {
      judging.dispose();
    }
  }

  private cutOff(t: Target, signal: AbortSignal, evidence: readonly string[]): string | undefined {
    const c = cutOffOf({ signal, evidence });
    if (!c) return undefined;
    const reason = cutOffReason(c, stepDef(t.step).title, t.node);
    // The library's words stay in the log, beside the plain ones in the record.
    this.opts.log.warn(`${describeTarget(t)}: interrupted, not failed — ${reason} (${evidence.join('; ')})`);
    return reason;
  }

  /** The record keys a target covers: the step's own and each of its nodes'. */
  private keysOf(target: Target): string[] {
    return [targetKey(target.step), ...(stepDef(target.step).scope === 'cluster' ? [] : targetNodes(this.cluster, target).map((n) => targetKey(target.step, n)))];
  }

  /**
   * A handler that threw may leave its record running; it ran in this window, so it failed here,
   * unless it was cut off (then the judge above records it interrupted).
   */
  private closeDangling(target: Target, since: number, message: string): void {
    const state = this.session.state();
    for (const n of target.node !== undefined || stepDef(target.step).scope !== 'cluster' ? targetNodes(this.cluster, target) : [undefined]) {
      const o = state.get(targetKey(target.step, n));
      if (o?.status !== 'running' || Date.parse(o.at) < since) continue;
      this.session.finish(o.id, n === undefined ? { step: target.step } : { step: target.step, node: n }, o.kind, 'failed', [`ended without a result: ${message}`], 'Read the log, then Check this step again.');
    }
  }

  private refuse(target: Target, kind: RequestKind, reasons: readonly string[]): void {
    this.session.refused(target, kind, reasons);
    this.logOf(target).warn(`${describeTarget(target)}: ${VERB[kind]} refused: ${reasons.join('; ')}`);
  }

  /** The action's own log: its lines say their step. */
  private logOf(target: Target): ActionLog {
    return this.opts.log.forStep?.(target) ?? this.opts.log;
  }

  private gateOptions(): GateOptions {
    return this.opts.gates?.() ?? DEFAULT_GATE_OPTIONS;
  }

  private nodeSet(t: Target): ReadonlySet<string> | undefined {
    return stepDef(t.step).scope === 'cluster' ? undefined : new Set(targetNodes(this.cluster, t));
  }

  /**
   * Two actions collide on the same step and an overlap of its nodes, or when both would change
   * the same node (two Runs on one server, whatever their steps).
   */
  private conflict(entry: InFlight): InFlight | undefined {
    const overlap = (a: InFlight, b: InFlight) => a.nodes === undefined || b.nodes === undefined ? a.step === b.step : [...a.nodes].some((n) => b.nodes!.has(n));
    for (const other of this.inFlight) {
      if (other.step === 'rollback' || entry.step === 'rollback') return other;
      if (other.step === entry.step && overlap(entry, other)) return other;
      if (other.kind === 'run' && entry.kind === 'run' && other.nodes && entry.nodes && overlap(entry, other)) return other;
    }
    return undefined;
  }

  private malformed(req: Request): string | undefined {
    if (!isStepId(req.target.step)) return `There is no step "${String(req.target.step)}".`;
    const def = stepDef(req.target.step);
    if (req.target.node !== undefined && !nodesOf(def, this.cluster).includes(req.target.node)) {
      return `Step "${def.title}" does not concern node ${req.target.node}: it concerns ${nodesOf(def, this.cluster).join(', ') || 'the cluster as a whole'}.`;
    }
    if (def.scope === 'cluster' && req.target.node !== undefined) return `Step "${def.title}" concerns the cluster as a whole, not node ${req.target.node}.`;
    if (req.kind === 'skip' && !req.reason.trim()) return 'A reason is required to skip a step.';
    if (req.kind === 'confirm' && !req.note.trim()) return 'A note is required to confirm a step by hand.';
    return undefined;
  }
}
