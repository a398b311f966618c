// Step 6: before 6.1.1.5 some folders lived in each install; the new version expects them in the
// shared appdata folder. Check shows exactly what must move where; Run moves it after the
// engineer confirmed the full list, never overwriting, and leaves conflicts to a person.
import type { Rights } from '../remote/privilege';
import type { ClusterNode } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import { probeNode } from '../probes/node';
import { storageStepApplies } from '../runbook/gates';
import { factsFromProbe } from '../status/fromProbe';
import { finding, type ActionContext, type Finding, type RunAndCheck } from '../runbook/actions';
import { RemoteError, type Transport } from '../remote/transport';
import { describeMove, parseMoveOutput, parseStorageProbe, planStorage, storageMoveScript, storageProbeScript, storageVerdict, type NodeStorageProbe, type StoragePlan } from '../ucd/storage';
import { loggedExec } from './loggedExec';

export interface StorageDeps {
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  confirm(question: string, detail: string): Promise<boolean>;
}

const TARGET = { step: 'storage' } as const;

class StepFailure extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** Probes every node (first node first: its copy is the one that moves) and plans. */
async function plan(ctx: ActionContext, deps: StorageDeps): Promise<StoragePlan> {
  const ordered = [...ctx.cluster.nodes].sort((a, b) => Number(b.name === ctx.cluster.firstNode) - Number(a.name === ctx.cluster.firstNode));
  const probes: NodeStorageProbe[] = await Promise.all(ordered.map(async (node) => {
    const t = await deps.transportFor(node, 'owner');
    // du over a big var/repository on network storage can take minutes.
    const r = await loggedExec(t, storageProbeScript(node.installDir, ctx.cluster.sharedAppdata).text, ctx.log, { describe: 'storage layout probe', timeoutMs: 15 * 60_000, signal: ctx.signal });
    const parsed = parseStorageProbe(r.stdout);
    if (!parsed.ok) throw new StepFailure(`${node.name}: ${parsed.problem}`, 'See the log for the probe output.');
    return { node: node.name, installDir: node.installDir, probe: parsed.probe };
  }));
  return planStorage(probes, ctx.cluster.sharedAppdata);
}

function planFinding(ctx: ActionContext, p: StoragePlan): Finding {
  const v = storageVerdict(p);
  for (const line of v.evidence) (v.verdict === 'passed' ? ctx.log.info : ctx.log.warn).call(ctx.log, `[storage] ${line}`);
  return finding(v.verdict, v.evidence, v.hint);
}

async function act(ctx: ActionContext, deps: StorageDeps, kind: 'run' | 'check'): Promise<Finding> {
  try {
    // The nodes' own installed.version decides, not only the cluster file's word for it.
    const read = await Promise.all(ctx.cluster.nodes.map(async (n) => ({ node: n.name, version: factsFromProbe((await probeNode(() => deps.transportFor(n, 'root'), n, { signal: ctx.signal })).probe).version })));
    const seen = read.map((r) => `${r.node} ${r.version ?? 'unreadable'}`).join(', ');
    const old = read.filter((r) => r.version !== undefined && compareVersions(r.version, '6.1.1.5') < 0);
    if (!storageStepApplies(ctx.cluster)) {
      if (old.length) {
        return { verdict: 'failed', evidence: [`installed versions: ${seen}`, `the cluster file says the upgrade starts at ${ctx.cluster.currentVersion}, but ${old.map((r) => r.node).join(', ')} run a version before 6.1.1.5`], hint: 'Fix currentVersion in the cluster file: the storage layout must be updated before the installer runs.' };
      }
      return { verdict: 'passed', evidence: [`not needed: the upgrade starts at ${ctx.cluster.currentVersion}, 6.1.1.5 or later`, `installed versions: ${seen}`] };
    }
    ctx.log.info(`[storage] installed versions: ${seen}`);
    const before = await plan(ctx, deps);
    if (kind === 'check' || before.nothingToDo || before.problems.length || before.moves.length === 0) return planFinding(ctx, before);
    const detail = [
      ...before.moves.map(describeMove),
      ...(before.conflicts.length ? ['', 'Left for you to decide (nothing is overwritten):', ...before.conflicts.map((c) => c.message)] : []),
    ].join('\n');
    const question = `Move ${before.moves.length} item(s) into the shared appdata folder ${ctx.cluster.sharedAppdata}?`;
    const yes = await deps.confirm(question, detail);
    ctx.session.decided({ kind: 'confirmation', question: `${question} ${before.moves.map(describeMove).join('; ')}`, answer: yes ? 'yes' : 'no' }, { step: 'storage' });
    if (!yes) {
      ctx.log.info('[storage] move declined; nothing was moved');
      return planFinding(ctx, before);
    }
    for (const node of ctx.cluster.nodes) {
      const moves = before.moves.filter((m) => m.node === node.name);
      if (!moves.length) continue;
      const t = await deps.transportFor(node, 'owner');
      const r = await loggedExec(t, storageMoveScript(moves).text, ctx.log, { describe: `move ${moves.length} item(s) into ${ctx.cluster.sharedAppdata}`, timeoutMs: 60 * 60_000, signal: ctx.signal });
      const result = parseMoveOutput(r.stdout, moves);
      for (const m of result.moved) ctx.log.info(`[${node.name}] moved ${describeMove(m)}`);
      for (const x of result.refused) ctx.log.warn(`[${node.name}] not moved (${x.why}): ${describeMove(x.move)}`);
      if (result.failed) ctx.log.error(`[${node.name}] ${result.failed.at} failed at ${describeMove(result.failed.move)}`);
    }
    return planFinding(ctx, await plan(ctx, deps));
  } catch (e) {
    const hint = e instanceof StepFailure || e instanceof RemoteError ? e.hint : 'Read the log and run again.';
    ctx.log.error(`[storage] ${(e as Error).message}`);
    return { verdict: 'failed', evidence: [(e as Error).message], hint };
  }
}

export function storageHandlers(deps: StorageDeps): RunAndCheck {
  return {
    run: async (ctx) => void (await ctx.act(TARGET, 'run', () => act(ctx, deps, 'run'))),
    check: async (ctx) => void (await ctx.act(TARGET, 'check', () => act(ctx, deps, 'check'))),
  };
}
