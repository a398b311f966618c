// While an installer runs, nothing may touch the database but it. The guard probes the nodes that
// must stay down every few seconds (the stopped-proof probe, one round trip each, all in parallel);
// a server that comes back is an alarm in the journal (the tree, the status view and the output
// channel show it). Until the installer has reached the database upgrade it is stopped at once,
// before it touches the database; after that, stopping it would leave the schema half-upgraded,
// so it is left running and the alarm says what to do.
// The same registry answers the front end's Cancel: the core asks first (the 'stop-installer'
// confirmation, the safe answer first), and only a yes stops the installer. Closing the window
// stops nothing: the follow lets go and the detached installer runs on.
import type { ClusterNode } from '../cluster/types';
import type { Target } from '../journal/events';
import type { DetachedRun } from '../remote/detached';
import { sh, type ShellScript } from '../remote/quote';
import type { Transport } from '../remote/transport';
import type { ActionContext } from '../runbook/actions';
import { showsRunning } from '../status/facts';
import type { InstallerEvent } from '../ucd/installer/driver';
import { probeStopped, type StoppedOptions } from './verifyStopped';

export const DEFAULT_GUARD_EVERY_MS = 5_000;
/** The two answers of the stop question; the safe one first (the default). */
export const LET_IT_RUN = 'Let It Run';
export const STOP_THE_INSTALLER = 'Stop the Installer';

/** "12 min ago" style: seconds under two minutes, minutes after. */
export function ago(ms: number): string {
  const m = Math.max(0, ms);
  return m < 120_000 ? `${Math.round(m / 1000)} s` : `${Math.round(m / 60_000)} min`;
}

/** The line a long silence is shown with: the installer is not stuck for that, only quiet. */
export function stillRunningLine(node: string, lastOutputAt: number, now: number = Date.now()): string {
  return `still running on ${node}, last output ${ago(now - lastOutputAt)} ago`;
}

/** Where the installer is, as its output says: before the database upgrade or at (or past) it. */
export type InstallerPhase = 'before-database' | 'database';

export function installerPhase(events: readonly InstallerEvent[]): InstallerPhase {
  // Either line means the installer has looked at the schema and goes on from there.
  return events.some((e) => e.type === 'info' && (e.kind === 'databaseUpgrades' || e.kind === 'noDatabaseUpgrades')) ? 'database' : 'before-database';
}

/** The 'stop-installer' question: what stopping it now means, each answer said once. */
export function stopInstallerQuestion(node: string, phase: InstallerPhase): { question: string; detail: string } {
  const now = phase === 'before-database'
    ? `Its output shows it has not reached the database upgrade yet, so stopped now it should leave the database unchanged; the node may keep a partly laid install that Check on step 5 and a new run deal with.`
    : `It has reached the database upgrade. Stopped halfway, the database schema may be left half-upgraded, and a server upgrade cannot be rolled back: only a restore of the backup (step 1) undoes it.`;
  return {
    question: `Stop the installer on ${node}?`,
    detail: [
      now,
      `"${LET_IT_RUN}" (the default) changes nothing: the installer goes on on ${node} and the step keeps following it.`,
      `"${STOP_THE_INSTALLER}" ends the installer's processes on ${node} at once; the step fails and says what to look at before anything else.`,
    ].join('\n'),
  };
}

const STOP_HEADER = 'ucd-stop';

/**
 * Ends a detached run's processes, all but its session leader, so the leader still writes the exit
 * status and the follow records a real end: TERM, then KILL after `graceSeconds`. The pid counts as
 * the run's only while its command line names the run folder (a reused pid is left alone).
 */
