// The status view's own look at the cluster when it opens: one read-only round trip per node (the
// composed probe of probes/node.ts: pid file, ports, processes, version, systemd), all nodes in
// parallel. Nothing is written to a node or to the journal. A node where an action of the run is
// working is left alone: that action's own result is fresher, and an extra channel beside an
// installer could take the slot its guard or input needs.
import type { Cluster, ClusterNode } from '../cluster/types';
import type { NodeProbe } from '../probes/node';
import { nodesOf, targetKey, type RunState } from '../runbook/state';
import { STEPS } from '../runbook/steps';
import type { NodeFacts } from './facts';
import { factsFromProbe } from './fromProbe';

/** What the status view's own probe of one node found, the last time it answered. */
export type Look =
  | { readonly kind: 'probed'; readonly at: string; readonly facts: NodeFacts }
  /** The probe ran but gave no facts (or could not reach the node): what happened and what to do. */
  | { readonly kind: 'failed'; readonly at: string; readonly facts: NodeFacts; readonly message: string; readonly hint: string }
  | { readonly kind: 'left'; readonly at: string; readonly why: string };

export type LookPlan = readonly ({ readonly node: ClusterNode; readonly probe: true } | { readonly node: ClusterNode; readonly probe: false; readonly why: string })[];

export interface LookPlanOptions {
  /** false in an untrusted workspace: nothing runs on any node there. */
  readonly trusted: boolean;
}

/** Pure: which nodes may be probed now, and why each other one is left alone. */
export function lookPlan(cluster: Cluster, state: RunState, opts: LookPlanOptions): LookPlan {
  return cluster.nodes.map((node) => {
    if (!opts.trusted) return { node, probe: false as const, why: 'not probed: this workspace is not trusted, so nothing runs on any node. Trust the workspace to see the live state.' };
    if (node.os === 'windows') return { node, probe: false as const, why: `not probed: ${node.name} is a Windows node, which the probes do not support yet` };
    const busy = STEPS.find((def) => nodesOf(def, cluster).includes(node.name) && state.get(targetKey(def.id, node.name))?.status === 'running');
    if (busy) {
      const n = STEPS.indexOf(busy) + 1;
      return { node, probe: false as const, why: `not probed: step ${n} (${busy.title}) is working on ${node.name}; its own result updates this row` };
    }
    return { node, probe: true as const };
  });
}

/** A finished probe as a Look. */
export function lookOf(probe: NodeProbe, at: string): Look {
  const facts = factsFromProbe(probe);
  if (probe.kind === 'probed') return { kind: 'probed', at, facts };
  if (probe.kind === 'unsupported') return { kind: 'left', at, why: `not probed: ${probe.reason}` };
  return { kind: 'failed', at, facts, message: probe.message, hint: probe.hint };
}

export type ProbeFn = (node: ClusterNode, signal: AbortSignal) => Promise<NodeProbe>;

export interface LookListener {
  /** A probe of the node went out (ISO time); what was seen before stays shown until it answers. */
  started(node: string, since: string): void;
  answered(node: string, look: Look): void;
}

/**
 * Probes every node the plan allows, all at once, telling `to` of each as it starts and as it
 * answers. Resolves when every node has answered. Never throws: a failure is the node's Look.
 */
export async function lookAtCluster(plan: LookPlan, probe: ProbeFn, to: LookListener, signal: AbortSignal, now: () => Date = () => new Date()): Promise<void> {
  const onLook = (node: string, look: Look) => to.answered(node, look);
  await Promise.all(plan.map(async (p) => {
    if (!p.probe) {
      onLook(p.node.name, { kind: 'left', at: now().toISOString(), why: p.why });
      return;
    }
    to.started(p.node.name, now().toISOString());
    let look: Look;
    try {
      look = lookOf(await probe(p.node, signal), now().toISOString());
    } catch (e) {
      look = { kind: 'failed', at: now().toISOString(), facts: {}, message: `${p.node.name}: ${(e as Error).message}`, hint: 'See the UCD Upgrade log, fix the cause, then Check again.' };
    }
    if (!signal.aborted) onLook(p.node.name, look);
  }));
}
