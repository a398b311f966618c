// The link to a node that runs something detached: a failed round trip is the link's problem,
// never the remote command's. The keepalive (ssh.ts) notices a dead link within about 30 s; from
// then on the link is tried again with a growing delay, each time through the pool, which opens a
// new connection and verifies the host key again, until it answers or the patience runs out.

/** Delays between tries: `first`, doubled each time, never more than `max`. */
export class Backoff {
  private next: number;

  constructor(private readonly first: number, private readonly max = 30_000) {
    this.next = first;
  }

  /** The delay before the next try; the one after it is longer. */
  delay(): number {
    const d = this.next;
    this.next = Math.min(this.next * 2, this.max);
    return d;
  }

  reset(): void {
    this.next = this.first;
  }
}

/** What one round trip's result means for the link. */
export type LinkChange =
  | { readonly kind: 'up' }
  /** The first failure after the link was up: say it once. */
  | { readonly kind: 'lost'; readonly problem: string; readonly waitMs: number }
  /** Still down; `waitMs` before the next try. */
  | { readonly kind: 'down'; readonly waitMs: number }
  /** Down longer than the patience: stop trying from here (the remote command goes on). */
  | { readonly kind: 'given-up'; readonly downMs: number; readonly problem: string }
  /** Up again after it was lost; `downMs` it was down. */
  | { readonly kind: 'restored'; readonly downMs: number };

/**
 * The state of one node's link as seen by a poller: fed each round trip's success or failure, it
 * says when the link was lost, when it came back and how long to wait in between.
 */
export class LinkWatch {
  private downSince: number | undefined;
  private lostSaid = false;
  private readonly backoff: Backoff;

  constructor(private readonly o: { readonly firstDelayMs: number; readonly maxDelayMs?: number; readonly patienceMs: number; readonly now?: () => number }) {
    this.backoff = new Backoff(o.firstDelayMs, o.maxDelayMs ?? 30_000);
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  get down(): boolean {
    return this.downSince !== undefined;
  }

  ok(): LinkChange {
    const since = this.downSince;
    this.downSince = undefined;
    this.backoff.reset();
    if (since === undefined) return { kind: 'up' };
    this.lostSaid = false;
    return { kind: 'restored', downMs: this.now() - since };
  }

  failed(problem: string): LinkChange {
    const now = this.now();
    if (this.downSince === undefined) this.downSince = now;
    if (!this.lostSaid) {
      this.lostSaid = true;
      return { kind: 'lost', problem, waitMs: this.backoff.delay() };
    }
    const downMs = now - this.downSince;
    if (downMs > this.o.patienceMs) return { kind: 'given-up', downMs, problem };
    return { kind: 'down', waitMs: this.backoff.delay() };
  }
}

/** The words the journal and the views use for a link to `node` that went down under a detached command. */
export function connectionLostMessage(node: string, what: string): string {
  return `connection to ${node} lost; ${what} keeps running there`;
}

export function connectionRestoredMessage(node: string, downMs: number): string {
  return `connection to ${node} back after ${Math.max(1, Math.round(downMs / 1000))} s`;
}
