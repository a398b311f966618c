// Steps 7 and 9: run install-server.sh against the existing install. The installer touches the
// shared database, so it starts only after its preconditions were proven by fresh probes at that
// very moment (installerPreconditions.ts), never on the journal or a person's word; and the
// installer process itself waits behind a small wrapper until the client, with the channel open,
// has checked the proof is still young (startGate.ts). Both modes run the installer detached on
// the node (remote/detached.ts): its run id, pid and folder are journaled before go, its log is
// followed by offset, and a window that goes away (reload, drop) ends nothing there: Check, in
// this window or the next, follows it again and records its real outcome. Guided mode answers
// the known prompts through the run folder's input FIFO (installerInput.ts) and hands an unknown
// one to a terminal that shows the same log and writes to the same FIFO; silent mode writes
// install.properties and closes the installer's input.
import { filesNotOwnedBy, type Rights } from '../remote/privilege';
import { randomUUID } from 'node:crypto';
import type { ClusterNode } from '../cluster/types';
import { probeNode } from '../probes/node';
import { finding, type ActionContext, type Finding, type Outcome, type RunAndCheck } from '../runbook/actions';
import { warnings as gateWarnings } from '../runbook/gates';
import { detachedLaunchScript, inputFifo, lastRunScript, parseDetachedPid, parseLastRun, type LastRun, parsePoll, pollScript, runFolder, type DetachedPoll, type DetachedRun } from '../remote/detached';
import { sh } from '../remote/quote';
import type { PtySession } from '../remote/ssh';
import { RemoteError, type ExecStdin, type Transport } from '../remote/transport';
import type { NodeFacts } from '../status/facts';
import { factsFromProbe } from '../status/fromProbe';
import { InstallerDriver, type InstallerEvent } from '../ucd/installer/driver';
import { installerCommand, installPropertiesPath, InstallerInputError, type InstallerCommand } from '../ucd/installer/command';
import type { NoticeDecision } from '../ucd/installer/prompts';
import { silentInstallProperties } from '../ucd/installer/properties';
import { GO_LINE, gatedInstallerScript, NOT_STARTED_EXIT, NOT_STARTED_MARKER, READY_MARKER, ReadyWatcher, STOP_LINE } from '../ucd/installer/startGate';
import { summarizeEvents, type InstallerOutcome } from '../ucd/installer/summary';
import type { TlsTrust } from '../ucd/rest/tls';
import { noticeDecision } from './installerNotice';
import { provePreconditions, type InstallStep, type Proof } from './installerPreconditions';
import { recordedStaging, STAGE_ROOT, StagedInstallerRefusal, verifyStagedInstaller, type PackageLayout } from './package';
import { stillRunningLine, type GuardStop, type InstallerGuard } from './installerGuard';
import type { StoppedOptions } from './verifyStopped';
import { connectionLostMessage, connectionRestoredMessage, LinkWatch } from '../remote/reconnect';
import { InstallerPhases } from '../runbook/progress';
import { InstallerHandle } from './installerHandle';
import { DetachedInput, detachedSession, type InstallerSession } from './installerInput';
import { pause } from './pause';

export interface InstallerDeps {
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  /**
   * Gives the live installer to the engineer (a terminal showing its log and writing to its
   * input); resolves when they have it. Called again after a reload if it still waits.
   */
  handOver(node: string, session: InstallerSession, backlog: string, why: string): Promise<void>;
  /**
   * Called once an installer runs on a node (started, or re-attached), with the one handle that
   * knows its phase and can stop it. For guards and Cancel; the run goes on without it.
   */
  onInstaller?(handle: InstallerHandle): void;
  /** Pins for the first node's login page, part of step 9's proof. */
  readonly trust: TlsTrust;
  /**
   * Asks the engineer whether to go on at the NOTICE when this run did not prove the backup and
   * processes (buttons "Upgrade Anyway" / "Stop Here", the safe one the default). true: go on.
   */
  confirm(question: string, detail: string): Promise<boolean>;
  readonly stoppedOptions?: StoppedOptions;
  /** How long the installer may be silent at a question before it counts as unknown. */
  readonly quietMs?: number;
  /** How often a detached installer's log and state are read; default 1 s. */
  readonly pollMs?: number;
  /** After this long without output, "still running" is logged (and again each time); default 5 min. */
  readonly silenceLogMs?: number;
  /** How long a lost connection is tried again before this window lets go of the installer; default 5 min. */
  readonly reconnectMs?: number;
  /** The proof may be this old when the installer is about to start; older, it is proven again (once). Default 30 s. */
  readonly proofMaxAgeMs?: number;
  /** How long the wrapper may take to report ready once the command was sent; default 2 min. */
  readonly readyTimeoutMs?: number;
  /** Probes the nodes that must stay down while an installer runs, and answers Cancel (installerGuard.ts). */
  readonly guard?: InstallerGuard;
}

type PtyTransport = Transport & { execPty(command: string, o?: { signal?: AbortSignal }): Promise<PtySession> };

const BACKLOG_CHARS = 64 * 1024;
export const DEFAULT_PROOF_MAX_AGE_MS = 30_000;

class StepFailure extends Error {
  constructor(message: string, readonly hint: string, readonly facts: NodeFacts = {}) {
    super(message);
  }
}

