// The run journal's records. The journal is the only source of run state: the views are a
// function of it, so a reload rebuilds exactly what was there.
import type { StepId } from '../runbook/steps';
import type { NodeFacts } from '../status/facts';

/** A step as a whole (no node) or one node of a node-scoped step. */
export interface Target {
  readonly step: StepId;
  readonly node?: string;
}

export type ActionKind = 'run' | 'check';
/** Everything a person (or a runner) can ask of a step; what a refusal names. */
export type RequestKind = ActionKind | 'skip' | 'confirm' | 'reset';
export type Verdict = 'passed' | 'failed' | 'warning';

export type JournalEvent =
  | { readonly type: 'run-opened'; readonly ts: string; readonly cluster: string; readonly from: string; readonly to: string; readonly nodes: readonly string[] }
  | ({ readonly type: 'started'; readonly ts: string; readonly id: string; readonly kind: ActionKind } & Target)
  | ({ readonly type: 'finished'; readonly ts: string; readonly id: string; readonly kind: ActionKind; readonly verdict: Verdict; readonly evidence: readonly string[]; readonly hint?: string; readonly facts?: NodeFacts } & Target)
  // reason: set when the action's own process was found gone (not merely cut off from this window).
  | ({ readonly type: 'interrupted'; readonly ts: string; readonly id: string; readonly reason?: string } & Target)
  // The running action's process lives on the node, detached from this window: how to find it again.
  | ({ readonly type: 'detached'; readonly ts: string; readonly id: string; readonly runId: string; readonly pid: number; readonly dir: string; readonly input?: string } & Target)
  | ({ readonly type: 'skipped'; readonly ts: string; readonly reason: string } & Target)
  | ({ readonly type: 'confirmed'; readonly ts: string; readonly note: string } & Target)
  | ({ readonly type: 'reset'; readonly ts: string; readonly reason: string } & Target)
  // The engine said no, in the gate's own words; nothing was done.
  | ({ readonly type: 'refused'; readonly ts: string; readonly request: RequestKind; readonly reasons: readonly string[] } & Target)
  // A person's note beside a probe result: recorded, never counted as proof.
  | ({ readonly type: 'noted'; readonly ts: string; readonly note: string } & Target)
  // The pre-flight (src/core/preflight): not a step (no step, no node, so code that filters events
  // by step passes them by); its fails and warns, one line each.
  | ({ readonly type: 'preflight'; readonly ts: string; readonly verdict: Verdict; readonly findings: readonly string[] } & NoTarget)
  | ({ readonly type: 'preflight-skipped'; readonly ts: string; readonly reason: string } & NoTarget)
  // One archive of step 1 (the dump, a node's install tree, the appdata's configuration), as
  // measured where it lies: what Roll back restores from, after checking its sha256 again.
  | ({ readonly type: 'backup-archive'; readonly ts: string; readonly id: string; readonly what: BackupWhat; readonly where: string; readonly path: string; readonly size: number; readonly sha256: string } & NoTarget)
  // Roll back, one record per stage as it starts and ends (src/core/steps/rollback.ts).
  | ({ readonly type: 'rollback'; readonly ts: string; readonly id: string; readonly stage: RollbackStage; readonly verdict: Verdict | 'started'; readonly evidence: readonly string[]; readonly hint?: string } & NoTarget)
  // UCD's maintenance mode (src/core/steps/maintenance.ts), run-wide like the pre-flight: turned on
  // before step 2, off after step 11, skipped (before 7.0.3) or failed, with what was seen.
  | ({ readonly type: 'maintenance'; readonly ts: string; readonly state: MaintenanceOutcome; readonly detail: string } & NoTarget)
  // The link to a node that runs a detached action (id) went down or came back; the action goes on there.
  | ({ readonly type: 'connection-lost'; readonly ts: string; readonly id: string; readonly message: string } & Target)
  | ({ readonly type: 'connection-restored'; readonly ts: string; readonly id: string; readonly message: string } & Target)
  // While an installer (id) ran, a node that must stay down showed a server: what was seen and done.
  | ({ readonly type: 'guard-alarm'; readonly ts: string; readonly id: string; readonly server: string; readonly evidence: readonly string[]; readonly action: 'installer-stopped' | 'installer-left-running'; readonly message: string } & Target)
  // A systemd unit of a node's install masked for the upgrade (step 5) or unmasked (steps 8, 10).
  | ({ readonly type: 'service-unit'; readonly ts: string; readonly action: 'masked' | 'unmasked'; readonly unit: string; readonly command: string } & Target)
  // A person's decision, with who made it: what the steps' confirmations, the host-key and
  // certificate prompts were answered, in the words and numbers the person was shown.
  | ({ readonly type: 'decided'; readonly ts: string; readonly by: Actor; readonly decision: Decision } & (Target | NoTarget));

