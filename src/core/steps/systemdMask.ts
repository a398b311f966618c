// Masking for the upgrade: step 5 offers to mask a unit that would bring the server back (enabled
// with Restart=, or running), and the restart steps (8, 10) unmask what this run masked. Each is
// recorded as its own journal event and in the action's evidence, so both reach the report.
import type { ClusterNode } from '../cluster/types';
import type { JournalEvent, Target } from '../journal/events';
import { logExec } from '../probes/logRecord';
import { failureOf, SH_STDIN_COMMAND, type NodeProbe } from '../probes/node';
import { describeUnit, unitMasked, unitRestartsByItself, unitRuns, type SystemdUnit } from '../probes/systemd';
import type { ActionContext } from '../runbook/actions';
import { sh } from '../remote/quote';
import type { Transport } from '../remote/transport';
import { systemctlFailure, unitActionCommand, unitsOf } from './systemd';

export type Confirm = (question: string, detail: string) => Promise<boolean>;
type TransportFor = (node: ClusterNode) => Promise<Transport>;

/** The two answers of the mask dialog; the safe one is the default. */
export const MASK_ANSWER = 'Mask for the Upgrade';
export const LEAVE_UNMASKED_ANSWER = 'Leave It Unmasked';

/** The units this run masked on a node and has not unmasked since, from the journal. */
export function maskedByRun(events: readonly JournalEvent[], node: string): string[] {
  const masked = new Set<string>();
  for (const e of events) {
    if (e.type !== 'service-unit' || e.node !== node) continue;
    if (e.action === 'masked') masked.add(e.unit);
    else masked.delete(e.unit);
  }
  return [...masked];
}

/** Pure: the units step 5 offers to mask on a node: those that would start the server again. */
export function unitsToMask(probe: NodeProbe): SystemdUnit[] {
  if (probe.kind !== 'probed') return [];
  return unitsOf(probe).filter((u) => !unitMasked(u) && (unitRestartsByItself(u) || unitRuns(u)));
}

export interface UnitOutcome {
  readonly lines: readonly string[];
  readonly ok: boolean;
  /** Something changed on the node (a unit was stopped): probe it again. */
  readonly changed: boolean;
}

async function runUnitScript(ctx: Pick<ActionContext, 'log' | 'signal'>, node: ClusterNode, transportFor: TransportFor, what: string, script: string): Promise<{ ok: true } | { ok: false; message: string; hint: string }> {
  try {
    const t = await transportFor(node);
    const r = await t.exec(SH_STDIN_COMMAND, { stdin: `${script}\n`, timeoutMs: 120_000, signal: ctx.signal });
    logExec(ctx.log, node.name, what, SH_STDIN_COMMAND, script, r);
    if (r.code === 0) return { ok: true };
    return { ok: false, ...systemctlFailure(node.name, script, r.code, `${r.stdout}\n${r.stderr}`) };
  } catch (err) {
    const f = failureOf(node.name, err);
    return { ok: false, message: f.message, hint: f.hint };
  }
}

/**
 * Step 5: asks, node by node, whether to mask its units for the upgrade (and stop one that runs),
 * then does what was agreed. Returns each node's lines; nothing is done without a yes.
 */
export async function offerMasks(
  ctx: ActionContext,
  probes: readonly { node: ClusterNode; probe: NodeProbe }[],
  transportFor: TransportFor,
  confirm: Confirm,
  target: (node: string) => Target,
): Promise<Map<string, UnitOutcome>> {
  const out = new Map<string, UnitOutcome>();
  for (const { node, probe } of probes) {
    const units = unitsToMask(probe);
    if (units.length === 0 || ctx.signal.aborted) continue;
    const running = units.filter(unitRuns);
    const detail = [
      ...units.map((u) => `${unitActionCommand('mask', u.name)}    # ${describeUnit(u)}`),
      ...running.map((u) => `systemctl stop -- ${u.name}    # it runs: stopped after masking, so it cannot come back`),
      `"${MASK_ANSWER}" masks ${units.length === 1 ? 'it' : 'them'} in /run only (gone at the next boot); steps 8 and 10 unmask ${units.length === 1 ? 'it' : 'them'} before starting the server. "${LEAVE_UNMASKED_ANSWER}" changes nothing on ${node.name}.`,
    ].join('\n');
    const q = `${node.name}: systemd can start the server again while it is being upgraded (${units.map((u) => u.name).join(', ')}). Mask ${units.length === 1 ? 'it' : 'them'} for the upgrade?`;
    if (!(await confirm(q, detail))) {
      out.set(node.name, { lines: units.map((u) => `declined: mask ${u.name} (${describeUnit(u)})`), ok: true, changed: false });
      continue;
    }
    const lines: string[] = [];
    let ok = true;
    let changed = false;
    for (const u of units) {
      const script = unitActionCommand('mask', u.name);
      const r = await runUnitScript(ctx, node, transportFor, `mask ${u.name}`, script);
      if (!r.ok) {
        ok = false;
        lines.push(r.message);
        ctx.log.error(`[${node.name}] ${r.message} — ${r.hint}`);
        continue;
      }
      ctx.session.serviceUnit(target(node.name), 'masked', u.name, script);
      lines.push(`masked ${u.name} for the upgrade (systemctl mask --runtime); steps 8 and 10 unmask it`);
      if (unitRuns(u)) {
        const stop = sh`systemctl --no-ask-password stop -- ${u.name}`.text;
        const s = await runUnitScript(ctx, node, transportFor, `stop ${u.name}`, stop);
        changed = true;
        if (s.ok) lines.push(`stopped ${u.name} (systemctl stop)`);
        else {
          ok = false;
          lines.push(s.message);
        }
      }
    }
    out.set(node.name, { lines, ok, changed });
  }
  return out;
}

/**
 * Steps 8 and 10, before the start: unmasks what this run masked on the node. A unit masked by
 * someone else is left alone and named: it is not ours to undo.
 */
export async function unmaskForStart(ctx: ActionContext, node: ClusterNode, probe: NodeProbe, transportFor: TransportFor, target: Target): Promise<UnitOutcome> {
  const ours = new Set(maskedByRun(ctx.session.journal.events, node.name));
  const lines: string[] = [];
  let ok = true;
  for (const name of ours) {
    const script = unitActionCommand('unmask', name);
    const r = await runUnitScript(ctx, node, transportFor, `unmask ${name}`, script);
    if (!r.ok) {
      ok = false;
      lines.push(`${r.message} — ${r.hint}`);
      continue;
    }
    ctx.session.serviceUnit(target, 'unmasked', name, script);
    lines.push(`unmasked ${name} (masked by step 5 for the upgrade)`);
  }
  if (probe.kind === 'probed') {
    for (const u of unitsOf(probe)) if (unitMasked(u) && !ours.has(u.name)) lines.push(`note: ${u.name} is masked, not by this run: left masked`);
  }
  return { lines, ok, changed: ours.size > 0 };
}