function nodesFor(ctx: ActionContext, step: InstallStep): ClusterNode[] {
  const first = ctx.cluster.firstNode;
  return ctx.cluster.nodes.filter((n) => (step === 'installFirst' ? n.name === first : n.name !== first) && (ctx.target.node === undefined || n.name === ctx.target.node));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** What the start gate decided once the wrapper was ready on the node. */
type GoDecision =
  | { readonly go: true; readonly evidence: string }
  | { readonly go: false; readonly failures: readonly string[]; readonly hint: string };

/**
 * The last look before the installer's first byte: the proof must be younger than the limit;
 * an older one is proven again (once), and only a passing re-proof lets the installer start.
 */
interface StartGate {
  decide(): Promise<GoDecision>;
  /** The latest passing proof (the re-proof, once there was one). */
  readonly proof: Extract<Proof, { ok: true }>;
}

function startGate(ctx: ActionContext, deps: InstallerDeps, step: InstallStep, node: string, first: Extract<Proof, { ok: true }>): StartGate {
  const limit = deps.proofMaxAgeMs ?? DEFAULT_PROOF_MAX_AGE_MS;
  const gate = {
    proof: first,
    async decide(): Promise<GoDecision> {
      const age = Date.now() - gate.proof.at;
      if (age <= limit) return { go: true, evidence: `proof ${seconds(age)} old when the installer started (limit ${seconds(limit)})` };
      ctx.log.warn(`[installer] the proof is ${seconds(age)} old now that ${node} is ready to start the installer (limit ${seconds(limit)}): proving again`);
      const again = await provePreconditions(ctx, deps, step, node);
      if (!again.ok) return { go: false, failures: [`the proof was ${seconds(age)} old when ${node} was ready to start the installer (limit ${seconds(limit)}); proven again, it fails:`, ...again.failures], hint: again.hint };
      gate.proof = again;
      const fresh = Date.now() - again.at;
      return { go: true, evidence: `proof ${seconds(age)} old at the start (limit ${seconds(limit)}), proven again ${seconds(fresh)} before the installer started` };
    },
  };
  return gate;
}

type Ran =
  | { readonly kind: 'ran'; readonly outcome: InstallerOutcome; readonly started: string }
  | { readonly kind: 'not-started'; readonly failures: readonly string[]; readonly hint: string };

function logEvent(ctx: ActionContext, node: string, e: InstallerEvent): void {
  const tag = `[${node}]`;
  switch (e.type) {
    case 'progress': ctx.log.info(`${tag} ${e.line}`); break;
    case 'answer': ctx.log.info(`${tag} answered ${e.prompt}: ${e.value === '' ? '(Enter)' : e.value} — ${e.note}`); break;
    case 'confirm': ctx.log.warn(`${tag} asking the engineer at ${e.prompt}: ${e.question}`); break;
    // Its line was logged as a progress line already; what it means is the phase (progress.ts).
    case 'info': break;
    case 'unknownPrompt': ctx.log.warn(`${tag} ${e.message}`); break;
    case 'refusal': ctx.log.error(`${tag} ${e.message} — ${e.hint}`); break;
    case 'done': (e.success ? ctx.log.info : ctx.log.error).call(ctx.log, `${tag} ${e.message}`); break;
  }
}

/** Resolves when `ready` fires; rejects on the deadline or when the command ends first. */
function waitReady(node: string, ready: Promise<void>, ended: Promise<unknown>, timeoutMs: number, signal: AbortSignal, before: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepFailure(`the installer wrapper on ${node} did not report ready within ${seconds(timeoutMs)}; the installer was NOT started${before() ? ` (output: ${before().trim().slice(-300)})` : ''}`, 'Check that the SSH user\'s shell on the node is a POSIX shell (sh, bash), then run again.')), timeoutMs);
    const onAbort = () => reject(new StepFailure(`cancelled before the installer started on ${node}`, 'Nothing was started; run again when ready.'));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    ready.then(() => (done(), resolve()));
    ended.then(
      () => (done(), reject(new StepFailure(`the installer wrapper on ${node} ended before it was ready; the installer was NOT started${before() ? `: ${before().trim().slice(-300)}` : ''}`, 'Read the log for the node\'s output, then run again.'))),
      (e: unknown) => (done(), reject(e)),
    );
  });
}

/** A Windows node's pty as the hand-over terminal's session (there, closing it hangs up). */
function ptySession(pty: PtySession): InstallerSession {
  return { write: (d) => pty.write(d), onData: (l) => pty.onData(l), close: () => pty.close(), stop: () => pty.close(), exit: pty.exit };
}

