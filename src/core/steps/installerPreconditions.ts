// What must be true the moment an installer starts, proven by fresh probes and never read from
// the journal, so a gate the view or a runner forgot still stops the engine:
//  - step 7: every node proven stopped, and the storage layout updated when the upgrade starts
//    below 6.1.1.5;
//  - step 9: the first node upgraded and back online at the target version (its installed.version
//    and its login page), and every node not yet on the target stopped.
import type { Rights } from '../remote/privilege';
import type { ClusterNode } from '../cluster/types';
import { compareVersions } from '../cluster/version';
import type { ActionContext } from '../runbook/actions';
import { storageStepApplies } from '../runbook/gates';
import type { Transport } from '../remote/transport';
import { targetKey } from '../runbook/state';
import { parseStorageProbe, planStorage, storageProbeScript, storageVerdict, type NodeStorageProbe } from '../ucd/storage';
import type { TlsTrust } from '../ucd/rest/tls';
import { loggedExec } from './loggedExec';
import { onlineAt } from './start';
import { checkNodesStopped, type StoppedOptions } from './verifyStopped';

export type InstallStep = 'installFirst' | 'installOthers';

export interface ProofDeps {
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  readonly trust: TlsTrust;
  readonly stoppedOptions?: StoppedOptions;
}

export type Proof =
  /** `at`: when the probes that can go stale (servers stopped, first node online) were taken. */
  | { readonly ok: true; readonly at: number; readonly evidence: readonly string[] }
  | { readonly ok: false; readonly failures: readonly string[]; readonly hint: string };

const STORAGE_LAYOUT_CHANGED_IN = '6.1.1.5';

/** The nodes that must be down: all before the first node's upgrade, the others before theirs. */
async function stoppedNow(ctx: ActionContext, step: InstallStep, deps: ProofDeps, installing: string): Promise<{ failures: string[]; proven: string[]; old: string[] }> {
  const mustBeDown = ctx.cluster.nodes.filter((n) => step === 'installFirst' || n.name !== ctx.cluster.firstNode);
  ctx.log.info(`[installer] proving ${mustBeDown.map((n) => n.name).join(', ')} stopped before the installer on ${installing} starts`);
  const evals = await checkNodesStopped(ctx, mustBeDown, deps.transportFor, deps.stoppedOptions ?? {}, 'verifyStopped');
  const failures = evals
    .filter((e) => e.verdict !== 'passed')
    // While the other nodes upgrade, one the node itself shows on the target version may be back
    // online, like the first node; the node being installed and old-version nodes may not.
    .filter((e) => step === 'installFirst' || e.node === installing || e.facts.version !== ctx.cluster.targetVersion)
    .map((e) => `${e.node} is not proven stopped: ${e.evidence.join('; ')}`);
  const proven = evals.filter((e) => e.verdict === 'passed').map((e) => e.node);
  const old = evals.filter((e) => e.facts.version !== undefined && compareVersions(e.facts.version, STORAGE_LAYOUT_CHANGED_IN) < 0).map((e) => `${e.node} (${e.facts.version})`);
  return { failures, proven, old };
}

/** Step 6's check, probed now: nothing left to move, no folder problem; conflicts only if a person settled step 6. */
async function storageNow(ctx: ActionContext, deps: ProofDeps): Promise<string[]> {
  const ordered = [...ctx.cluster.nodes].sort((a, b) => Number(b.name === ctx.cluster.firstNode) - Number(a.name === ctx.cluster.firstNode));
  const probes: NodeStorageProbe[] = [];
  for (const node of ordered) {
    const t = await deps.transportFor(node, 'owner');
    const r = await loggedExec(t, storageProbeScript(node.installDir, ctx.cluster.sharedAppdata).text, ctx.log, { describe: 'storage layout probe (before the installer)', timeoutMs: 15 * 60_000, signal: ctx.signal });
    const parsed = parseStorageProbe(r.stdout);
    if (!parsed.ok) return [`${node.name}: the storage layout could not be read: ${parsed.problem}`];
    probes.push({ node: node.name, installDir: node.installDir, probe: parsed.probe });
  }
  const plan = planStorage(probes, ctx.cluster.sharedAppdata);
  const verdict = storageVerdict(plan);
  if (verdict.verdict === 'passed') return [];
  // A conflict is left for a person by design; their recorded decision on step 6 covers it.
  const step6 = ctx.session.state().get(targetKey('storage'));
  const decided = step6?.status === 'confirmed' || step6?.status === 'skipped';
  if (decided && plan.moves.length === 0 && plan.problems.length === 0) return [];
  return [`network storage is not updated (the upgrade starts at ${ctx.cluster.currentVersion}, before ${STORAGE_LAYOUT_CHANGED_IN}): ${verdict.evidence.join('; ')}`];
}

