// Step handlers: what Run and Check do for each step. Steps without one say so plainly instead of
// pretending; later work fills this table.
import type { Cluster } from '../cluster/types';
import type { Target } from '../journal/events';
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

export interface ActionContext {
  readonly cluster: Cluster;
  readonly session: RunSession;
  /** The step, or one node of it when the action was started from a node item. */
  readonly target: Target;
  readonly log: ActionLog;
  readonly signal: AbortSignal;
  /** Where the action is on a node now, as a person reads it (progress.ts); not recorded. */
  readonly progress?: ProgressReporter;
}

export type StepHandler = (ctx: ActionContext) => Promise<void>;

export interface StepHandlers {
  readonly run?: StepHandler;
  readonly check?: StepHandler;
}

export type HandlerTable = Partial<Record<StepId, StepHandlers>>;
