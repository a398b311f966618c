// A run of the runbook for one cluster and one upgrade: the journal plus the state folded from it.
// Every change goes through the journal first, so what the views show is always what is on disk.
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Cluster } from '../cluster/types';
import { Journal, journalFileName, type SecretMask } from '../journal/journal';
import type { ActionKind, RequestKind, Target, Verdict } from '../journal/events';
import type { NodeFacts } from '../status/facts';
import { DEFAULT_GATE_OPTIONS, type GateOptions } from './gates';
import { danglingRuns, nodesOf, reduceJournal, splitKey, type RunState } from './state';
import { stepDef } from './steps';
import { runPhase, type Phase } from './phase';
import { deriveRunbook, type StepView } from './view';

export const JOURNAL_DIR = '.ucd-upgrade';

export class RunSession {
  private cached: RunState | undefined;
  private readonly listeners = new Set<() => void>();
  /** Lines of the journal that could not be read when it was opened (reported, never fatal). */
  readonly readIssues;
  /** Actions that were running when the last window closed; now marked interrupted. */
  readonly interruptedOnOpen: Target[] = [];

  private constructor(readonly cluster: Cluster, readonly journal: Journal, private readonly now: () => number) {
    this.readIssues = journal.issues;
  }

  static open(cluster: Cluster, workspaceDir: string, secrets?: SecretMask, now: () => number = Date.now): RunSession {
    const file = path.join(workspaceDir, JOURNAL_DIR, journalFileName(cluster.name, cluster.currentVersion, cluster.targetVersion));
    const journal = Journal.open(file, secrets);
    const session = new RunSession(cluster, journal, now);
    if (!journal.events.some((e) => e.type === 'run-opened')) {
      journal.append({ type: 'run-opened', ts: session.ts(), cluster: cluster.name, from: cluster.currentVersion, to: cluster.targetVersion, nodes: cluster.nodes.map((n) => n.name) });
    }
    for (const { key, id } of danglingRuns(session.state())) {
      const target = splitKey(key);
      journal.append({ type: 'interrupted', ts: session.ts(), id, ...target });
      session.interruptedOnOpen.push(target);
    }
    session.cached = undefined;
    return session;
  }

  get journalFile(): string {
    return this.journal.file;
  }

  state(): RunState {
    this.cached ??= reduceJournal(this.journal.events, this.cluster);
    return this.cached;
  }

  view(opts: GateOptions = DEFAULT_GATE_OPTIONS): StepView[] {
    return deriveRunbook(this.cluster, this.state(), this.now(), opts, this.phase());
  }

  phase(): Phase {
    return runPhase(this.journal.events, this.cluster);
  }

  /** The session's clock: gates are evaluated against it at the moment an action starts. */
  time(): number {
    return this.now();
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  skip(target: Target, reason: string): void {
    this.requireText(reason, 'A reason');
    this.record({ type: 'skipped', ts: this.ts(), reason: reason.trim(), ...this.checked(target) });
  }

  confirm(target: Target, note: string): void {
    this.requireText(note, 'A note');
    this.record({ type: 'confirmed', ts: this.ts(), note: note.trim(), ...this.checked(target) });
  }

  reset(target: Target, reason: string): void {
    this.record({ type: 'reset', ts: this.ts(), reason: reason.trim(), ...this.checked(target) });
  }

  /** The engine refused a request; the reasons are the gates' own words. Changes no step's state. */
  refused(target: Target, request: RequestKind, reasons: readonly string[]): void {
    this.record({ type: 'refused', ts: this.ts(), request, reasons, ...this.checked(target) });
  }

  /** A person's note beside a probe result: in the record, never counted as proof. */
  note(target: Target, note: string): void {
    this.requireText(note, 'A note');
    this.record({ type: 'noted', ts: this.ts(), note: note.trim(), ...this.checked(target) });
  }

  /** Records that an action started; the returned id closes it. */
  begin(target: Target, kind: ActionKind): string {
    const id = randomUUID();
    this.record({ type: 'started', ts: this.ts(), id, kind, ...this.checked(target) });
    return id;
  }

  finish(id: string, target: Target, kind: ActionKind, verdict: Verdict, evidence: readonly string[], hint?: string, facts?: NodeFacts): void {
    this.record({ type: 'finished', ts: this.ts(), id, kind, verdict, evidence, ...(hint ? { hint } : {}), ...(facts ? { facts } : {}), ...this.checked(target) });
  }

  private record(event: Parameters<Journal['append']>[0]): void {
    this.journal.append(event);
    this.cached = undefined;
    for (const l of this.listeners) l();
  }

  private ts(): string {
    return new Date(this.now()).toISOString();
  }

  private requireText(text: string, what: string): void {
    if (!text.trim()) throw new Error(`${what} is required.`);
  }

  private checked(target: Target): Target {
    const def = stepDef(target.step);
    if (target.node !== undefined && !nodesOf(def, this.cluster).includes(target.node)) {
      throw new Error(`Step "${def.title}" does not concern node ${target.node}.`);
    }
    return target.node === undefined ? { step: target.step } : { step: target.step, node: target.node };
  }
}