/** Guided on a Windows node: over a pty, tied to the channel (detached runs need a POSIX node). */
async function runGuidedPty(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, t: Transport, script: string, gate: StartGate, notice: NoticeDecision, id: string): Promise<DetachedRan> {
  if (typeof (t as Partial<PtyTransport>).execPty !== 'function') {
    throw new StepFailure(`guided mode needs a terminal on ${node.name}, and its transport has none`, 'Set "installerMode": "silent" in the cluster file, or run the installer by hand and Confirm Manually.');
  }
  ctx.log.info(`[${node.name}] $ ${script}`);
  const pty = await (t as PtyTransport).execPty(script, { signal: ctx.signal });
  const watcher = new ReadyWatcher();
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  let backlog = '';
  let handedOver = false;
  const phases = new InstallerPhases();
  const driver = new InstallerDriver({
    cluster: ctx.cluster,
    node,
    mode: 'guided',
    notice,
    ...(deps.quietMs !== undefined ? { quietMs: deps.quietMs } : {}),
    onEvent: (e) => {
      logEvent(ctx, node.name, e);
      const phase = phases.next(e);
      if (phase) ctx.progress?.(node.name, phase);
      if (e.type === 'answer') pty.write(e.text);
      if (e.type === 'unknownPrompt' && !handedOver) {
        handedOver = true;
        void deps.handOver(node.name, ptySession(pty), backlog, e.message);
      }
      if (e.type === 'confirm') void confirmAtPrompt(ctx, deps, node.name, () => gate.decide(), e.question, e.detail).then((r) => driver.resolveConfirm(r.yes, r.why));
      // A refusal while the installer still waits: end it. Enter would mean "go on" to it.
      if (e.type === 'refusal' && e.installerWaiting && !handedOver) pty.close();
    },
  });
  pty.onData((chunk) => {
    const out = watcher.ready ? chunk : watcher.feed(chunk);
    if (watcher.ready) onReady();
    if (!out) return;
    backlog = (backlog + out).slice(-BACKLOG_CHARS);
    driver.feed(out);
  });
  try {
    try {
      await waitReady(node.name, ready, pty.exit, deps.readyTimeoutMs ?? 120_000, ctx.signal, () => watcher.before);
    } catch (e) {
      pty.close();
      throw e;
    }
    const decision = await gate.decide();
    if (!decision.go) {
      pty.write(`${STOP_LINE}\r`);
      // The wrapper ends at once on that line; hang up anyway if it does not.
      let hangUp: NodeJS.Timeout | undefined;
      await Promise.race([pty.exit, new Promise<void>((r) => (hangUp = setTimeout(() => (pty.close(), r()), 10_000)))]);
      clearTimeout(hangUp);
      ctx.log.error(`[${node.name}] the installer was NOT started: ${decision.failures.join('; ')}`);
      return { kind: 'not-started', failures: decision.failures, hint: decision.hint };
    }
    ctx.log.info(`[${node.name}] starting the installer: ${decision.evidence}`);
    ctx.progress?.(node.name, 'installer: started, every node proven stopped');
    pty.write(`${GO_LINE}\r`);
    const watch = deps.guard?.watch(ctx, node.name, id, { events: driver.events, stop: async () => (pty.close(), 'its terminal session was closed') });
    // No timer hangs up: a schema upgrade may take an hour, and stopping it halfway is the worst case.
    const exit = await pty.exit.finally(() => watch?.end());
    const stopped = await watch?.end();
    ctx.log.info(`[${node.name}] installer exit ${exit.code ?? exit.signal ?? '?'}`);
    driver.end(exit.code);
    if (stopped) return { kind: 'stopped', stop: stopped };
    return { kind: 'ran', outcome: summarizeEvents(driver.events, ctx.cluster.targetVersion), started: decision.evidence };
  } finally {
    driver.dispose();
  }
}

/**
 * The NOTICE when the backup or processes were not proven: the engineer decides. Their answer can
 * take minutes, so "Upgrade Anyway" is followed by the proof's age check before Enter is pressed.
 */
async function confirmAtPrompt(ctx: ActionContext, deps: InstallerDeps, node: string, decide: () => Promise<GoDecision>, question: string, detail: string): Promise<{ yes: boolean; why?: { message: string; hint: string } }> {
  let yes = false;
  try {
    yes = await deps.confirm(question, detail);
    ctx.session.decided({ kind: 'confirmation', question: `${node}: ${question}`, answer: yes ? 'yes' : 'no' }, { step: ctx.target.step, node });
  } catch (e) {
    ctx.log.error(`[${node}] the NOTICE question failed: ${(e as Error).message}; stopping here`);
  }
  if (!yes) {
    ctx.log.warn(`[${node}] "Stop Here" at the NOTICE: ending the installer before the upgrade begins`);
    return { yes: false };
  }
  const d = await decide();
  if (d.go) return { yes: true };
  return { yes: false, why: { message: `Installer on ${node}: ended at the NOTICE, before the upgrade began: ${d.failures.join(' ')}`, hint: d.hint } };
}

/** How the follow of a detached installer ended. */
type FollowEnd =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'gone' }
  /** This window stopped following (cancel, reload, a connection that did not come back); the installer goes on. */
  | { readonly kind: 'let-go'; readonly why: string };

/**
 * Follows the detached installer's log from `offset` into `feed`, polling one round trip at a time,
 * until its exit status is there or its process is gone. A failed poll is a connection problem,
 * never the installer's: the poll is tried again with backoff (the pool reconnects, host key
 * verified again) until `deps.reconnectMs` has passed, then this window lets go.
 */
async function followDetached(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, run: DetachedRun, id: string, feed: (text: string, end: number) => void, offset = 0): Promise<FollowEnd> {
  const pollMs = deps.pollMs ?? 1_000;
  const silenceMs = deps.silenceLogMs ?? 5 * 60_000;
  const link = new LinkWatch({ firstDelayMs: pollMs, patienceMs: deps.reconnectMs ?? 5 * 60_000 });
  const target = { step: ctx.target.step, node: node.name };
  const say = (lost: boolean, message: string) => {
    try {
      ctx.session.connection(id, target, lost, message);
    } catch (e) {
      ctx.log.warn(`[${node.name}] not recorded in the journal: ${(e as Error).message}`);
    }
  };
  let lastOutput = Date.now();
  let lastSaid = Date.now();
  for (;;) {
    if (ctx.signal.aborted) return { kind: 'let-go', why: 'this window stopped following it (cancelled or closing)' };
    let poll: DetachedPoll | undefined;
    let problem = '';
    try {
      const t = await deps.transportFor(node, 'owner');
      const r = await t.exec(pollScript(run, offset).text, { timeoutMs: 60_000, signal: ctx.signal });
      poll = parsePoll(r.stdout);
      if (!poll) problem = `unreadable answer from ${node.name} (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-200)}`;
    } catch (e) {
      problem = (e as Error).message;
    }
    if (!poll) {
      if (ctx.signal.aborted) continue;
      const change = link.failed(problem);
      if (change.kind === 'given-up') return { kind: 'let-go', why: `no connection to ${node.name} for ${Math.round(change.downMs / 1000)} s (${change.problem})` };
      if (change.kind === 'lost') {
        const message = connectionLostMessage(node.name, 'the installer');
        ctx.log.warn(`[${node.name}] ${message} (run ${run.runId}, pid ${run.pid}): ${problem}; reconnecting`);
        say(true, message);
      }
      await pause(change.kind === 'lost' || change.kind === 'down' ? change.waitMs : pollMs, ctx.signal);
      continue;
    }
    const up = link.ok();
    if (up.kind === 'restored') {
      const message = connectionRestoredMessage(node.name, up.downMs);
      ctx.log.info(`[${node.name}] ${message}; following the installer again from byte ${offset}`);
      say(false, message);
    }
    if (poll.size > offset && poll.chunk) {
      offset = poll.size;
      feed(poll.chunk, offset);
      lastOutput = Date.now();
      lastSaid = lastOutput;
    }
    if (poll.state.kind === 'exited') return { kind: 'exited', code: poll.state.code };
    if (poll.state.kind === 'gone') return { kind: 'gone' };
    // No timer ends the installer; a long silence is only said.
    if (Date.now() - lastSaid >= silenceMs) {
      ctx.log.info(`[${node.name}] ${stillRunningLine(node.name, lastOutput)}`);
      lastSaid = Date.now();
    }
    await pause(pollMs, ctx.signal);
  }
}

