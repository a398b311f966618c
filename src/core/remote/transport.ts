// What every step needs from "a place where commands run": a node over SSH, or this machine.
// Implementations: ssh.ts (ssh2) and local.ts (execa).

export interface ExecOptions {
  /** Kill the command (and report 'timeout') after this long. Every exec has one. */
  readonly timeoutMs?: number;
  /** Aborting really stops the remote command, not just our wait for it. */
  readonly signal?: AbortSignal;
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string;
  /**
   * Instead of `stdin`: called once the command runs; the caller writes its standard input and
   * ends it when it is ready (the installer's start handshake waits for the command's output).
   */
  readonly input?: (stdin: ExecStdin) => void;
  readonly onStdout?: (chunk: string) => void;
  readonly onStderr?: (chunk: string) => void;
}

export interface ExecStdin {
  write(data: string): void;
  /** Writes `data`, if any, then closes standard input. */
  end(data?: string): void;
}

export interface ExecResult {
  /** Exit code; null when the command ended by a signal. */
  readonly code: number | null;
  readonly signal?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface Transport {
  /** Label used in logs and errors: the node name, or 'local'. */
  readonly label: string;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/** Failures a user can act on; each carries the node and the next thing to try. */
export type RemoteErrorKind =
  | 'unreachable'
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'hostkey-unknown-declined'
  | 'hostkey-changed'
  /** The presented key is listed @revoked in a known_hosts file. */
  | 'hostkey-revoked'
  | 'command-not-found'
  | 'cancelled'
  | 'protocol'
  /** sudo did not run the command (wrong password, no rule, no sudo...): see privilege.ts. */
  | 'privilege';

export class RemoteError extends Error {
  constructor(
    readonly kind: RemoteErrorKind,
    readonly node: string,
    message: string,
    /** What the user should try next, in one sentence. */
    readonly hint: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}
