// Step 4 "Shut down the servers": each node's own stop command (the cluster file's service
// command, run exactly as the user wrote it), all nodes in parallel, then the step-5 check by
// itself — a stop command that exits 0 proves nothing until the probes agree.
import type { ClusterNode } from '../cluster/types';
import type { Verdict } from '../journal/events';
import { RemoteError, type ExecResult } from '../remote/transport';
import { finding, type ActionContext, type RunAndCheck, type StepHandler } from '../runbook/actions';
import { failureOf } from '../probes/node';
import { logExec } from '../probes/logRecord';
import {
  checkStopped,
  nodesOf,
  probeStopped,
  stopLeftovers,
  type Confirm,
  type StoppedEvaluation,
  type StoppedOptions,
  type TransportFor,
} from './verifyStopped';
import { controlCommand, serviceControl } from './systemd';
import { pause } from './pause';

export interface ShutdownOptions extends StoppedOptions {
  /** Limit for one node's stop command. */
  readonly stopTimeoutMs?: number;
  /** After the stop command, how long to wait for the probes to show the server gone. */
  readonly settleMs?: number;
  readonly pollMs?: number;
}

export const DEFAULT_STOP_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_SETTLE_MS = 60_000;
const DEFAULT_POLL_MS = 2_000;

export interface ShutdownNodeResult {
  readonly node: string;
  readonly verdict: Verdict;
  readonly evidence: readonly string[];
  readonly hint?: string;
  readonly stop?: ExecResult;
  /** The stopped-check at the end of the wait. */
  readonly stopped?: StoppedEvaluation;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim());
  return lines[lines.length - 1]?.trim() ?? '';
}

/** Streams a command's output to the log line by line, prefixed with the node. */
function lineLogger(emit: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        emit(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    },
    flush() {
      if (buf) emit(buf);
      buf = '';
    },
  };
}

