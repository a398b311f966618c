// Step 2: no application or generic process may run during the upgrade. Check lists what the
// Dashboard shows as running; Run lets the engineer cancel chosen ones (after a confirmation) or
// wait until none remain. Every outcome is recorded with what was seen.
import type { ActionContext, StepHandlers } from '../runbook/actions';
import type { RunningProcess } from '../ucd/rest/activity';
import { describeProcess } from '../ucd/rest/activity';
import type { UcdRestClient } from '../ucd/rest/client';
import { UcdRestError } from '../ucd/rest/errors';
import { trustWait } from '../trust/waiting';
import { maintenanceOn } from './maintenance';

export type ProcessesChoice =
  | { readonly kind: 'cancel'; readonly processes: readonly RunningProcess[] }
  | { readonly kind: 'wait' };

export interface ProcessesDeps {
  client(): UcdRestClient;
  /** Shows what runs and asks what to do; undefined = the user dismissed the question. */
  choose(running: readonly RunningProcess[]): Promise<ProcessesChoice | undefined>;
  /** A last yes/no before cancelling other people's deployments. */
  confirm(question: string, detail: string): Promise<boolean>;
  /** Poll interval while waiting; tests shorten it. */
  readonly pollIntervalMs?: number;
  readonly waitTimeoutMs?: number;
  /** The server refused the stored credentials: the editor forgets them so the next run asks. */
  onAuthRejected?(): Promise<void>;
}

const TARGET = { step: 'processes' } as const;

async function failure(e: unknown, deps: ProcessesDeps): Promise<{ evidence: string[]; hint: string }> {
  const waiting = trustWait(e);
  if (waiting) return waiting;
  if (e instanceof UcdRestError) {
    if (e.kind === 'auth') await deps.onAuthRejected?.();
    return { evidence: [e.message], hint: e.hint };
  }
  return { evidence: [(e as Error).message], hint: 'Check the Dashboard by hand, then Confirm Manually with a note.' };
}

async function check(ctx: ActionContext, deps: ProcessesDeps): Promise<void> {
  const id = ctx.session.begin(TARGET, 'check');
  try {
    const running = await deps.client().blocking(ctx.signal);
    record(ctx, id, 'check', running);
  } catch (e) {
    const f = await failure(e, deps);
    ctx.log.error(`[ucd] current activity: ${f.evidence[0]}`);
    ctx.session.finish(id, TARGET, 'check', 'failed', f.evidence, f.hint);
  }
}

function record(ctx: ActionContext, id: string, kind: 'run' | 'check', running: readonly RunningProcess[]): void {
  if (running.length === 0) {
    ctx.log.info('[ucd] current activity: no application or generic process is running');
    ctx.session.finish(id, TARGET, kind, 'passed', ['no application or generic process running']);
    return;
  }
  for (const p of running) ctx.log.warn(`[ucd] running: ${describeProcess(p)}`);
  ctx.session.finish(id, TARGET, kind, 'failed', running.map(describeProcess), 'Wait for them to finish or cancel them (Run), then check again.');
}

async function run(ctx: ActionContext, deps: ProcessesDeps): Promise<void> {
  const id = ctx.session.begin(TARGET, 'run');
  try {
    // Before the drain, so nothing new starts behind it (only with ucd.maintenanceMode).
    const maintenance = await maintenanceOn(ctx, deps);
    if (!maintenance.ok) return ctx.session.finish(id, TARGET, 'run', 'failed', [maintenance.evidence], maintenance.hint);
    const client = deps.client();
    const running = await client.blocking(ctx.signal);
    if (running.length === 0) return record(ctx, id, 'run', running);
    const choice = await deps.choose(running);
    if (!choice) {
      ctx.log.info('[ucd] nothing cancelled: the question was dismissed');
      return record(ctx, id, 'run', running);
    }
    if (choice.kind === 'cancel' && choice.processes.length) {
      const list = choice.processes.map(describeProcess);
      const ok = await deps.confirm(
        `Cancel ${choice.processes.length} running process${choice.processes.length === 1 ? '' : 'es'}?`,
        `${list.join('\n')}\n\nThis is the Dashboard's Cancel button: the deployments stop where they are.`,
      );
      if (!ok) {
        ctx.session.decided({ kind: 'confirmation', question: `Cancel in UCD: ${list.join('; ')}`, answer: 'no' }, TARGET);
        ctx.log.info('[ucd] cancel declined; nothing was cancelled');
        return record(ctx, id, 'run', running);
      }
      ctx.session.decided({ kind: 'cancel-processes', processes: list }, TARGET);
      for (const p of choice.processes) {
        await client.cancel(p, ctx.signal);
        ctx.log.info(`[ucd] cancelled ${describeProcess(p)}`);
      }
    }
    ctx.log.info('[ucd] waiting until no application or generic process runs…');
    await client.waitUntilNone({
      signal: ctx.signal,
      intervalMs: deps.pollIntervalMs ?? 5_000,
      timeoutMs: deps.waitTimeoutMs ?? 30 * 60_000,
      onPoll: (left) => ctx.log.info(`[ucd] still running: ${left.length ? left.map(describeProcess).join('; ') : 'none'}`),
    });
    record(ctx, id, 'run', []);
  } catch (e) {
    const f = await failure(e, deps);
    ctx.log.error(`[ucd] ${f.evidence[0]}`);
    ctx.session.finish(id, TARGET, 'run', 'failed', f.evidence, f.hint);
  }
}

export function processesHandlers(deps: ProcessesDeps): StepHandlers {
  return { check: (ctx) => check(ctx, deps), run: (ctx) => run(ctx, deps) };
}
