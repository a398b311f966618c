// The SSH library's own words ("Channel has been closed", "Not connected", "All configured
// authentication methods failed") say nothing a person can act on. This is the one table that
// turns them into what happened, on which node, and what to do next: the transport uses it where
// the library's errors arise, the views where an older record still holds the raw words.
import { RemoteError, type RemoteErrorKind } from './transport';

export interface PlainWords {
  readonly kind: RemoteErrorKind;
  /** What happened, as a sentence naming the node. */
  readonly what: string;
  /** What to do next, in one sentence. */
  readonly todo: string;
}

interface Entry {
  readonly raw: RegExp;
  readonly words: (node: string) => PlainWords;
}

// Order matters only where two could match one text: the more specific first.
const TABLE: readonly Entry[] = [
  {
    raw: /\bAll configured authentication methods failed\b/i,
    words: (n) => ({
      kind: 'auth',
      what: `${n} refused the SSH login: every method offered (key, agent, password) was rejected`,
      todo: `Check the user name for ${n}, that your public key is in the user's ~/.ssh/authorized_keys there (or loaded into ssh-agent), or set identityFile for ${n} in the cluster file.`,
    }),
  },
  {
    raw: /\bChannel has been closed\b/i,
    words: (n) => ({
      kind: 'unreachable',
      what: `The SSH connection to node ${n} was lost: the channel of a command closed before the command's end was seen`,
      todo: `Check the step to see where ${n} is now (a new connection is made automatically); if it goes on, check the network and the node's sshd log (journalctl -u ssh).`,
    }),
  },
  {
    raw: /\bNot connected\b/,
    words: (n) => ({
      kind: 'unreachable',
      what: `The SSH connection to node ${n} was lost before the command could start`,
      todo: `Check the step to see where ${n} is now (a new connection is made automatically); if it goes on, check the network path to ${n}.`,
    }),
  },
  {
    raw: /\bNo response from server\b/i,
    words: (n) => ({
      kind: 'unreachable',
      what: `The SSH connection to node ${n} was lost: ${n} stopped answering (no reply to keepalives)`,
      todo: `Check that ${n} is up and reachable (VPN, firewall), then Check the step to see where it is now.`,
    }),
  },
  {
    raw: /\bTimed out while waiting for handshake\b/i,
    words: (n) => ({
      kind: 'timeout',
      what: `${n} accepted the TCP connection but never completed the SSH handshake`,
      todo: `Check that sshd on ${n} is healthy (systemctl status ssh) and that nothing in between (a proxy, MaxStartups) holds the connection.`,
    }),
  },
];

/** The plain words for a library message, if it is one the table knows. */
export function plainWords(text: string, node: string): PlainWords | undefined {
  for (const e of TABLE) if (e.raw.test(text)) return e.words(node);
  return undefined;
}

/** A library error as a RemoteError a person can act on; undefined when it is not one the table knows. */
export function libraryError(err: unknown, node: string): RemoteError | undefined {
  if (err instanceof RemoteError) return undefined;
  const text = err instanceof Error ? err.message : String(err);
  const w = plainWords(text, node);
  return w ? new RemoteError(w.kind, node, `${w.what}.`, w.todo) : undefined;
}

/**
 * A line for a person: the library's words, wherever they appear in it, replaced by what happened
 * and what to do. `node` names the node when the line does not (a step of the whole cluster: "a node").
 */
export function inPlainWords(text: string, node = 'a node'): string {
  const entry = TABLE.find((e) => e.raw.test(text));
  if (!entry) return text;
  const w = entry.words(node);
  // Only the raw phrase goes: what the line says before it ("ended without a result: …") stays.
  const lead = text.slice(0, text.search(entry.raw)).replace(/[\s:;,.(-]+$/, '');
  return `${lead ? `${lead}: ` : ''}${w.what}. ${w.todo}`;
}
