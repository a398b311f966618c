// A run of the runbook for one cluster and one upgrade: the journal plus the state folded from it.
// Every change goes through the journal first, so what the views show is always what is on disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Cluster } from '../cluster/types';
import { Journal, journalFileName, type SecretMask } from '../journal/journal';
import type { ActionKind, Decision, JournalEvent, MaintenanceOutcome, RequestKind, Target, Verdict } from '../journal/events';
import { DEFAULT_LOCK_TIMING, describeOwner, OwnerLiveness, OwnerLock, type Claim, type LockTiming, type OwnerRecord } from '../journal/owner';
import type { DetachedRun } from '../remote/detached';
import type { NodeFacts } from '../status/facts';
import { DEFAULT_GATE_OPTIONS, type GateOptions } from './gates';
import { followingOf, type Following } from './following';
import { danglingRuns, nodesOf, reduceJournal, splitKey, targetKey, type RunState } from './state';
import { stepDef } from './steps';
import { runPhase, type Phase } from './phase';
import { deriveRunbook, type Actions, type StepView } from './view';

export const JOURNAL_DIR = '.ucd-upgrade';

const NO_ACTIONS: Actions = { run: false, check: false, skip: false, confirm: false, reset: false };

/**
 * This window's part in the run. Only the owner writes; a follower reads the journal live and
 * takes over when the owner is gone. `previous` names the owner whose lock was taken over.
 */
export type SessionRole =
  | { readonly kind: 'owner'; readonly owner: OwnerRecord; readonly previous?: OwnerRecord }
  | { readonly kind: 'follower'; readonly owner: OwnerRecord };

/** A change refused because another process owns the run. */
export class ReadOnlyRunError extends Error {
  constructor(readonly owner: OwnerRecord) {
    super(
      `This run is read-only here: it is owned by ${describeOwner(owner)}, which may be running a step right now. ` +
        'Make changes in that window; this one follows the journal live and takes the run over when that window closes.',
    );
    this.name = 'ReadOnlyRunError';
  }
}

export interface SessionOptions {
  readonly lock?: Partial<LockTiming>;
  /** How often a follower looks at the journal and the lock besides file-change events. */
  readonly pollMs?: number;
}

/**
 * Judges a failure about to be recorded on one of its targets: a reason when the action was in fact
 * cut off from this window (runner.ts), recorded as interrupted instead.
 */
export type FailureJudge = (target: Target, evidence: readonly string[]) => string | undefined;

export function journalPath(cluster: Cluster, workspaceDir: string): string {
  return path.join(workspaceDir, JOURNAL_DIR, journalFileName(cluster.name, cluster.currentVersion, cluster.targetVersion));
}

export class RunSession {
  private cached: RunState | undefined;
  private readonly listeners = new Set<() => void>();
  private current: SessionRole;
  private lock: OwnerLock | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private watcher: fs.FSWatcher | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  /** Actions begun here and not yet finished: a closing session keeps its lock until they end. */
  private readonly live = new Set<string>();
  private closing = false;
  /** Set by the runner for the targets of the actions it runs (see FailureJudge). */
  private readonly judges = new Set<{ readonly keys: ReadonlySet<string>; readonly judge: FailureJudge }>();
  /** Lines of the journal that could not be read (reported, never fatal). */
  readonly readIssues;
  /** Actions that were running when their owner went away; marked interrupted when this session took the run over. */
  readonly interruptedOnOpen: Target[] = [];
  /**
   * Actions whose process runs detached on a node (an installer) and was running when the owner
   * went away: not interrupted, but to be followed again (steps/installer.ts re-attaches on Check;
   * Runner.followAgain does it as soon as this session owns the run).
   */
  readonly detachedOnOpen: { readonly target: Target; readonly id: string; readonly run: DetachedRun }[] = [];

  private constructor(
    private clusterDef: Cluster,
    readonly journal: Journal,
    private readonly now: () => number,
    private readonly liveness: OwnerLiveness,
    private readonly timing: LockTiming,
    private readonly pollMs: number,
    claim: Claim,
  ) {
    this.readIssues = journal.issues;
    this.current = claim.kind === 'follower' ? claim : { kind: 'owner', owner: claim.lock.record };
  }