/** The outcome of a detached installer that left no exit status: the node may be half-upgraded. */
function goneReason(node: ClusterNode, run: DetachedRun, appdata: string | undefined): string {
  return `the installer's process on ${node.name} (run ${run.runId}, pid ${run.pid}) is gone without an exit status: it was killed or the node restarted, and ${node.name} may be half-upgraded. ` +
    `Look at conf/installed.version in ${node.installDir}${appdata ? ` and in ${appdata}` : ''}, ds_db_version in the database, and the installer log ${run.dir}/log; then Check this step.`;
}

type DetachedRan = Ran | { readonly kind: 'let-go'; readonly why: string; readonly run: DetachedRun } | { readonly kind: 'gone'; readonly run: DetachedRun }
  /** Stopped on purpose (the guard, or Cancel and "Stop the Installer"). */
  | { readonly kind: 'stopped'; readonly stop: GuardStop; readonly run?: DetachedRun };

/** The installer's end as read from its exit status and log: what the driver makes of it. */
function endedRan(ctx: ActionContext, node: ClusterNode, driver: InstallerDriver, end: FollowEnd, run: DetachedRun, started: string): DetachedRan {
  if (end.kind === 'let-go') return { kind: 'let-go', why: end.why, run };
  if (end.kind === 'gone') return { kind: 'gone', run };
  ctx.log.info(`[${node.name}] installer exit ${end.code} (run ${run.runId})`);
  if (end.code === NOT_STARTED_EXIT && !driver.events.some((e) => e.type === 'progress')) {
    throw new StepFailure(`the installer wrapper on ${node.name} did not take the go line; the installer was NOT started`, `Read ${run.dir}/log on the node, then run again.`);
  }
  driver.end(end.code);
  return { kind: 'ran', outcome: summarizeEvents(driver.events, ctx.cluster.targetVersion), started };
}

/**
 * Follows a detached installer's log (from the start) until it ends or this window lets go.
 * Guided (the run has an input FIFO): the driver's answers are written there, each once per log
 * offset, so a second window re-reading the same log types nothing twice; an unknown prompt goes
 * to a person through `deps.handOver`; a refusal while the installer waits stops it (Enter would
 * mean "go on"). `decide` re-checks the proof when a person says "Upgrade Anyway" at the NOTICE.
 */
async function followInstaller(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, run: DetachedRun, id: string, notice: NoticeDecision, decide: () => Promise<GoDecision>): Promise<{ end: FollowEnd; driver: InstallerDriver; stopped: GuardStop | undefined }> {
  // Writes end with this follow: the next window answers what is left.
  const follow = new AbortController();
  const onAbort = () => follow.abort();
  if (ctx.signal.aborted) follow.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  // The run folder belongs to the install's owner (the installer runs as it): so do its writes.
  const input = new DetachedInput(node, run, (n) => deps.transportFor(n, 'owner'), ctx.log, follow.signal, deps.reconnectMs);
  const handle = new InstallerHandle(node.name, run, () => input.stop());
  const guided = run.input !== undefined;
  let at = 0;
  let backlog = '';
  let session: ReturnType<typeof detachedSession> | undefined;
  const phases = new InstallerPhases();
  const driver: InstallerDriver = new InstallerDriver({
    cluster: ctx.cluster,
    node,
    mode: guided ? 'guided' : 'silent',
    notice,
    lineEnding: '\n',
    ...(guided && deps.quietMs !== undefined ? { quietMs: deps.quietMs } : {}),
    onEvent: (e) => {
      logEvent(ctx, node.name, e);
      handle.observe(e);
      const phase = phases.next(e);
      if (phase) ctx.progress?.(node.name, phase);
      if (!guided) return;
      if (e.type === 'answer') {
        const offset = at;
        void input.write(e.text, `${offset} ${e.prompt}`).then((w) => {
          if (w === 'already') ctx.log.info(`[${node.name}] ${e.prompt} at log byte ${offset} was answered before; not typed again`);
        });
      }
      if (e.type === 'unknownPrompt' && !session) {
        session = detachedSession(input);
        void deps.handOver(node.name, session, backlog, e.message);
      }
      if (e.type === 'confirm') void confirmAtPrompt(ctx, deps, node.name, decide, e.question, e.detail).then((r) => driver.resolveConfirm(r.yes, r.why));
      if (e.type === 'refusal' && e.installerWaiting && !session) void handle.stop().catch((err: unknown) => ctx.log.error(`[${node.name}] could not stop the installer after its refusal: ${(err as Error).message}`));
    },
  });
  deps.onInstaller?.(handle);
  // The guard watches the nodes that must stay down and answers Cancel; it stops through the handle.
  let heard = Date.now();
  const watch = deps.guard?.watch(ctx, node.name, id, { events: driver.events, stop: () => handle.stop(), lastOutputAt: () => heard });
  try {
    let end: FollowEnd;
    try {
      end = await followDetached(ctx, deps, node, run, id, (text, size) => {
        at = size;
        heard = Date.now();
        backlog = (backlog + text).slice(-BACKLOG_CHARS);
        session?.publish(text);
        driver.feed(text);
      });
    } finally {
      void watch?.end();
    }
    const stopped = await watch?.end();
    session?.ended(end.kind === 'exited' ? end.code : null, end.kind === 'exited' ? undefined : end.kind);
    return { end, driver, stopped: end.kind === 'let-go' ? undefined : stopped };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    follow.abort();
    driver.dispose();
  }
}