/** What a step-1 archive holds. */
export type BackupWhat = 'database' | 'install' | 'appdata';

/** Roll back's stages, in order: asked and agreed, servers stopped, archives checked, database and files restored, servers started on the old version and verified. */
export type RollbackStage = 'begin' | 'stop' | 'checksums' | 'database' | 'files' | 'start' | 'verify' | 'end';

/** on / off: the server confirmed the flag so; kept: left as it was (said why); skipped: not available; failed: not done. */
export type MaintenanceOutcome = 'on' | 'off' | 'kept' | 'skipped' | 'failed';

/** Who decided: the OS user and the machine that ran the extension (or the command line). */
export interface Actor {
  readonly user: string;
  readonly host: string;
}

export type Decision =
  /** UCD processes cancelled from step 2, each as the Dashboard shows it ("application: JPetStore / Deploy (PROD), started …, by …"). */
  | { readonly kind: 'cancel-processes'; readonly processes: readonly string[] }
  /** Processes on a node that were to be killed: pid and command line. */
  | { readonly kind: 'kill'; readonly node: string; readonly processes: readonly { readonly pid: number; readonly command: string }[] }
  /** An SSH host key not known before, accepted; `remembered`: stored for later connections. */
  | { readonly kind: 'host-key'; readonly node: string; readonly endpoint: string; readonly keyType: string; readonly fingerprint: string; readonly remembered: boolean }
  /** A TLS certificate that did not verify, accepted (pinned) for `endpoint`. */
  | { readonly kind: 'tls-certificate'; readonly endpoint: string; readonly fingerprint: string; readonly subject: string; readonly remembered: boolean }
  /** A yes/no asked before something that cannot be undone, and the answer. */
  | { readonly kind: 'confirmation'; readonly question: string; readonly answer: 'yes' | 'no' };

interface NoTarget {
  readonly step?: undefined;
  readonly node?: undefined;
}

export type JournalEventType = JournalEvent['type'];

const TYPES: ReadonlySet<string> = new Set(['run-opened', 'started', 'finished', 'interrupted', 'skipped', 'confirmed', 'reset', 'refused', 'noted', 'detached', 'preflight', 'preflight-skipped', 'backup-archive', 'rollback', 'maintenance', 'connection-lost', 'connection-restored', 'decided', 'guard-alarm', 'service-unit']);
/** Events that may concern the run as a whole, with no step. */
const RUN_WIDE: ReadonlySet<string> = new Set(['run-opened', 'preflight', 'preflight-skipped', 'backup-archive', 'rollback', 'maintenance', 'decided']);

/** Accepts a parsed line only if it has the shape of a known event; old or foreign lines are reported, not trusted. */
export function asEvent(value: unknown): JournalEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !TYPES.has(v.type) || typeof v.ts !== 'string') return undefined;
  if (!RUN_WIDE.has(v.type) && typeof v.step !== 'string') return undefined;
  return value as JournalEvent;
}