async function stopOneNode(ctx: ActionContext, node: ClusterNode, transportFor: TransportFor, opts: ShutdownOptions): Promise<ShutdownNodeResult> {
  let result: ShutdownNodeResult;
  try {
    // systemctl or the service command: the cluster file's serviceManager and the node's units decide.
    const before = (await probeStopped(ctx, node, transportFor, opts, false)).probe;
    if (before.kind === 'failed') throw new RemoteError(before.remoteKind ?? 'protocol', node.name, before.message, before.hint);
    const control = serviceControl(node, before, 'stop');
    if (control.kind === 'refused') {
      ctx.log.error(`[${node.name}] not stopped: ${control.why} — ${control.hint}`);
      return { node: node.name, verdict: 'failed', evidence: ['nothing was stopped', control.why], hint: control.hint };
    }
    const command = controlCommand(control, 'stop');
    const how = control.kind === 'systemctl' ? `systemctl stop ${control.unit}` : 'stop command';
    // systemctl needs root; the service scripts run as the install's owner.
    const transport = await transportFor(node, control.kind === 'systemctl' ? 'root' : 'owner');
    ctx.log.info(`[${node.name}] stop (${control.why}): $ ${command}`);
    const out = lineLogger((l) => ctx.log.info(`[${node.name}] | ${l}`));
    const err = lineLogger((l) => ctx.log.warn(`[${node.name}] ! ${l}`));
    // The stop command is the user's own shell command; nothing of ours is interpolated into it.
    // Standard input is empty and closed, so a script that asks a question fails instead of hanging.
    const stop = await transport.exec(command, {
      stdin: '',
      timeoutMs: opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      signal: ctx.signal,
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
    out.flush();
    err.flush();
    logExec(ctx.log, node.name, how, command, undefined, { ...stop, stdout: '', stderr: '' });
    const seconds = (stop.durationMs / 1000).toFixed(1);
    const stopLine = stop.code === 0
      ? `${how} exited 0 after ${seconds} s`
      : `${how} ${stop.code === null ? `ended by signal ${stop.signal ?? '?'}` : `exited ${stop.code}`} after ${seconds} s${lastLine(stop.stderr || stop.stdout) ? `: ${lastLine(stop.stderr || stop.stdout)}` : ''}`;

    // A service script often returns before the JVM is gone: wait until the probes agree.
    const deadline = Date.now() + (opts.settleMs ?? DEFAULT_SETTLE_MS);
    let stopped = (await probeStopped(ctx, node, transportFor, opts)).evaluation;
    // Only a node that answered is worth polling; unreachable or unsupported will not change by waiting.
    while (stopped.verdict !== 'passed' && stopped.facts.reachable === true && Date.now() < deadline && !ctx.signal.aborted) {
      await pause(opts.pollMs ?? DEFAULT_POLL_MS, ctx.signal);
      stopped = (await probeStopped(ctx, node, transportFor, opts, false)).evaluation;
    }
    const isStopped = stopped.verdict === 'passed';
    const verdict: Verdict = isStopped ? (stop.code === 0 ? 'passed' : 'warning') : 'failed';
    const hint = isStopped
      ? stop.code === 0 ? undefined : `The server is stopped, but the stop command failed; look at its output in the log.`
      : stopped.facts.reachable === true
        ? `Still running after the stop command — Run step 5 to stop what is left.`
        : stopped.hint;
    result = { node: node.name, verdict, evidence: [stopLine, ...stopped.evidence], ...(hint ? { hint } : {}), stop, stopped };
  } catch (e) {
    const f = failureOf(node.name, e);
    ctx.log.error(`[${node.name}] ${f.message} — ${f.hint}`);
    result = { node: node.name, verdict: 'failed', evidence: [f.message], hint: f.hint };
  }
  return result;
}

/**
 * Run of step 4: every node's stop command in parallel, each followed by waiting for the server to
 * be gone; then the step-5 check on its own, recorded as step 5's result.
 */
export async function shutDownServers(ctx: ActionContext, transportFor: TransportFor, opts: ShutdownOptions = {}): Promise<ShutdownNodeResult[]> {
  const nodes = nodesOf(ctx.cluster, ctx.target);
  const results = await ctx.eachNode(nodes, 'stop', 'run', async (n) => {
    const r = await stopOneNode(ctx, n, transportFor, opts);
    return { ...r, ...finding(r.verdict, r.evidence, r.hint, r.stopped?.facts) };
  });
  await checkStopped({ ...ctx, target: { step: 'verifyStopped', ...(ctx.target.node !== undefined ? { node: ctx.target.node } : {}) } }, transportFor, opts, 'verifyStopped');
  return results;
}

export interface StoppedHandlerDeps {
  readonly transportFor: TransportFor;
  /** Asks the user a yes/no question; `detail` lists exactly what will be done. */
  readonly confirm: Confirm;
  /** Asks before step 5 masks a systemd unit for the upgrade. */
  readonly confirmMask?: Confirm;
  readonly options?: ShutdownOptions;
}

/** The handlers of steps 4 and 5, for the extension's HandlerTable. */
export function stoppedHandlers(deps: StoppedHandlerDeps): { readonly stop: RunAndCheck; readonly verifyStopped: RunAndCheck } {
  const opts = deps.options ?? {};
  const stopRun: StepHandler = async (ctx) => {
    await shutDownServers(ctx, deps.transportFor, opts);
  };
  const stopCheck: StepHandler = async (ctx) => {
    await checkStopped(ctx, deps.transportFor, opts, 'stop');
  };
  const verifyRun: StepHandler = async (ctx) => {
    await stopLeftovers(ctx, { transportFor: deps.transportFor, confirm: deps.confirm, ...(deps.confirmMask ? { confirmMask: deps.confirmMask } : {}) }, opts);
  };
  const verifyCheck: StepHandler = async (ctx) => {
    await checkStopped(ctx, deps.transportFor, opts, 'verifyStopped');
  };
  return { stop: { run: stopRun, check: stopCheck }, verifyStopped: { run: verifyRun, check: verifyCheck } };
}