export function stopDetachedScript(run: DetachedRun, graceSeconds = 10): ShellScript {
  return sh`d=${run.dir}
p=${run.pid}
if [ -f "$d/exit" ]; then echo ${STOP_HEADER} "ended $(cat "$d/exit")"; exit 0; fi
[ -r /proc/$p/cmdline ] && tr '\\000' '\\n' < /proc/$p/cmdline | grep -qxF -- "$d" || { echo ${STOP_HEADER} gone; exit 0; }
# Every live process of the run's session but its leader (a zombie is already dead).
members() { for s in /proc/[0-9]*/stat; do q=\${s#/proc/}; q=\${q%/stat}; [ "$q" = "$p" ] && continue; f=$(sed 's/^.*) //' "$s" 2>/dev/null) || continue; set -- $f; [ "$1" != Z ] && [ "$4" = "$p" ] && echo "$q"; done; }
n=0; for q in $(members); do kill -TERM "$q" 2>/dev/null && n=$((n + 1)); done
i=0; while [ -n "$(members)" ] && [ $i -lt ${graceSeconds} ]; do sleep 1; i=$((i + 1)); done
k=0; for q in $(members); do kill -KILL "$q" 2>/dev/null && k=$((k + 1)); done
echo ${STOP_HEADER} "stopped $n $k"`;
}

export type StopReport =
  | { readonly kind: 'stopped'; readonly terminated: number; readonly killed: number }
  | { readonly kind: 'ended'; readonly code: number }
  | { readonly kind: 'gone' };

export function parseStop(stdout: string): StopReport | undefined {
  const m = new RegExp(`^${STOP_HEADER} (?:stopped (\\d+) (\\d+)|ended (\\d+)|(gone))$`, 'm').exec(stdout);
  if (!m) return undefined;
  if (m[4]) return { kind: 'gone' };
  if (m[3] !== undefined) return { kind: 'ended', code: Number(m[3]) };
  return { kind: 'stopped', terminated: Number(m[1]), killed: Number(m[2]) };
}

export function describeStop(r: StopReport): string {
  switch (r.kind) {
    case 'stopped': return `${r.terminated} process${r.terminated === 1 ? '' : 'es'} sent TERM${r.killed ? `, ${r.killed} KILLed after the grace time` : ''}`;
    case 'ended': return `it had already ended (exit ${r.code})`;
    case 'gone': return 'its process was already gone';
  }
}

/** Stops a detached run on its node; the words of what happened. Throws on a link that fails. */
export async function stopDetached(t: Transport, run: DetachedRun, signal?: AbortSignal): Promise<string> {
  const r = await t.exec(stopDetachedScript(run).text, { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
  const report = parseStop(r.stdout);
  if (!report) throw new Error(`no answer from the stop script (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-200)}`);
  return describeStop(report);
}

/** Why an installer was stopped, and where it was then. */
export interface GuardStop {
  readonly why: string;
  readonly phase: InstallerPhase;
  /** What the stop did on the node, or why it could not. */
  readonly result: string;
}

export interface GuardDeps {
  transportFor(node: ClusterNode): Promise<Transport>;
  /** The 'stop-installer' confirmation: true only for "Stop the Installer". */
  confirm(question: string, detail: string): Promise<boolean>;
  readonly stoppedOptions?: StoppedOptions;
  /** How often the nodes that must stay down are probed; default 5 s. */
  readonly everyMs?: number;
}

/** One installer being followed: what the guard and Cancel need to know and to do. */
export interface WatchedInstaller {
  /** The installer's events so far (the driver's list, read live). */
  readonly events: readonly InstallerEvent[];
  /** Ends the installer on its node; resolves with what happened there. */
  stop(): Promise<string>;
  /** When its output last grew (ms since the epoch); the progress line says a long silence. */
  lastOutputAt?(): number;
}

/** Silence shorter than this is not worth a word in the progress line. */
export const SILENCE_SHOWN_AFTER_MS = 60_000;

export interface GuardWatch {
  /** Set once the installer was stopped (by the guard or by a person). */
  readonly stopped: GuardStop | undefined;
  /**
   * The follow is over: probing ends. Resolves with the stop, if one was begun, once it is done
   * (the installer can end under a stop before the stop's own answer is back).
   */
  end(): Promise<GuardStop | undefined>;
}

interface Entry {
  readonly ctx: ActionContext;
  readonly target: Required<Target>;
  readonly id: string;
  readonly installer: WatchedInstaller;
  stopped: GuardStop | undefined;
  stopping: Promise<GuardStop> | undefined;
  ended: boolean;
}

function sleep(ms: number, signal: AbortSignal, until: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => (clearTimeout(timer), signal.removeEventListener('abort', done), resolve());
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void until.then(done);
  });
}

