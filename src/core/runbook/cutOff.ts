// An action cut off from this window is not an action that failed: a window that closes or
// reloads, or a connection that drops, ends our view of what the node was doing, not the doing.
// Recorded as a failure with the SSH library's words ("Channel has been closed"), it reads as the
// step's own fault and the report lists no interruption; recorded as interrupted, it says what
// happened and that Check tells where the node is.

/** The abort reason of every action the editor stops because its window is closing or reloading. */
export class WindowClosing extends Error {
  constructor() {
    super('the window is closing or reloading');
    this.name = 'WindowClosing';
  }
}

export function isWindowClosing(reason: unknown): reason is WindowClosing {
  return reason instanceof WindowClosing || (reason instanceof Error && reason.name === 'WindowClosing');
}

/**
 * The words a dropped link leaves in an action's record: the core's own (remote/sshErrors.ts
 * connectionLostError, and ssh.ts when the pool is closed under a command) and the SSH library's
 * for a channel on a dead connection.
 */
const LOST: readonly RegExp[] = [
  /\bThe SSH connection to node (?<node>\S+) was lost\b/,
  /\bThe connection to (?<node>\S+) was closed\./,
  /\bChannel has been closed\b/,
  /\bNo response from server\b/,
  /\bNot connected\b/,
  /\b(ECONNRESET|EPIPE)\b/,
];

export function isConnectionLoss(text: string): boolean {
  return LOST.some((r) => r.test(text));
}

/** `node`: the node the lost link's words name, for a step of the whole cluster. */
export type CutOff = { readonly kind: 'window-closing' } | { readonly kind: 'connection-lost'; readonly node?: string };

/**
 * Whether a failure about to be recorded was really a cut-off: the action's signal aborted because
 * the window is closing, or its words are those of a lost link. An abort for any other reason (the
 * engineer's Stop the Installer) stays a failure.
 */
export function cutOffOf(o: { readonly signal: AbortSignal; readonly evidence: readonly string[] }): CutOff | undefined {
  if (o.signal.aborted && isWindowClosing(o.signal.reason)) return { kind: 'window-closing' };
  for (const text of o.evidence) {
    for (const r of LOST) {
      const m = r.exec(text);
      if (m) return m.groups?.node ? { kind: 'connection-lost', node: m.groups.node } : { kind: 'connection-lost' };
    }
  }
  return undefined;
}

/** What the record says: what happened, in plain words, and what to do next. `title`: the step's. */
export function cutOffReason(c: CutOff, title: string, node: string | undefined): string {
  const cause = c.kind === 'window-closing'
    ? `the window closed or reloaded while "${title}" was running${node ? ` on ${node}` : ''}`
    : `the connection to ${node ?? c.node ?? 'a node'} was lost while "${title}" was running${node ?? c.node ? ' there' : ''}`;
  const maybe = node ? `${node} may have done all, part or none of it` : 'it may have been done in full, in part or not at all';
  return `${cause}, so its end was not seen: ${maybe}. Check this step to see where ${node ?? 'it'} is now, then run it again if it is not done.`;
}
