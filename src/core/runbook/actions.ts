// Step handlers: what Run and Check do for each step. A handler does the work and returns what it
// found; the runner (runner.ts) is the only code that records an action's start and its result,
// through the context below, so a step cannot leave a record open or write one the runner did not.
import type { Cluster, ClusterNode } from '../cluster/types';
import type { ActionKind, Target, Verdict } from '../journal/events';
import type { NodeFacts } from '../status/facts';
import type { ProgressReporter } from './progress';
import type { RunSession } from './session';
import type { StepId } from './steps';

export interface ActionLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** The log of one action on `target` (its lines say their step); a plain log is used as it is. */
  forStep?(target: Target): ActionLog;
}

/** What an action found on its target: the runner records it as the action's result. */
export interface Finding {
  readonly verdict: Verdict;
  readonly evidence: readonly string[];
  readonly hint?: string;
  readonly facts?: NodeFacts;
}

/**
 * How an action ends: with a finding, or without one — let go (its process runs on detached on the
 * node and is followed again later; nothing is recorded) or interrupted (its process was found gone).
 */
export type Outcome = Finding | { readonly ended: 'let-go' } | { readonly ended: 'interrupted'; readonly reason: string };

/** The run session as a step sees it: everything but starting and closing actions, which are the runner's. */
export type StepSession = Omit<RunSession, 'begin' | 'finish' | 'interrupt' | 'letGo' | 'adopt' | 'skip' | 'confirm' | 'reset' | 'refused' | 'note' | 'judgeFailures' | 'dispose' | 'reload'>;

/** One action the runner has recorded as started (`id` names it in the journal). */
export interface ActionRecord {
  readonly id: string;
  readonly target: Target;
}

export interface ActionContext {
  readonly cluster: Cluster;
  readonly session: StepSession;
  /** The step, or one node of it when the action was started from a node item. */
  readonly target: Target;
  readonly log: ActionLog;
  readonly signal: AbortSignal;
  /** Where the action is on a node now, as a person reads it (progress.ts); not recorded. */
  readonly progress?: ProgressReporter;
  /**
   * One action on `target` (this step, or another one whose proof this step takes, as step 4's Run
   * records step 5's check): its start is recorded now, its outcome when `work` returns; a throw is
   * recorded as failed with its message and passed on.
   */
  act<T extends Outcome>(target: Target, kind: ActionKind, work: (a: ActionRecord) => Promise<T>): Promise<T>;
  /**
   * `act` on `step` for each node at once, as listr2's subtasks: every start is recorded first, then
   * each node's outcome as its own work ends (ucd1 may pass while ucd2 still runs). Resolves when
   * all have ended, in the nodes' order; the first throw is passed on once all have ended.
   */
  eachNode<T extends Outcome>(nodes: readonly ClusterNode[], step: StepId, kind: ActionKind, work: (node: ClusterNode, a: ActionRecord) => Promise<T>): Promise<T[]>;
  /** An action an earlier owner started and left running detached: adopted now, its outcome recorded as `act` does. */
  resume<T extends Outcome>(id: string, target: Target, kind: ActionKind, work: (a: ActionRecord) => Promise<T>): Promise<T>;
}

export type StepHandler = (ctx: ActionContext) => Promise<void>;

/** An action a step does not offer in this version, and what to do instead. */
export interface Unavailable {
  readonly unavailable: string;
}

export interface StepHandlers {
  readonly run: StepHandler | Unavailable;
  readonly check: StepHandler | Unavailable;
}

/** A step's handlers when it offers both actions (every step module's shape today). */
export interface RunAndCheck extends StepHandlers {
  readonly run: StepHandler;
  readonly check: StepHandler;
}

/** Every step's Run and Check: a step missing here does not compile. */
export type HandlerTable = Readonly<Record<StepId, StepHandlers>>;

export function handlerOf(h: StepHandler | Unavailable): StepHandler | undefined {
  return typeof h === 'function' ? h : undefined;
}

/** A finding with the optional parts only when they say something (the journal omits them then). */
export function finding(verdict: Verdict, evidence: readonly string[], hint?: string, facts?: NodeFacts): Finding {
  return { verdict, evidence, ...(hint ? { hint } : {}), ...(facts ? { facts } : {}) };
}
