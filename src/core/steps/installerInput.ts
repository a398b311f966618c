// The guided installer's input, across reconnects: the driver's answers and the person's lines in
// the hand-over terminal are written, one short exec each and in order, to the FIFO in the run
// folder (remote/detached.ts). A write that meets a dropped connection waits for it to come back,
// as the log follower does; an answer keyed by its log offset is typed at most once, even by the
// next window re-reading the same log.
import type { ClusterNode } from '../cluster/types';
import { inputScript, parseInputWrite, stopScript, type DetachedRun, type InputWrite } from '../remote/detached';
import type { Transport } from '../remote/transport';
import { pause } from './pause';

/** What the hand-over terminal holds: the live installer's output and its input. */
export interface InstallerSession {
  /** Typed text; Enter may come as CR (a terminal's) and is sent as the newline the installer reads. */
  write(data: string): void;
  /** The installer's output as it comes (the log on the node, followed). */
  onData(listener: (chunk: string) => void): void;
  /** The terminal lets go; the installer keeps running (and waiting) on the node. */
  close(): void;
  /** Ends the installer (the person's decision, e.g. no one is there to answer). */
  stop(): void;
  /** The follow ended: `code` is the installer's exit status, null when this window let go or it is gone. */
  readonly exit: Promise<{ readonly code: number | null; readonly signal?: string }>;
}

export interface InputLog {
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
}

export class DetachedInput {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly node: ClusterNode,
    private readonly run: DetachedRun,
    private readonly transportFor: (n: ClusterNode) => Promise<Transport>,
    private readonly log: InputLog,
    /** This window's follow: once it ends (cancel, reload), writes end too; the next window answers. */
    private readonly signal: AbortSignal,
    private readonly reconnectMs = 5 * 60_000,
  ) {}

  /** Queues `text` for the installer's input; `key` (a log offset) makes it once-only across windows. */
  write(text: string, key = ''): Promise<InputWrite | 'not-written'> {
    const next = this.chain.then(() => this.once(text, key));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Ends the installer's session on the node and records its stop as its exit status. */
  async stop(): Promise<string> {
    const t = await this.transportFor(this.node);
    const r = await t.exec(stopScript(this.run).text, { timeoutMs: 60_000 });
    const said = (r.stdout.trim() || r.stderr.trim()).split('\n').pop() ?? '';
    this.log.warn(`[${this.node.name}] the installer was stopped (run ${this.run.runId}): ${said}`);
    return said;
  }

  private async once(text: string, key: string): Promise<InputWrite | 'not-written'> {
    const since = Date.now();
    let backoff = 1_000;
    for (;;) {
      if (this.signal.aborted) return 'not-written';
      let problem: string;
      try {
        const t = await this.transportFor(this.node);
        const r = await t.exec(inputScript(this.run, key).text, { stdin: text, timeoutMs: 30_000, signal: this.signal });
        const w = parseInputWrite(r.stdout);
        if (w) return w;
        problem = `exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-200)}`;
      } catch (e) {
        problem = (e as Error).message;
      }
      if (Date.now() - since > this.reconnectMs) {
        this.log.error(`[${this.node.name}] could not write to the installer's input for ${Math.round((Date.now() - since) / 1000)} s (${problem}); it keeps waiting on ${this.node.name} (run ${this.run.runId}). Check the step to answer it again.`);
        return 'not-written';
      }
      this.log.warn(`[${this.node.name}] writing to the installer's input failed (${problem}); trying again when the connection is back`);
      await pause(backoff, this.signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

/**
 * The session the hand-over terminal gets: output fanned out from the follower (`publish`), each
 * line typed sent to the FIFO, `stop` the installer's end. `ended` is called once the follow ends.
 */
export function detachedSession(input: DetachedInput): InstallerSession & { publish(chunk: string): void; ended(code: number | null, signal?: string): void } {
  const listeners = new Set<(chunk: string) => void>();
  let resolveExit: (v: { code: number | null; signal?: string }) => void = () => undefined;
  const exit = new Promise<{ code: number | null; signal?: string }>((r) => (resolveExit = r));
  return {
    write: (data) => void input.write(data.replace(/\r\n?/g, '\n')),
    onData: (l) => void listeners.add(l),
    close: () => listeners.clear(),
    stop: () => void input.stop().catch(() => undefined),
    exit,
    publish: (chunk) => listeners.forEach((l) => l(chunk)),
    ended: (code, signal) => resolveExit(signal === undefined ? { code } : { code, signal }),
  };
}