/** The nodes that must be down while `installing` installs: as the proof before it (installerPreconditions.ts). */
function mustStayDown(ctx: ActionContext, step: string): ClusterNode[] {
  return ctx.cluster.nodes.filter((n) => step === 'installFirst' || n.name !== ctx.cluster.firstNode);
}

export class InstallerGuard {
  private readonly entries = new Set<Entry>();

  constructor(private readonly deps: GuardDeps) {}

  /**
   * Watches an installer from its go until `end()`: probes the nodes that must stay down and
   * registers it for Cancel. `id` is the started action the alarms belong to.
   */
  watch(ctx: ActionContext, node: string, id: string, installer: WatchedInstaller): GuardWatch {
    const entry: Entry = { ctx, target: { step: ctx.target.step, node }, id, installer, stopped: undefined, stopping: undefined, ended: false };
    this.entries.add(entry);
    let endLoop: () => void = () => undefined;
    const over = new Promise<void>((r) => (endLoop = r));
    void this.probeLoop(entry, over);
    return {
      get stopped() {
        return entry.stopped;
      },
      end: async () => {
        entry.ended = true;
        endLoop();
        this.entries.delete(entry);
        return entry.stopping ? await entry.stopping : entry.stopped;
      },
    };
  }

  /**
   * What the front end's progress line says for `target` now: each installer running, and how long
   * it has been silent when that is over a minute ("still running on ucd1, last output 12 min ago").
   */
  progress(target: Target, now: number = Date.now()): string {
    return [...this.entries].filter((e) => this.matches(e, target)).map((e) => {
      const last = e.installer.lastOutputAt?.();
      return last !== undefined && now - last >= SILENCE_SHOWN_AFTER_MS ? stillRunningLine(e.target.node, last, now) : `running on ${e.target.node}`;
    }).join('; ');
  }

  /** The installers being followed now for `target` (its step, and its node when given). */
  running(target: Target): readonly Required<Target>[] {
    return [...this.entries].filter((e) => this.matches(e, target)).map((e) => e.target);
  }

  /**
   * The front end's Cancel on an installer step: asks first, for each installer of `target` that
   * runs, and stops it only on "Stop the Installer". "Let It Run" leaves it and the step running.
   */
  async cancel(target: Target): Promise<'stopped' | 'left-running' | 'not-running'> {
    const entries = [...this.entries].filter((e) => this.matches(e, target) && !e.stopped);
    if (entries.length === 0) return 'not-running';
    let stoppedAny = false;
    for (const e of entries) {
      const phase = installerPhase(e.installer.events);
      const q = stopInstallerQuestion(e.target.node, phase);
      let yes = false;
      try {
        yes = await this.deps.confirm(q.question, q.detail);
      } catch (err) {
        e.ctx.log.error(`[${e.target.node}] the stop question failed: ${(err as Error).message}; the installer runs on`);
      }
      if (e.ended) continue;
      if (!yes) {
        e.ctx.log.info(`[${e.target.node}] "${LET_IT_RUN}": the installer goes on on ${e.target.node}; the step keeps following it`);
        continue;
      }
      e.ctx.log.warn(`[${e.target.node}] "${STOP_THE_INSTALLER}": stopping the installer on ${e.target.node} (${phase === 'before-database' ? 'before the database upgrade' : 'it had reached the database upgrade'})`);
      await this.stop(e, `stopped on the engineer's word (Cancel, then "${STOP_THE_INSTALLER}")`);
      stoppedAny = true;
    }
    return stoppedAny ? 'stopped' : 'left-running';
  }