/** Step 9: the first node upgraded and serving the target version, seen now. */
async function firstNodeOnlineNow(ctx: ActionContext, deps: ProofDeps): Promise<{ ok: true; evidence: string } | { ok: false; failure: string }> {
  const first = ctx.cluster.nodes.find((n) => n.name === ctx.cluster.firstNode);
  if (!first) return { ok: false, failure: `the first node ${ctx.cluster.firstNode} is not in the cluster` };
  const target = ctx.cluster.targetVersion;
  const o = await onlineAt(ctx, deps, first, target);
  const installed = o.facts.version;
  if (!o.ok) return { ok: false, failure: `${first.name} (the first node) is not back online at ${target}: ${o.why}${installed ? `; conf/installed.version ${installed}` : ''}` };
  if (installed !== target) return { ok: false, failure: `${first.name} (the first node) is not upgraded: conf/installed.version is ${installed ?? 'unreadable'}, not ${target}` };
  return { ok: true, evidence: `${first.name} online at ${target}: ${o.evidence.join(', ')}, conf/installed.version ${installed}` };
}

/** Every precondition of `step` for installing `installing`, probed now. */
export async function provePreconditions(ctx: ActionContext, deps: ProofDeps, step: InstallStep, installing: string): Promise<Proof> {
  const failures: string[] = [];
  // Storage first: its probe (du over var/repository) can be slow, and it cannot go stale the way
  // a server that starts can; `at` is taken after it.
  if (step === 'installFirst' && storageStepApplies(ctx.cluster)) failures.push(...(await storageNow(ctx, deps)));
  const at = Date.now();
  const [stopped, first] = await Promise.all([
    stoppedNow(ctx, step, deps, installing),
    step === 'installOthers' ? firstNodeOnlineNow(ctx, deps) : Promise.resolve(undefined),
  ]);
  if (first && !first.ok) failures.push(first.failure);
  failures.push(...stopped.failures);
  if (step === 'installFirst' && !storageStepApplies(ctx.cluster) && stopped.old.length) {
    failures.push(`the cluster file says the upgrade starts at ${ctx.cluster.currentVersion}, but ${stopped.old.join(', ')} run a version before ${STORAGE_LAYOUT_CHANGED_IN}: the storage layout must be updated first`);
  }
  if (failures.length) {
    const hint = first && !first.ok
      ? `Bring ${ctx.cluster.firstNode} back online at ${ctx.cluster.targetVersion} first (steps 7 and 8); the other nodes upgrade only after it.`
      : failures.some((f) => f.startsWith('network storage') || f.includes('storage layout'))
        ? 'Update the network storage (step 6), or fix currentVersion in the cluster file, and run again.'
        : 'Stop every server (steps 4 and 5) and run again: a server touching the database during the upgrade breaks it.';
    return { ok: false, failures, hint };
  }
  return {
    ok: true,
    at,
    evidence: [
      ...(first?.ok ? [first.evidence] : []),
      `${stopped.proven.join(', ')} proven stopped`,
      ...(step === 'installFirst' && storageStepApplies(ctx.cluster) ? ['network storage layout updated (probed)'] : []),
    ],
  };
}
