// How many SSH session channels one connection may hold. OpenSSH refuses a session beyond
// MaxSessions (default 10; hardened configurations set 1 or 2), so channels queue under a limit
// kept below it, one of them kept for kills (a full queue must never block stopping a command).
// A slot is held until the server has closed its channel. A refused open is back-pressure, not
// a failure: the open waits and is tried again, and the limit drops to what the server allows.
//
// Why "refused" is not always "full": sshd frees a closed session only after it has read our
// close AND finished that read; an open arriving right behind a close can still find it taken.
// Every answer to an open proves the server has read all we sent before it, so releases older
// than the last answered open are settled; a refusal with unsettled releases is that lag, and a
// second try (sent after the answer) finds them gone.
import { RemoteError } from './transport';

/** What a server said when it refused to open a channel (ssh2's CHANNEL_OPEN_FAILURE). */
export class ChannelRefused extends Error {}

export interface ChannelSlotsOptions {
  /** Give up when opens are refused this long while we hold no other channel. Default 30 s. */
  readonly refusedDeadlineMs?: number;
  /** Told when a refusal lowers the limit. */
  readonly onLimit?: (limit: number, reason: string) => void;
  /** For tests: the pause between tries while nothing of ours is open. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type SlotPriority = 'command' | 'kill';

interface Waiter {
  readonly priority: SlotPriority;
  readonly grant: (priority: SlotPriority) => void;
  readonly fail: (e: Error) => void;
}

export class ChannelSlots {
  /** Slots granted, and how many of them have sent their open (and are not closed). */
  private held = 0;
  private sent = 0;
  private commands = 0;
  private max: number;
  private readonly waiting: Waiter[] = [];
  /** Releases so far, and how many of them the server has provably read. */
  private releases = 0;
  private settled = 0;
  private readonly refusedDeadlineMs: number;

  constructor(
    /** At most this many channels at once, kills included. */
    capacity: number,
    private readonly node: string,
    private readonly options: ChannelSlotsOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`channel capacity must be a positive integer, got ${capacity}`);
    this.max = capacity;
    this.refusedDeadlineMs = options.refusedDeadlineMs ?? 30_000;
  }

  /** The current limit: the capacity, or lower once the server refused an open. */
  get limit(): number {
    return this.max;
  }

  get active(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a release function once a slot is free; an abort while queued rejects
   * 'cancelled'. Kills may use the one slot commands leave free, and go first.
   */
  async acquire(signal?: AbortSignal, priority: SlotPriority = 'command'): Promise<() => void> {
    const slot = await this.take(signal, priority);
    slot.sending(); // the caller opens its channel right away
    return slot.release;
  }

  /**
   * Takes a slot and opens a channel with `attempt`, which rejects with ChannelRefused when the
   * server refuses. A refusal waits for a slot and tries again (lowering the limit when the
   * server is really full); other errors free the slot and propagate. The slot is held until
   * the returned release is called: when the server has closed the channel.
   */
  async open<T>(attempt: () => Promise<T>, o: { readonly signal?: AbortSignal; readonly priority?: SlotPriority } = {}): Promise<{ readonly channel: T; readonly release: () => void }> {
    let firstLonelyRefusal: number | undefined;
    let pause = 50;
    for (;;) {
      const slot = await this.take(o.signal, o.priority ?? 'command');
      // What the server has (or may still have) when it reads this open: the opens sent before
      // it that are not closed yet, and the releases it may not have read.
      const releasesAtSend = this.releases;
      const settledAtSend = this.settled;
      const othersAtSend = this.sent;
      slot.sending();
      let channel: T;
      try {
        channel = await attempt();
      } catch (e) {
        this.settle(releasesAtSend);
        slot.abandon();
        if (!(e instanceof ChannelRefused)) throw e;
        // Releases the server had not provably read when we sent: its lag, not its limit.
        if (releasesAtSend > settledAtSend) continue;
        if (othersAtSend > 0) {
          this.lower(othersAtSend, e.message);
          continue; // queued again: a slot frees when one of ours closes
        }
        // Nothing of ours open and still refused: some other limit; try for a bounded while.
        firstLonelyRefusal ??= Date.now();
        if (Date.now() - firstLonelyRefusal >= this.refusedDeadlineMs) {
          throw new RemoteError(
            'protocol',
            this.node,
            `Node ${this.node} refused every new SSH session for ${Math.round(this.refusedDeadlineMs / 1000)} s, even with no other session of ours open: ${e.message}.`,
            `Check the node's sshd_config for the SSH user (sshd -T -C user=<user> shows MaxSessions, which must be at least 1), then run the step again.`,
          );
        }
        await (this.options.sleep ?? sleep)(pause, o.signal).catch(() => Promise.reject(cancelledWhileQueued(this.node)));
        pause = Math.min(pause * 2, 1000);
        continue;
      }
      this.settle(releasesAtSend);
      return { channel, release: slot.release };
    }
  }

  /** Fails everything still queued (the connection is gone). */
  failAll(error: Error): void {
    for (const w of this.waiting.splice(0)) w.fail(error);
  }

  private take(signal: AbortSignal | undefined, priority: SlotPriority): Promise<Slot> {
    if (signal?.aborted) return Promise.reject(cancelledWhileQueued(this.node));
    return new Promise((resolve, reject) => {
      const entry: Waiter = {
        priority,
        grant: (p) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.slot(p));
        },
        fail: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(cancelledWhileQueued(this.node));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Kills go ahead of every queued command, behind earlier kills.
      const at = priority === 'kill' ? this.waiting.findIndex((w) => w.priority !== 'kill') : -1;
      if (at >= 0) this.waiting.splice(at, 0, entry);
      else this.waiting.push(entry);
      this.pump();
    });
  }

  private fits(priority: SlotPriority): boolean {
    if (this.held >= this.max) return false;
    // Commands leave one slot for kills, unless the limit is 1: then they share it.
    return priority === 'kill' || this.commands < (this.max > 1 ? this.max - 1 : 1);
  }

  private lower(limit: number, why: string): void {
    if (limit >= this.max) return;
    this.max = limit;
    this.options.onLimit?.(limit, why);
  }

  private settle(releasesAtSend: number): void {
    if (releasesAtSend > this.settled) this.settled = releasesAtSend;
  }

  /** Grants queued slots in order while they fit (a command that does not fit leaves room for a kill behind it). */
  private pump(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      if (!this.fits(w.priority)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.held++;
      if (w.priority === 'command') this.commands++;
      w.grant(w.priority);
    }
  }

  private slot(priority: SlotPriority): Slot {
    let done = false;
    let sent = false;
    const free = (closedChannel: boolean): void => {
      if (done) return;
      done = true;
      this.held--;
      if (priority === 'command') this.commands--;
      if (sent) this.sent--;
      if (closedChannel) this.releases++;
      this.pump();
    };
    return {
      sending: () => {
        if (!sent && !done) {
          sent = true;
          this.sent++;
        }
      },
      release: () => free(true),
      abandon: () => free(false),
    };
  }
}

/** A granted slot: sending before its open goes out, release once the server has closed its channel, abandon when it never opened. */
interface Slot {
  readonly sending: () => void;
  readonly release: () => void;
  readonly abandon: () => void;
}

function cancelledWhileQueued(node: string): RemoteError {
  return new RemoteError('cancelled', node, `Cancelled on ${node} before the command started.`, 'Run the step again when you are ready.');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
