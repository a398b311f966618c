// Step 2: no application or generic process may run during the upgrade. Check lists what the
// Dashboard shows as running; Run lets the engineer cancel chosen ones (after a confirmation) or
// wait until none remain. Every outcome is recorded with what was seen.
import type { ActionContext, Finding, RunAndCheck } from '../runbook/actions';
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

async function check(ctx: ActionContext, deps: ProcessesDeps): Promise<Finding> {
  try {
    const running = await deps.client().blocking(ctx.signal);
    return record(ctx, running);
  } catch (e) {
    const f = await failure(e, deps);
    ctx.log.error(`[ucd] current activity: ${f.evidence[0]}`);
    return { verdict: 'failed', evidence: f.evidence, hint: f.hint };
  }
}

function record(ctx: ActionContext, running: readonly RunningProcess[]): Finding {
  if (running.length === 0) {
    ctx.log.info('[ucd] current activity: no application or generic process is running');
    return { verdict: 'passed', evidence: ['no application or generic process running'] };
  }
  for (const p of running) ctx.log.warn(`[ucd] running: ${describeProcess(p)}`);
  return { verdict: 'failed', evidence: running.map(describeProcess), hint: 'Wait for them to finish or cancel them (Run), then check again.' };
}

async function run(ctx: ActionContext, deps: ProcessesDeps): Promise<Finding> {
  try {
    // Before the drain, so nothing new starts behind it (only with ucd.maintenanceMode).
    const maintenance = await maintenanceOn(ctx, deps);
    if (!maintenance.ok) return { verdict: 'failed', evidence: [maintenance.evidence], hint: maintenance.hint };
    const client = deps.client();
    const running = await client.blocking(ctx.signal);
    if (running.length === 0) return record(ctx, running);
    const choice = await deps.choose(running);
    if (!choice) {
      ctx.log.info('[ucd] nothing cancelled: the question was dismissed');
      return record(ctx, running);
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
        return record(ctx, running);
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
    return record(ctx, []);
  } catch (e) {
    const f = await failure(e, deps);
    ctx.log.error(`[ucd] ${f.evidence[0]}`);
    return { verdict: 'failed', evidence: f.evidence, hint: f.hint };
  }
}

export function processesHandlers(deps: ProcessesDeps): RunAndCheck {
  return {
    check: async (ctx) => void (await ctx.act(TARGET, 'check', () => check(ctx, deps))),
    run: async (ctx) => void (await ctx.act(TARGET, 'run', () => run(ctx, deps))),
  };
}