  /**
   * Opens the run of this cluster and upgrade. The first opener owns it (and marks what its dead
   * predecessor left running as interrupted); any later opener, while the owner lives, follows it.
   */
  static open(cluster: Cluster, workspaceDir: string, secrets?: SecretMask, now: () => number = Date.now, options: SessionOptions = {}): RunSession {
    const file = journalPath(cluster, workspaceDir);
    const timing = { ...DEFAULT_LOCK_TIMING, ...options.lock };
    const liveness = new OwnerLiveness(timing.staleMs);
    // This process's own earlier session on the file is replaced (a reload), not followed.
    const claim = OwnerLock.claim(file, liveness, true);
    const journal = Journal.read(file, secrets);
    const session = new RunSession(cluster, journal, now, liveness, timing, options.pollMs ?? 1_000, claim);
    if (claim.kind === 'owner') session.becomeOwner(claim.lock, claim.previous);
    else session.follow();
    return session;
  }

  get cluster(): Cluster {
    return this.clusterDef;
  }

  get role(): SessionRole {
    return this.current;
  }

  /** The same journal with an edited cluster definition (the file name, so the run, is unchanged). */
  reload(cluster: Cluster): void {
    if (journalFileName(cluster.name, cluster.currentVersion, cluster.targetVersion) !== path.basename(this.journal.file)) {
      throw new Error('This cluster definition belongs to another run (its name or versions changed): open a new session for it.');
    }
    this.clusterDef = cluster;
    this.changed();
  }

  /** Folds what the owner appended; a follower whose owner is gone takes the run over now. */
  refresh(): void {
    if (this.closing) return;
    const added = this.journal.refresh();
    if (this.current.kind === 'follower') {
      const claim = OwnerLock.claim(this.journal.file, this.liveness);
      if (claim.kind === 'owner') {
        this.stopFollowing();
        this.becomeOwner(claim.lock, claim.previous);
        this.changed();
        return;
      }
      if (claim.owner.id !== this.current.owner.id) {
        this.current = claim;
        this.changed();
        return;
      }
    }
    if (added) this.changed();
  }

  /**
   * Stops following and releases the lock. An owner with actions still running keeps the lock (and
   * may only finish them) until the last one ends, so a reload never orphans a live installer.
   */
  dispose(): void {
    this.closing = true;
    this.stopFollowing();
    if (this.live.size === 0) this.release();
  }

  get journalFile(): string {
    return this.journal.file;
  }

  state(): RunState {
    this.cached ??= reduceJournal(this.journal.events, this.clusterDef);
    return this.cached;
  }

  /** The runbook as this window may act on it: a follower is offered no action at all. */
  view(opts: GateOptions = DEFAULT_GATE_OPTIONS): StepView[] {
    const steps = deriveRunbook(this.cluster, this.state(), this.now(), opts, this.phase(), this.following());
    if (this.current.kind === 'owner' && !this.closing) return steps;
    return steps.map((s) => ({ ...s, actions: NO_ACTIONS, nodes: s.nodes.map((n) => ({ ...n, actions: NO_ACTIONS })) }));
  }

  /** Per action id, how each action running detached on its node is followed, as this window sees it. */
  following(): Map<string, Following> {
    return followingOf(this.journal.events, (id) => this.live.has(id), this.current.kind === 'owner' && !this.closing);
  }