/** A followed installer's outcome: stopped on purpose, or what its exit status and log say. */
function followedRan(ctx: ActionContext, node: ClusterNode, f: { end: FollowEnd; driver: InstallerDriver; stopped: GuardStop | undefined }, run: DetachedRun, started: string): DetachedRan {
  if (f.stopped) {
    if (f.end.kind === 'exited') f.driver.end(f.end.code);
    return { kind: 'stopped', stop: f.stopped, run };
  }
  return endedRan(ctx, node, f.driver, f.end, run, started);
}

async function runDetached(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, t: Transport, cmd: InstallerCommand, layout: PackageLayout, gate: StartGate, id: string, notice: NoticeDecision): Promise<DetachedRan> {
  const guided = ctx.cluster.installerMode === 'guided';
  if (cmd.os !== 'linux') throw new StepFailure(`silent mode runs the installer detached, which needs a Linux node; ${node.name} is Windows`, 'Run the installer on this node by hand and Confirm Manually.');
  if (!guided) {
    const props = installPropertiesPath(layout.installerDir, 'linux');
    const current = await t.exec(sh`cat ${props} 2>/dev/null || true`.text, { timeoutMs: 60_000, signal: ctx.signal });
    const updated = silentInstallProperties(current.stdout, node.installDir);
    const written = await t.exec(sh`cat > ${props}`.text, { stdin: updated, timeoutMs: 60_000, signal: ctx.signal });
    if (written.code !== 0) throw new StepFailure(`could not write ${props}: ${written.stderr.trim()}`, 'Check that the SSH user may write to the extracted package folder.');
    ctx.log.info(`[${node.name}] ${props}: nonInteractive=true, install.server.dir=${node.installDir}`);
  }
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomUUID().slice(0, 8)}`;
  const dir = runFolder(layout.base, runId);
  const script = detachedLaunchScript(dir, cmd.script, { ready: READY_MARKER, go: GO_LINE, notStarted: NOT_STARTED_MARKER, notStartedExit: NOT_STARTED_EXIT }, guided ? 'fifo' : 'closed').text;
  const watcher = new ReadyWatcher();
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  let stdin: ExecStdin | undefined;
  let afterReady = '';
  // Ours to stop the launch when it never gets ready (the transport then kills its process group;
  // the detached side then reads end of input at its gate and ends, unstarted).
  const stop = new AbortController();
  const onCancel = () => stop.abort();
  if (ctx.signal.aborted) stop.abort();
  ctx.signal.addEventListener('abort', onCancel, { once: true });
  try {
    ctx.log.info(`[${node.name}] $ ${cmd.script.text}  (detached${guided ? ', answers through its input FIFO' : ''}, run folder ${dir})`);
    const launch = t.exec(script, {
      input: (s) => (stdin = s),
      timeoutMs: (deps.readyTimeoutMs ?? 120_000) + 60_000,
      signal: stop.signal,
      onStdout: (c) => {
        const out = watcher.ready ? c : watcher.feed(c);
        if (watcher.ready) onReady();
        afterReady += out;
      },
      onStderr: (c) => ctx.log.info(`[${node.name}] ${c.trimEnd()}`),
    });
    try {
      await waitReady(node.name, ready, launch, deps.readyTimeoutMs ?? 120_000, ctx.signal, () => watcher.before);
    } catch (e) {
      stdin?.end(`${STOP_LINE}\n`);
      stop.abort();
      await launch.catch(() => undefined);
      throw e;
    }
    const pid = parseDetachedPid(watcher.before);
    if (pid === undefined) {
      stdin?.end(`${STOP_LINE}\n`);
      await launch.catch(() => undefined);
      throw new StepFailure(`the detached installer on ${node.name} did not say its pid; the installer was NOT started (output: ${watcher.before.trim().slice(-300)})`, 'Check that the node has setsid and nohup and a POSIX shell, then run again.');
    }
    const run: DetachedRun = { runId, pid, dir, ...(guided ? { input: inputFifo(dir) } : {}) };
    // Recorded before the installer's first byte: a reload from here on finds it again.
    ctx.session.detached(id, { step: ctx.target.step, node: node.name }, run);
    ctx.log.info(`[${node.name}] installer wrapper running detached: run ${runId}, pid ${pid}, folder ${dir}`);
    const decision = await gate.decide();
    if (!decision.go) {
      stdin?.end(`${STOP_LINE}\n`);
      const r = await launch;
      for (const line of afterReady.split('\n').filter(Boolean)) ctx.log.info(`[${node.name}] ${line}`);
      ctx.log.error(`[${node.name}] the installer was NOT started (launch exit ${r.code ?? r.signal}): ${decision.failures.join('; ')}`);
      return { kind: 'not-started', failures: decision.failures, hint: decision.hint };
    }
    ctx.log.info(`[${node.name}] starting the installer: ${decision.evidence}`);
    ctx.progress?.(node.name, 'installer: started, every node proven stopped');
    stdin?.end(`${GO_LINE}\n`);
    // The launch ends once the go line is at the gate; the installer is the node's from here.
    await launch.catch((e: unknown) => ctx.log.warn(`[${node.name}] the launch channel ended with ${(e as Error).message}; following the installer's log`));
    return followedRan(ctx, node, await followInstaller(ctx, deps, node, run, id, notice, () => gate.decide()), run, decision.evidence);
  } finally {
    ctx.signal.removeEventListener('abort', onCancel);
  }
}