  private matches(e: Entry, target: Target): boolean {
    return !e.ended && e.target.step === target.step && (target.node === undefined || target.node === e.target.node);
  }

  private stop(e: Entry, why: string): Promise<GuardStop> {
    if (e.stopping) return e.stopping;
    const phase = installerPhase(e.installer.events);
    e.stopping = e.installer.stop().then(
      (result) => result,
      (err: unknown) => `the stop did not reach ${e.target.node}: ${(err as Error).message}`,
    ).then((result) => {
      e.stopped = { why, phase, result };
      e.ctx.log.warn(`[${e.target.node}] installer stop: ${result}`);
      return e.stopped;
    });
    return e.stopping;
  }

  private async probeLoop(e: Entry, over: Promise<void>): Promise<void> {
    const every = this.deps.everyMs ?? DEFAULT_GUARD_EVERY_MS;
    const alarmed = new Set<string>();
    const nodes = mustStayDown(e.ctx, e.target.step);
    const { ctx } = e;
    const quiet = { ...ctx, log: { info: () => undefined, warn: () => undefined, error: () => undefined } };
    while (!e.ended && !ctx.signal.aborted) {
      await sleep(every, ctx.signal, over);
      if (e.ended || ctx.signal.aborted) return;
      const seen = await Promise.all(nodes.filter((n) => !alarmed.has(n.name)).map(async (n) => {
        try {
          return { node: n, ...(await probeStopped(quiet, n, this.deps.transportFor, this.deps.stoppedOptions ?? {}, false)) };
        } catch {
          return undefined;
        }
      }));
      if (e.ended) return;
      for (const s of seen) {
        // An unreachable node proves nothing either way; the proof before the start stands.
        if (!s || s.probe.kind !== 'probed' || s.evaluation.verdict === 'passed' || !showsRunning(s.evaluation.facts)) continue;
        // While the other nodes upgrade, one already on the target may be back, like the first node.
        if (e.target.step === 'installOthers' && s.node.name !== e.target.node && s.evaluation.facts.version === ctx.cluster.targetVersion) continue;
        alarmed.add(s.node.name);
        await this.alarm(e, s.node.name, s.evaluation.evidence);
      }
    }
  }

  private async alarm(e: Entry, server: string, evidence: readonly string[]): Promise<void> {
    const node = e.target.node;
    const phase = installerPhase(e.installer.events);
    const seen = `a server is running on ${server} while the installer runs on ${node}`;
    let message: string;
    let action: 'installer-stopped' | 'installer-left-running';
    if (phase === 'before-database' && !e.stopped) {
      e.ctx.log.error(`[${node}] ALARM: ${seen} (${evidence.join('; ')}); stopping the installer before it reaches the database`);
      const stop = await this.stop(e, `stopped by the guard: ${seen}, before the installer reached the database upgrade`);
      action = 'installer-stopped';
      message = `${seen}: the installer was stopped before the database upgrade (${stop.result}). Stop the server on ${server} (steps 4 and 5), then run the installer again.`;
    } else {
      action = 'installer-left-running';
      message = `${seen}, and the installer has reached the database upgrade: stopping it now would leave the schema half-upgraded, so it runs on. Stop the server on ${server} now, then check ds_db_version and the installer log.`;
    }
    e.ctx.log.error(`[${node}] ALARM: ${message}`);
    try {
      e.ctx.session.guardAlarm(e.id, e.target, { server, evidence, action, message });
    } catch (err) {
      e.ctx.log.error(`[${node}] the alarm could not be recorded in the journal: ${(err as Error).message}`);
    }
  }
}