  /**
   * While the returned handle is not disposed, a failure recorded on one of `keys` (targetKey) is
   * first shown to `judge`; when it names a reason, the action is recorded interrupted instead.
   */
  judgeFailures(keys: Iterable<string>, judge: FailureJudge): { dispose(): void } {
    const entry = { keys: new Set(keys), judge };
    this.judges.add(entry);
    return { dispose: () => this.judges.delete(entry) };
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

  /** The pre-flight's result: a failed one blocks step 1 until one passes or it is skipped (gates.ts). */
  recordPreflight(verdict: Verdict, findings: readonly string[]): void {
    this.record({ type: 'preflight', ts: this.ts(), verdict, findings });
  }

  /** Going on despite a failed (or without a) pre-flight: only with a reason, which is recorded. */
  skipPreflight(reason: string): void {
    this.requireText(reason, 'A reason');
    this.record({ type: 'preflight-skipped', ts: this.ts(), reason: reason.trim() });
  }

  /** One archive of step 1, measured where it lies (what Roll back restores from). */
  recordBackupArchive(a: Omit<Extract<JournalEvent, { type: 'backup-archive' }>, 'type' | 'ts'>): void {
    this.record({ type: 'backup-archive', ts: this.ts(), ...a });
  }

  /** One stage of Roll back, as it starts or ends. */
  recordRollback(r: Omit<Extract<JournalEvent, { type: 'rollback' }>, 'type' | 'ts'>): void {
    this.record({ type: 'rollback', ts: this.ts(), ...r });
  }

  /** UCD's maintenance mode turned on or off (or not), run-wide (steps/maintenance.ts). */
  recordMaintenance(state: MaintenanceOutcome, detail: string): void {
    this.record({ type: 'maintenance', ts: this.ts(), state, detail });
  }

  /** The maintenance-mode events so far, oldest first (off after step 11 only undoes this run's own on). */
  maintenanceEvents(): readonly Extract<JournalEvent, { type: 'maintenance' }>[] {
    return this.journal.events.filter((e): e is Extract<JournalEvent, { type: 'maintenance' }> => e.type === 'maintenance');
  }

  /**
   * A person's decision, with who made it (the OS user and machine of this run's owner), recorded
   * before it is acted on. Without a target it concerns the run (a host key, a certificate).
   */
  decided(decision: Decision, target?: Target): void {
    const { user, host } = this.current.owner;
    const at = target ? this.checked(target) : {};
    this.record({ type: 'decided', ts: this.ts(), by: { user, host }, decision, ...at });
  }

  /** A systemd unit masked or unmasked on a node (by the action `target` names). */
  serviceUnit(target: Target, action: 'masked' | 'unmasked', unit: string, command: string): void {
    this.record({ type: 'service-unit', ts: this.ts(), action, unit, command, ...this.checked(target) });
  }

  /** Records that an action started; the returned id closes it. */
  begin(target: Target, kind: ActionKind): string {
    const id = randomUUID();
    this.record({ type: 'started', ts: this.ts(), id, kind, ...this.checked(target) });
    this.live.add(id);
    return id;
  }

  /** The action's process now runs detached on the node; recorded before it gets any input. */
  detached(id: string, target: Target, run: DetachedRun): void {
    this.record({ type: 'detached', ts: this.ts(), id, runId: run.runId, pid: run.pid, dir: run.dir, ...(run.input ? { input: run.input } : {}), ...this.checked(target) });
  }

  /** The detached process recorded for a started action, if any. */
  detachedRun(id: string): DetachedRun | undefined {
    const e = this.journal.events.find((x): x is Extract<JournalEvent, { type: 'detached' }> => x.type === 'detached' && x.id === id);
    return e ? { runId: e.runId, pid: e.pid, dir: e.dir, ...(e.input ? { input: e.input } : {}) } : undefined;
  }

  /**
   * This window stops following a detached action that goes on on the node (a reload, a drop):
   * nothing is recorded, and the action no longer holds the lock of a closing session.
   */
  letGo(id: string): void {
    this.live.delete(id);
    if (this.closing && this.live.size === 0) this.release();
    // Nothing is journaled, but the views say who follows it (following.ts).
    this.changed();
  }

  /** Whether this session itself is carrying the action (then nobody else re-attaches to it). */
  carries(id: string): boolean {
    return this.live.has(id);
  }

  /** Follows a detached action begun by an earlier owner: this session may finish it. */
  adopt(id: string): void {
    this.live.add(id);
    this.changed();
  }

  /** The link to the node of a detached action went down (lost) or came back; nothing about its outcome. */
  connection(id: string, target: Target, lost: boolean, message: string): void {
    const where = this.checked(target);
    this.record(lost ? { type: 'connection-lost', ts: this.ts(), id, message, ...where } : { type: 'connection-restored', ts: this.ts(), id, message, ...where });
  }

  /** The installer guard saw a server on a node that must stay down, and did `action`. */
  guardAlarm(id: string, target: Target, alarm: { server: string; evidence: readonly string[]; action: 'installer-stopped' | 'installer-left-running'; message: string }): void {
    this.record({ type: 'guard-alarm', ts: this.ts(), id, ...alarm, ...this.checked(target) });
  }

  /** The action's own process was found gone: interrupted, with what to look at. */
  interrupt(id: string, target: Target, reason: string): void {
    this.record({ type: 'interrupted', ts: this.ts(), id, reason, ...this.checked(target) });
    this.live.delete(id);
    if (this.closing && this.live.size === 0) this.release();
  }

  finish(id: string, target: Target, kind: ActionKind, verdict: Verdict, evidence: readonly string[], hint?: string, facts?: NodeFacts): void {
    if (verdict === 'failed') {
      const why = this.cutOff(target, evidence);
      if (why) return this.interrupt(id, target, why);
    }
    this.record({ type: 'finished', ts: this.ts(), id, kind, verdict, evidence, ...(hint ? { hint } : {}), ...(facts ? { facts } : {}), ...this.checked(target) });
    this.live.delete(id);
    if (this.closing && this.live.size === 0) this.release();
  }

  private cutOff(target: Target, evidence: readonly string[]): string | undefined {
    const key = targetKey(target.step, target.node);
    for (const { keys, judge } of this.judges) {
      if (!keys.has(key)) continue;
      const why = judge(target, evidence);
      if (why) return why;
    }
    return undefined;
  }

  /** The one door to the journal: only the owner writes, and only while its lock is still the journal's. */
  private record(event: JournalEvent): void {
    if (this.closing && !((event.type === 'finished' || event.type === 'interrupted') && this.live.has(event.id))) {
      throw new Error('This run session was closed (the window reloaded the cluster file or is closing); nothing was recorded.');
    }
    if (this.current.kind !== 'owner' || !this.lock) throw new ReadOnlyRunError(this.current.owner);
    if (!this.lock.held()) {
      this.loseOwnership();
      throw new ReadOnlyRunError(this.current.owner);
    }
    this.journal.append(event);
    this.changed();
  }

  private becomeOwner(lock: OwnerLock, previous: OwnerRecord | undefined): void {
    this.lock = lock;
    this.current = previous ? { kind: 'owner', owner: lock.record, previous } : { kind: 'owner', owner: lock.record };
    // The previous writer is gone, so a torn last line is a crash, not a write in progress.
    this.journal.seal();
    const c = this.clusterDef;
    if (!this.journal.events.some((e) => e.type === 'run-opened')) {
      this.journal.append({ type: 'run-opened', ts: this.ts(), cluster: c.name, from: c.currentVersion, to: c.targetVersion, nodes: c.nodes.map((n) => n.name) });
    }
    this.cached = undefined;
    for (const { key, id } of danglingRuns(this.state())) {
      const target = splitKey(key);
      const run = this.detachedRun(id);
      if (run) {
        this.detachedOnOpen.push({ target, id, run });
        continue;
      }
      this.journal.append({ type: 'interrupted', ts: this.ts(), id, ...target });
      this.interruptedOnOpen.push(target);
    }
    this.cached = undefined;
    this.heartbeat = setInterval(() => {
      try {
        if (!this.lock?.renew()) this.loseOwnership();
      } catch {
        // A failed renewal (a full or flaky disk) is not a lost lock; if it lasts, another host
        // takes over after the limit, and the check before every write then finds it.
      }
    }, this.timing.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Another opener judged this owner gone (a long sleep, a hung disk): from now on, follow it. */
  private loseOwnership(): void {
    this.stopHeartbeat();
    this.lock?.release(); // removes our file only if it is still ours (a lower number left behind)
    this.lock = undefined;
    const owner = OwnerLock.current(this.journal.file);
    this.current = { kind: 'follower', owner: owner ?? this.current.owner };
    if (!this.closing) this.follow();
    this.changed();
  }

  private follow(): void {
    const tick = () => {
      try {
        this.refresh();
      } catch {
        /* a vanished file or a half-made lock: the next tick sees the settled state */
      }
    };
    try {
      // The directory, not the file: it also tells when the owner's lock file goes away.
      this.watcher = fs.watch(path.dirname(this.journal.file), { persistent: false }, tick);
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      /* not every file system can be watched: the poll below is enough */
    }
    this.poll = setInterval(tick, this.pollMs);
    this.poll.unref();
  }

  private stopFollowing(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private release(): void {
    this.stopHeartbeat();
    this.lock?.release();
    this.lock = undefined;
  }

  private changed(): void {
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
    if (target.node !== undefined && !nodesOf(def, this.clusterDef).includes(target.node)) {
      throw new Error(`Step "${def.title}" does not concern node ${target.node}.`);
    }
    return target.node === undefined ? { step: target.step } : { step: target.step, node: target.node };
  }
}
