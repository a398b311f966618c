// A counting semaphore for SSH channels: OpenSSH refuses a session channel beyond MaxSessions
// (default 10) per connection, so we queue instead of failing.
import { RemoteError } from './transport';

export class ChannelSlots {
  private inUse = 0;
  private readonly waiting: { grant: () => void; fail: (e: Error) => void }[] = [];

  constructor(
    readonly capacity: number,
    private readonly node: string,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`channel capacity must be a positive integer, got ${capacity}`);
  }

  get active(): number {
    return this.inUse;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; an abort while queued rejects 'cancelled'. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(cancelledWhileQueued(this.node));
    if (this.inUse < this.capacity) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        fail: reject,
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(cancelledWhileQueued(this.node));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Fails everything still queued (the connection is gone). */
  failAll(error: Error): void {
    for (const w of this.waiting.splice(0)) w.fail(error);
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next.grant();
      else this.inUse--;
    };
  }
}

function cancelledWhileQueued(node: string): RemoteError {
  return new RemoteError('cancelled', node, `Cancelled on ${node} before the command started.`, 'Run the step again when you are ready.');
}
