// The engine's judgements over output another tool collected (the Ansible export runs the engine's
// probe scripts on the nodes, then asks here): the same parsers and rules the runbook's steps use.
import type { Cluster } from '../cluster/types';
import { buildNodeProbe, parseNodeProbe } from '../probes/node';
import { evaluateStopped } from '../steps/verifyStopped';
import { evaluateBackup, parseBackupProbe } from '../steps/backup-verify';
import { blockingProcesses, describeProcess, parseCurrentActivity } from '../ucd/rest/activity';
import { summarizeTranscript } from '../ucd/installer';

/** ok: go on; blocked: a gate says no (the play must stop); failed: the thing itself went wrong. */
export interface Judgement {
  readonly kind: 'ok' | 'blocked' | 'failed';
  /** For a person: what was found, and what to do next. */
  readonly lines: readonly string[];
  /** Machine-readable extra for the playbook (e.g. what to cancel). */
  readonly data?: unknown;
}

function nodeOf(cluster: Cluster, name: string) {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`There is no node "${name}" in the cluster file (nodes: ${cluster.nodes.map((n) => n.name).join(', ')}).`);
  return node;
}

export function judgeStopped(cluster: Cluster, nodeName: string, nonce: string, stdout: string, exitCode: number | null): Judgement {
  const node = nodeOf(cluster, nodeName);
  const built = buildNodeProbe(node, { appdataDir: cluster.sharedAppdata, nonce });
  const probe = parseNodeProbe(node, built, { code: exitCode, stdout, stderr: '', durationMs: 0 });
  const e = evaluateStopped(probe);
  const lines = [`${node.name}: ${e.verdict === 'passed' ? 'proven stopped' : 'NOT proven stopped'}`, ...e.evidence.map((l) => `  ${l}`), ...(e.hint ? [`  next: ${e.hint}`] : [])];
  return { kind: e.verdict === 'passed' ? 'ok' : 'blocked', lines };
}

export function judgeBackup(stdout: string, input: { artifact: string; where: string; notBeforeMs: number; localNowMs: number }): Judgement {
  const parsed = parseBackupProbe(stdout);
  if (!parsed.ok) return { kind: 'failed', lines: [`The backup probe's output could not be read: ${parsed.problem}`] };
  const v = evaluateBackup(parsed.probe, input);
  if (v.verdict === 'failed') return { kind: 'failed', lines: [v.reason, ...v.evidence.map((l) => `  ${l}`), `  next: ${v.hint}`] };
  return { kind: 'ok', lines: [...v.evidence, ...(v.reason ? [v.reason] : [])], data: { sha256: v.sha256 ?? null, size: v.size } };
}

export function judgeProcesses(body: string): Judgement {
  const parsed = parseCurrentActivity(body);
  if (!parsed.ok) return { kind: 'failed', lines: [`UCD's list of running processes could not be read: ${parsed.problem}. Check the Dashboard by hand.`] };
  const blocking = blockingProcesses(parsed.items);
  if (blocking.length === 0) return { kind: 'ok', lines: ['No application or generic process is running.'], data: [] };
  const uncancellable = blocking.filter((p) => p.cancelId === undefined);
  return {
    kind: uncancellable.length ? 'failed' : 'blocked',
    lines: [
      `${blocking.length} process${blocking.length > 1 ? 'es are' : ' is'} running and would be cut off by the upgrade:`,
      ...blocking.map((p) => `  ${describeProcess(p)}`),
      ...(uncancellable.length ? [`  ${uncancellable.length} of them carry no id to cancel them by: cancel them in the UCD Dashboard.`] : []),
    ],
    data: blocking.map((p) => ({ name: p.name, kind: p.kind, cancelId: p.cancelId ?? null })),
  };
}

export function judgeInstaller(cluster: Cluster, nodeName: string, transcript: string, exitCode: number | null | undefined): Judgement {
  const node = nodeOf(cluster, nodeName);
  const outcome = summarizeTranscript(transcript, { cluster, node, mode: 'silent' }, exitCode);
  switch (outcome.kind) {
    case 'upgraded':
      return { kind: 'ok', lines: [`${node.name}: the installer upgraded it to ${outcome.to}${outcome.schemaUpgraded ? ' and upgraded the database schema' : ''}`] };
    case 'refused':
    case 'aborted':
      return { kind: 'failed', lines: [`${node.name}: ${outcome.message}`, `  next: ${outcome.hint}`] };
    case 'handed-over':
      return { kind: 'failed', lines: [`${node.name}: the installer stopped at a question the silent run cannot answer: ${outcome.prompt}`, `  ${outcome.message}`] };
  }
}