async function installNode(ctx: ActionContext, deps: InstallerDeps, step: InstallStep, node: ClusterNode, id: string, proof: Extract<Proof, { ok: true }>, notice: NoticeDecision): Promise<Outcome> {
  const t = await deps.transportFor(node, 'owner');
  // The staged tree is the one step 3 measured, in a folder only the SSH user can change.
  let layout: PackageLayout;
  try {
    layout = await verifyStagedInstaller(t, ctx.cluster, node, recordedStaging(ctx.session.journal.events, node.name), ctx);
  } catch (e) {
    if (!(e instanceof StagedInstallerRefusal)) throw e;
    ctx.log.error(`[${node.name}] ${e.message}`);
    return finding('failed', ['the installer was NOT started', e.message], e.hint);
  }
  const cmd = installerCommand({ node, packageDir: layout.installerDir, fips: ctx.cluster.fips, mode: ctx.cluster.installerMode });
  const gate = startGate(ctx, deps, step, node.name, proof);
  ctx.progress?.(node.name, 'installer: checking the proof that every node is stopped, then starting');
  const ran = cmd.os === 'windows' && ctx.cluster.installerMode === 'guided'
    ? await runGuidedPty(ctx, deps, node, t, gatedInstallerScript(cmd).text, gate, notice, id)
    : await runDetached(ctx, deps, node, t, cmd, layout, gate, id, notice);
  return recordRan(ctx, deps, step, node, id, ran, gate.proof.evidence);
}

/** What the installer did (watched, or read back after a re-attach), believing the node. */
async function recordRan(ctx: ActionContext, deps: InstallerDeps, step: InstallStep, node: ClusterNode, id: string, ran: DetachedRan, proofEvidence: readonly string[], extra: readonly string[] = []): Promise<Outcome> {
  if (ran.kind === 'not-started') {
    return finding('failed', ['the installer was NOT started', ...ran.failures], ran.hint);
  }
  if (ran.kind === 'let-go') {
    // Not a failure: the installer goes on on the node; Check (or the next window) follows it again.
    ctx.log.warn(`[${node.name}] no longer following the installer: ${ran.why}. It keeps running on ${node.name} (run ${ran.run.runId}, pid ${ran.run.pid}); Check step ${step} to follow it again.`);
    return { ended: 'let-go' };
  }
  if (ran.kind === 'gone') {
    const reason = goneReason(node, ran.run, ctx.cluster.sharedAppdata);
    ctx.log.error(`[${node.name}] ${reason}`);
    return { ended: 'interrupted', reason };
  }
  if (ran.kind === 'stopped') return recordStopped(ctx, deps, node, ran.stop, ran.run);
  const t = await deps.transportFor(node, 'owner');
  const outcome = ran.outcome;

  if (outcome.kind === 'refused' || outcome.kind === 'aborted') {
    return finding('failed', [outcome.message], outcome.hint, { installer: 'refused' });
  }
  if (outcome.kind === 'handed-over') {
    return finding('failed', [`handed over at an unknown prompt and did not finish: ${outcome.prompt}`], 'Look at the terminal and the node; Check this step once the installer is done.', { installer: 'handed-over' });
  }
  // The installer said it succeeded; believe the node, not the message.
  const { probe } = await probeNode(() => Promise.resolve(t), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
  const detached = ctx.session.detachedRun(id);
  if (probe.kind !== 'probed' && detached) {
    // The node could not be read (a drop right after the end): not the installer's failure. Its
    // exit status and log stay on the node; Check reads them again.
    ctx.log.warn(`[${node.name}] the installer ended (run ${detached.runId}), but ${node.name} could not be read afterwards: ${probe.kind === 'failed' ? probe.message : probe.reason}. Check step ${step} to record its outcome.`);
    return { ended: 'let-go' };
  }
  const facts = factsFromProbe(probe);
  const appdata = probe.kind === 'probed' && probe.version.kind === 'ok' && probe.version.appdata?.kind === 'found' ? probe.version.appdata.version : undefined;
  if (facts.version !== ctx.cluster.targetVersion) {
    return finding('failed', [`the installer reported success, but conf/installed.version is ${facts.version ?? 'unreadable'}`], 'Read the installer output in the log and var/log on the node.', { ...facts, installer: 'failed' });
  }
  const evidence = [
    `upgraded ${outcome.from ?? ctx.cluster.currentVersion} → ${facts.version}`,
    ...(appdata ? [`shared appdata installed.version ${appdata}`] : []),
    outcome.schemaUpgraded ? 'database schema upgraded by this node' : 'no database upgrade on this node',
    ...(outcome.handedOver ? ['finished by hand in the terminal'] : []),
    ...proofEvidence,
    ran.started,
    ...extra,
  ];
  // Nothing the installer left may belong to another user than the install's owner.
  const owner = node.rights?.installOwner;
  if (owner !== undefined) {
    const foreign = await filesNotOwnedBy(await deps.transportFor(node, 'root'), owner, [node.installDir, ctx.cluster.sharedAppdata], ctx.signal);
    if (foreign.count > 0) {
      evidence.push(`${foreign.count} file(s) in ${node.installDir} or ${ctx.cluster.sharedAppdata} not owned by ${owner}: ${foreign.files.join(', ')}${foreign.count > foreign.files.length ? ', ...' : ''}`);
      return finding('warning', evidence, `The server runs as ${owner} and may fail to start: give those files back to ${owner} (chown) before step ${step === 'installFirst' ? 8 : 10}.`, { ...facts, installer: 'upgraded' });
    }
    evidence.push(`every file in ${node.installDir} and ${ctx.cluster.sharedAppdata} owned by ${owner}`);
  }
  // The first node upgrades the schema; the others must find it done (the doc's step 11).
  const schemaAsExpected = step === 'installFirst' ? outcome.schemaUpgraded : !outcome.schemaUpgraded;
  const hint = schemaAsExpected ? undefined : step === 'installFirst'
    ? 'The first node did not report a database upgrade: check ds_db_version in the database before going on.'
    : 'A later node upgraded the database schema: the first node\'s upgrade may not have reached the database. Check ds_db_version.';
  return finding(schemaAsExpected ? 'passed' : 'warning', evidence, hint, { ...facts, installer: 'upgraded' });
}

/** An installer stopped on purpose: failed, with where it was stopped and what the node shows now. */
async function recordStopped(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode, stop: GuardStop, run: DetachedRun | undefined): Promise<Finding> {
  const { probe } = await probeNode(() => deps.transportFor(node), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
  const facts = factsFromProbe(probe);
  const unchanged = facts.version === ctx.cluster.currentVersion;
  const before = stop.phase === 'before-database';
  const evidence = [
    `the installer was ${stop.why}`,
    `stop: ${stop.result}`,
    before ? 'stopped before the database upgrade' : 'it had reached the database upgrade when it was stopped',
    `conf/installed.version ${facts.version ?? 'unreadable'}${unchanged ? ' (unchanged)' : ''}`,
  ];
  const hint = before && unchanged
    ? 'Nothing was upgraded. Make sure every server is stopped (steps 4 and 5), then run the installer again.'
    : `${node.name} may be half-upgraded: look at conf/installed.version in ${node.installDir}${ctx.cluster.sharedAppdata ? ` and in ${ctx.cluster.sharedAppdata}` : ''}, ds_db_version in the database${run ? ` and the installer log ${run.dir}/log` : ''} before anything else.`;
  ctx.log.error(`[${node.name}] ${evidence.join('; ')}`);
  return finding('failed', evidence, hint, { ...facts, installer: 'failed' });
}

async function askNotice(ctx: ActionContext, deps: InstallerDeps, node: string, notice: Extract<NoticeDecision, { kind: 'ask' }>): Promise<boolean> {
  ctx.log.warn(`[${node}] asking the engineer before the silent installer: ${notice.question}`);
  const yes = await deps.confirm(notice.question, notice.detail);
  ctx.session.decided({ kind: 'confirmation', question: `${node}: ${notice.question}`, answer: yes ? 'yes' : 'no' }, { step: ctx.target.step, node });
  ctx.log[yes ? 'warn' : 'info'](`[${node}] ${yes ? '"Upgrade Anyway": the engineer goes on without the proof' : '"Stop Here": the installer is not started'}`);
  return yes;
}

async function run(ctx: ActionContext, deps: InstallerDeps, step: InstallStep): Promise<void> {
  for (const node of nodesFor(ctx, step)) {
    if (ctx.signal.aborted) return;
    await ctx.act({ step, node: node.name }, 'run', async ({ id }) => {
      try {
        const notice = noticeDecision(ctx.session.state(), node.name);
        // Silent mode never shows the NOTICE (nonInteractive), so its question comes first.
        if (ctx.cluster.installerMode === 'silent' && notice.kind === 'ask' && !(await askNotice(ctx, deps, node.name, notice))) {
          return finding('failed', ['the installer was NOT started', `"Stop Here" at the NOTICE: ${notice.question}`], 'Take the backup (step 1) and make sure no process runs (step 2), then run the installer again.');
        }
        const proof = await provePreconditions(ctx, deps, step, node.name);
        if (!proof.ok) {
          for (const n of proof.failures) ctx.log.error(`[installer] ${n}`);
          return finding('failed', ['the installer was NOT started', ...proof.failures], proof.hint);
        }
        ctx.log.info(`[installer] proven: ${proof.evidence.join('; ')}`);
        if (step === 'installFirst') for (const w of gateWarnings('installFirst', ctx.session.state())) ctx.log.warn(`[installer] ${w.reason}`);
        return await installNode(ctx, deps, step, node, id, proof, notice);
      } catch (e) {
        const hint = e instanceof StepFailure || e instanceof RemoteError || e instanceof InstallerInputError ? e.hint : 'Read the log; check the node (installed.version, var/log) before running again.';
        ctx.log.error(`[${node.name}] installer: ${(e as Error).message}`);
        return finding('failed', [(e as Error).message], hint, e instanceof StepFailure ? e.facts : { installer: 'failed' });
      }
    });
    // A failed node stops the sequence: the next one would meet the same problem, or a worse one.
    // So does one this window let go of, still running on its node, or one found gone.
    const o = ctx.session.state().get(`${step}@${node.name}`);
    if (o?.status === 'failed' || o?.status === 'running' || o?.status === 'interrupted') return;
  }
}

/**
 * Follows again an installer that runs (or ran) detached on the node while no window followed it
 * (a reload, a drop): its whole log is read from the start and its outcome recorded on the run that
 * started it, as if watched.
 */
async function reattach(ctx: ActionContext, deps: InstallerDeps, step: InstallStep, node: ClusterNode, id: string, run: DetachedRun): Promise<Outcome> {
  ctx.log.info(`[${node.name}] re-attaching to the installer on ${node.name}: run ${run.runId}, pid ${run.pid}, folder ${run.dir}`);
  const how = `re-attached to the installer on ${node.name} (run ${run.runId}, pid ${run.pid}); its log read from the start`;
  // A person saying "Upgrade Anyway" at the NOTICE now: the stopped-proof is taken again first.
  const decide = async (): Promise<GoDecision> => {
    const p = await provePreconditions(ctx, deps, step, node.name);
    return p.ok ? { go: true, evidence: `proven again at the NOTICE after a re-attach: ${p.evidence.join('; ')}` } : { go: false, failures: p.failures, hint: p.hint };
  };
  try {
    return await recordRan(ctx, deps, step, node, id, followedRan(ctx, node, await followInstaller(ctx, deps, node, run, id, noticeDecision(ctx.session.state(), node.name), decide), run, how), []);
  } catch (e) {
    const hint = e instanceof StepFailure || e instanceof RemoteError ? e.hint : `Read ${run.dir}/log on ${node.name}; check installed.version before running again.`;
    ctx.log.error(`[${node.name}] installer (re-attached): ${(e as Error).message}`);
    return finding('failed', [(e as Error).message], hint, e instanceof StepFailure ? e.facts : { installer: 'failed' });
  }
}

/** The detached installer this window does not follow yet, if the node's latest run left one. */
function unfollowed(ctx: ActionContext, step: InstallStep, node: string): { id: string; run: DetachedRun } | undefined {
  const o = ctx.session.state().get(`${step}@${node}`);
  if (o?.status !== 'running' || ctx.session.carries(o.id)) return undefined;
  const run = ctx.session.detachedRun(o.id);
  return run ? { id: o.id, run } : undefined;
}

/**
 * Check: an installer still running detached (or ended while nobody watched) is followed again and
 * its outcome recorded; otherwise the node's conf/installed.version (and appdata's) must show the
 * target version.
 */
async function check(ctx: ActionContext, deps: InstallerDeps, step: InstallStep): Promise<void> {
  await Promise.all(nodesFor(ctx, step).map(async (node) => {
    const detached = unfollowed(ctx, step, node.name);
    const target = { step, node: node.name };
    // Recorded on the run that started it, as if watched.
    if (detached) return ctx.resume(detached.id, target, 'run', ({ id }) => reattach(ctx, deps, step, node, id, detached.run));
    return ctx.act(target, 'check', async (): Promise<Finding> => {
      const { probe } = await probeNode(() => deps.transportFor(node, 'root'), node, { appdataDir: ctx.cluster.sharedAppdata, signal: ctx.signal });
      const facts = factsFromProbe(probe);
      if (probe.kind !== 'probed') {
        return finding('failed', [probe.kind === 'failed' ? probe.message : probe.reason], probe.kind === 'failed' ? probe.hint : 'Check by hand.', facts);
      }
      const appdata = probe.version.kind === 'ok' && probe.version.appdata?.kind === 'found' ? probe.version.appdata.version : undefined;
      const half = await halfUpgraded(ctx, deps, node);
      if (half) {
        ctx.log.error(`[${node.name}] ${half.reason}`);
        return finding('failed', [half.reason, `conf/installed.version ${facts.version ?? 'unreadable'}${appdata ? `, shared appdata ${appdata}` : ''}`], half.hint, { ...facts, installer: 'failed' });
      }
      const ok = facts.version === ctx.cluster.targetVersion;
      return finding(ok ? 'passed' : 'failed', [`conf/installed.version ${facts.version ?? 'unreadable'}`], ok ? undefined : 'Run the installer on this node.', ok ? { ...facts, installer: 'upgraded' } : facts);
    });
  }));
}

/**
 * What the node itself says about an installer that stopped halfway, whatever the journal holds
 * (another workspace, a lost journal): the latest run folder on the node gone without an exit
 * status. (The install and the appdata on different versions is no sign: other nodes are so
 * between steps 7 and 9.)
 */
async function halfUpgraded(ctx: ActionContext, deps: InstallerDeps, node: ClusterNode): Promise<{ reason: string; hint: string } | undefined> {
  if (node.os === 'windows') return undefined;
  const look = `Look at conf/installed.version in ${node.installDir}${ctx.cluster.sharedAppdata ? ` and in ${ctx.cluster.sharedAppdata}` : ''} and ds_db_version in the database`;
  let last: LastRun | undefined;
  try {
    const t = await deps.transportFor(node, 'owner');
    last = parseLastRun((await t.exec(lastRunScript(STAGE_ROOT).text, { timeoutMs: 60_000, signal: ctx.signal })).stdout);
  } catch (e) {
    ctx.log.warn(`[${node.name}] could not read the installer run folders: ${(e as Error).message}`);
  }
  if (last?.kind === 'run' && last.state.kind === 'gone') {
    return {
      reason: `${node.name} may be half-upgraded: its latest installer run (${last.runId}${last.pid !== undefined ? `, pid ${last.pid}` : ''}) is gone without an exit status`,
      hint: `${look}; read the installer log ${last.dir}/log on ${node.name}. Restore the backup or run the installer again, as the log says.`,
    };
  }
  return undefined;
}

export function installerHandlers(step: InstallStep, deps: InstallerDeps): RunAndCheck {
  return { run: (ctx) => run(ctx, deps, step), check: (ctx) => check(ctx, deps, step) };
}
