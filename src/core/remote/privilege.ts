// "Run this as the install owner / as root / as myself" → the command line for the node's
// privilege setting. The only place that builds sudo command lines. The sudo password goes to
// sudo's standard input only when sudo shows our own prompt marker, and only once: never in a
// command line, an environment variable or any output. The command's own standard input is
// written only after the command has started (our ready marker), so the password can never
// reach the command.
import { randomBytes } from 'node:crypto';
import { NO_RIGHTS, type ClusterNode } from '../cluster/types';
import { sh, shQuote } from './quote';
import type { PtyOptions, PtySession, UploadOptions } from './ssh';
import { classifySudoFailure, sudoFailureText, type SudoFailureKind } from './sudo';
import { RemoteError, type ExecOptions, type ExecResult, type ExecStdin, type Transport } from './transport';

/** Whose rights an action needs: the SSH user's own, the install owner's, or root's (other users' processes and ports, kill). */
export type Rights = 'self' | 'owner' | 'root';

/** Where the sudo password comes from: the editor's SecretStorage or a prompt, the CLI's variable or descriptor. */
export interface SudoPasswords {
  /** The SSH user's sudo password on this node, stored or asked once; undefined when none is given. */
  get(node: ClusterNode, sshUser: string): Promise<string | undefined>;
  /** sudo refused it: forget what is stored, so the next Run asks again (nothing is tried twice). */
  rejected(node: ClusterNode, sshUser: string): Promise<void>;
}

/** The name a node's sudo password is stored under: one per node and SSH user. Never the secret. */
export function sudoPasswordKey(node: Pick<ClusterNode, 'name'>, sshUser: string): string {
  return `ucd-upgrade.sudo-password/${sshUser}@${node.name}`;
}

/** The user sudo switches to for this action, or undefined when the SSH user runs it itself. */
export function sudoTarget(node: Pick<ClusterNode, 'rights'>, rights: Rights): string | undefined {
  const r = node.rights ?? NO_RIGHTS;
  if (rights === 'self' || r.privilege.method === 'none') return undefined;
  if (rights === 'owner') return r.installOwner;
  return r.privilege.as === 'root' ? 'root' : r.installOwner;
}

export interface SudoMarkers {
  /** sudo -p: the prompt sudo prints when it wants the password; absent: sudo -n (NOPASSWD). */
  readonly prompt?: string;
  /** Printed on stderr by the command's shell once sudo has let it run. */
  readonly ready: string;
}

export function newMarkers(password: boolean): SudoMarkers {
  const id = randomBytes(8).toString('hex');
  return { ...(password ? { prompt: `[ucd-upgrade sudo ${id}] ` } : {}), ready: `ucd-upgrade-sudo-ready-${id}` };
}

/** The command line: sudo (-S reads the password on stdin; -n never asks) to `user`, then `command` in /bin/sh. */
export function sudoCommandLine(user: string, command: string, markers: SudoMarkers, terminal = false): string {
  // The ready line carries the command shell's pid: a cancel kills its process group as the sudo user.
  const inner = `printf '%s %s\\n' ${shQuote(markers.ready)} "$$" >&2\n${command}`;
  const ask = markers.prompt === undefined ? sh`-n` : terminal ? sh`-p ${markers.prompt}` : sh`-S -p ${markers.prompt}`;
  return sh`sudo ${ask} -H -u ${user} -- /bin/sh -c ${inner}`.text;
}

/**
 * The transport for an action with these rights: the node's own when no sudo is needed, else one
 * whose every command goes through sudo to the right user. Before the first such command the
 * install's owner on the node is read and checked against the file.
 */
export function withRights(t: Transport, node: ClusterNode, rights: Rights, passwords?: SudoPasswords): Transport {
  const r = node.rights ?? NO_RIGHTS;
  const needsCheck = rights !== 'self' && (r.privilege.method === 'sudo' || r.installOwner !== undefined);
  const user = sudoTarget(node, rights);
  if (!needsCheck && user === undefined) return t;
  return new RightsTransport(t, node, user, passwords);
}

/** What the node says about its users: who we are and who owns the install. Read once per connection. */
const identities = new WeakMap<Transport, Promise<{ readonly sshUser: string; readonly owner?: string }>>();

async function nodeUsers(t: Transport, node: ClusterNode, signal?: AbortSignal): Promise<{ readonly sshUser: string; readonly owner?: string }> {
  let p = identities.get(t);
  if (!p) {
    p = (async () => {
      const r = await t.exec(sh`id -un; stat -c %U -- ${node.installDir} 2>/dev/null || echo`.text, { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
      const [sshUser = '', owner = ''] = r.stdout.split('\n').map((l) => l.trim());
      if (r.code !== 0 || !sshUser) throw new RemoteError('protocol', node.name, `Could not read the SSH user's name on node ${node.name} (id -un: ${r.stderr.trim() || `exit ${r.code}`}).`, 'Check that the node runs a POSIX shell with id and stat.');
      return { sshUser, ...(owner && owner !== 'UNKNOWN' ? { owner } : {}) };
    })();
    identities.set(t, p);
    p.catch(() => identities.delete(t));
  }
  return p;
}

/** The file's installOwner (or the SSH user) against the owner of installDir on the node. */
export function ownerProblem(node: ClusterNode, sshUser: string, actualOwner: string | undefined): { message: string; hint: string } | undefined {
  const r = node.rights ?? NO_RIGHTS;
  const expected = r.installOwner ?? sshUser;
  if (actualOwner === undefined || actualOwner === expected) return undefined;
  const said = r.installOwner !== undefined ? `the cluster file says its installOwner is ${expected}` : `the cluster file names no installOwner, so the SSH user ${sshUser} would have to own it`;
  return {
    message: `The install ${node.installDir} on node ${node.name} belongs to ${actualOwner}, but ${said}. The upgrade must run as the user that installed the server, or it leaves files the server cannot use.`,
    hint: `Set "installOwner": "${actualOwner}" for node ${node.name} (and "privilege": { "method": "sudo" } when ${sshUser} is not ${actualOwner}), or fix the owner of ${node.installDir} on the node.`,
  };
}

class RightsTransport implements Transport {
  readonly label: string;
  readonly execPty?: (command: string, options?: PtyOptions) => Promise<PtySession>;
  readonly upload?: (localPath: string, remotePath: string, options?: UploadOptions) => Promise<{ readonly bytes: number; readonly durationMs: number }>;

  constructor(
    private readonly inner: Transport,
    private readonly node: ClusterNode,
    /** undefined: the SSH user runs it itself (only the owner check applies). */
    private readonly user: string | undefined,
    private readonly passwords?: SudoPasswords,
  ) {
    this.label = inner.label;
    const i = inner as Transport & { execPty?: RightsTransport['execPty']; upload?: RightsTransport['upload'] };
    if (typeof i.execPty === 'function') this.execPty = (command, options) => this.pty(i.execPty!.bind(inner), command, options ?? {});
    if (typeof i.upload === 'function') {
      const up = i.upload.bind(inner);
      this.upload = (localPath, remotePath, options) => this.uploadAs(up, localPath, remotePath, options ?? {});
    }
  }

  /**
   * SFTP has no sudo: the file goes as the SSH user into a fresh folder of its own in /tmp that
   * others may read but not change, then the sudo user copies it to its place and the folder goes.
   * The caller hashes the copy against the local file, so nothing in between can go unnoticed.
   */
  private async uploadAs(up: NonNullable<RightsTransport['upload']>, localPath: string, remotePath: string, options: UploadOptions): Promise<{ readonly bytes: number; readonly durationMs: number }> {
    const { sshUser } = await this.prepare(`the upload of ${remotePath}`, options.signal);
    if (this.user === undefined || this.user === sshUser) return up(localPath, remotePath, options);
    const signal = options.signal ? { signal: options.signal } : {};
    const made = await this.inner.exec(sh`d=$(mktemp -d /tmp/ucd-upgrade-upload.XXXXXX) && chmod 755 "$d" && echo "$d"`.text, { timeoutMs: 60_000, ...signal });
    const hop = made.stdout.trim();
    if (made.code !== 0 || !hop.startsWith('/tmp/')) throw new RemoteError('protocol', this.node.name, `Could not make a folder in /tmp on node ${this.node.name} for the upload (exit ${made.code}): ${made.stderr.trim()}`, 'Check that /tmp on the node is writable and not full.');
    const file = `${hop}/package`;
    try {
      const sent = await up(localPath, file, { ...options, mode: 0o644 });
      const copy = await this.exec(sh`umask 077 && cp -- ${file} ${remotePath}`.text, { timeoutMs: 30 * 60_000, ...signal });
      if (copy.code !== 0) throw new RemoteError('protocol', this.node.name, `Could not copy the upload to ${remotePath} as ${this.user} on node ${this.node.name} (exit ${copy.code}): ${copy.stderr.trim()}`, `Check the free space and that ${this.user} can write there.`);
      return sent;
    } finally {
      await this.inner.exec(sh`rm -rf -- ${hop}`.text, { timeoutMs: 60_000 }).catch(() => undefined);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The SSH user's name, the owner check done; the password when sudo needs one. */
  private async prepare(what: string, signal?: AbortSignal): Promise<{ readonly sshUser: string; readonly password?: string }> {
    const { sshUser, owner } = await nodeUsers(this.inner, this.node, signal);
    const problem = ownerProblem(this.node, sshUser, owner);
    if (problem) throw new RemoteError('privilege', this.node.name, problem.message, problem.hint);
    const p = (this.node.rights ?? NO_RIGHTS).privilege;
    if (this.user === undefined || this.user === sshUser || p.method !== 'sudo' || !p.password) return { sshUser };
    if (!this.passwords) throw this.failure('password-required', sshUser, what, '');
    const password = await this.passwords.get(this.node, sshUser);
    if (password === undefined) throw this.failure('password-required', sshUser, what, '');
    return { sshUser, password };
  }

  private failure(kind: SudoFailureKind, sshUser: string, what: string, stderr: string): RemoteError {
    const t = sudoFailureText(kind, { node: this.node.name, user: this.user ?? sshUser, sshUser, what }, stderr);
    return new RemoteError('privilege', this.node.name, t.message, t.hint);
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const what = describe(command);
    const { sshUser, password } = await this.prepare(what, options.signal);
    // The owner itself, or no sudo for this action: the command as it is.
    if (this.user === undefined || this.user === sshUser) return this.inner.exec(command, options);
    const p = (this.node.rights ?? NO_RIGHTS).privilege;
    const markers = newMarkers(p.method === 'sudo' && p.password);
    const gate = new SudoGate(markers, password);
    const result = await this.inner.exec(sudoCommandLine(this.user, command, markers), {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onStdout ? { onStdout: options.onStdout } : {}),
      onStderr: (chunk) => {
        const passed = gate.stderr(chunk);
        if (passed) options.onStderr?.(passed);
      },
      input: (stdin) => gate.attach(stdin, (s) => {
        if (options.input) options.input(s);
        else s.end(options.stdin);
      }),
    }).catch(async (e: unknown) => {
      // The SSH layer's kill runs as the SSH user and cannot reach the sudo user's processes.
      if (e instanceof RemoteError && (e.kind === 'cancelled' || e.kind === 'timeout') && gate.pid !== undefined) await this.killGroupOf(gate.pid);
      throw e;
    });
    if (!gate.started) {
      if (gate.prompts > 1) await this.passwords?.rejected(this.node, sshUser);
      throw this.failure(classifySudoFailure({ stderr: gate.sudoStderr, code: result.code, prompts: gate.prompts }), sshUser, what, gate.sudoStderr);
    }
    return { ...result, stderr: gate.commandStderr };
  }

  /** TERM to the process group of `pid` as the sudo user, KILL after 2 s; best effort (the error says what was cancelled). */
  private async killGroupOf(pid: number): Promise<void> {
    const script = sh`g=$(ps -o pgid= -p ${pid} | tr -d ' '); [ -n "$g" ] || exit 0
kill -TERM -- "-$g" 2>/dev/null || kill -TERM ${pid} 2>/dev/null
i=0; while [ $i -lt 20 ] && kill -0 -- "-$g" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL -- "-$g" 2>/dev/null; exit 0`;
    await this.exec(script.text, { timeoutMs: 30_000 }).catch(() => undefined);
  }

  private async pty(open: (c: string, o?: PtyOptions) => Promise<PtySession>, command: string, options: PtyOptions): Promise<PtySession> {
    const what = describe(command);
    const { sshUser, password } = await this.prepare(what, options.signal);
    if (this.user === undefined || this.user === sshUser) return open(command, options);
    const p = (this.node.rights ?? NO_RIGHTS).privilege;
    const markers = newMarkers(p.method === 'sudo' && p.password);
    const session = await open(sudoCommandLine(this.user, command, markers, true), options);
    return ptyThroughSudo(session, markers, password, (kind, text) => this.failure(kind, sshUser, what, text), async () => this.passwords?.rejected(this.node, sshUser));
  }
}

/** A short name of a command for messages: its first line, cut. Never holds a secret (none is ever in a command). */
function describe(command: string): string {
  const first = command.trim().split('\n')[0] ?? '';
  return first.length > 80 ? `"${first.slice(0, 77)}..."` : `"${first}"`;
}

/**
 * Reads sudo's stderr until the command starts: the first prompt gets the password, a second
 * one means it was wrong (stdin is closed, nothing is tried again); the ready line hands stdin
 * to the caller. Everything before it is sudo's, kept for the error and never passed on.
 */
export class SudoGate {
  prompts = 0;
  started = false;
  /** The command shell's pid on the node, from the ready line. */
  pid?: number;
  sudoStderr = '';
  commandStderr = '';
  private buffer = '';
  private scanned = 0;
  private stdin?: ExecStdin;
  private onStart?: (stdin: ExecStdin) => void;

  constructor(
    private readonly markers: SudoMarkers,
    private readonly password: string | undefined,
  ) {}

  attach(stdin: ExecStdin, onStart: (stdin: ExecStdin) => void): void {
    this.stdin = stdin;
    this.onStart = onStart;
  }

  /** Feeds a chunk of stderr; returns what belongs to the command (after the ready line). */
  stderr(chunk: string): string {
    if (this.started) {
      this.commandStderr += chunk;
      return chunk;
    }
    this.buffer += chunk;
    const prompt = this.markers.prompt;
    if (prompt !== undefined) {
      for (let i = this.buffer.indexOf(prompt, this.scanned); i >= 0; i = this.buffer.indexOf(prompt, this.scanned)) {
        this.scanned = i + prompt.length;
        this.prompts++;
        if (this.prompts === 1 && this.password !== undefined) this.stdin?.write(`${this.password}\n`);
        else this.stdin?.end();
      }
    }
    const m = new RegExp(`${this.markers.ready} (\\d+)\n`).exec(this.buffer);
    if (!m) {
      this.sudoStderr = this.clean(this.buffer);
      return '';
    }
    this.started = true;
    this.pid = Number(m[1]);
    this.sudoStderr = this.clean(this.buffer.slice(0, m.index));
    const rest = this.buffer.slice(m.index + m[0].length);
    this.buffer = '';
    if (this.stdin) this.onStart?.(this.stdin);
    this.commandStderr += rest;
    return rest;
  }

  private clean(text: string): string {
    return this.markers.prompt === undefined ? text : text.split(this.markers.prompt).join('');
  }
}

/** The same handshake on a terminal: sudo reads the password from the tty; output before the ready line is sudo's. */
async function ptyThroughSudo(
  session: PtySession,
  markers: SudoMarkers,
  password: string | undefined,
  failure: (kind: SudoFailureKind, text: string) => RemoteError,
  rejected: () => Promise<void>,
): Promise<PtySession> {
  const listeners: ((chunk: string) => void)[] = [];
  let early = '';
  let started = false;
  let sudoText = '';
  let prompts = 0;
  let scanned = 0;
  const readyLine = new RegExp(`${markers.ready} \\d+\\r?\\n`);
  const queued: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    session.onData((chunk) => {
      if (started) {
        if (listeners.length === 0) early += chunk;
        else for (const l of listeners) l(chunk);
        return;
      }
      sudoText += chunk;
      if (markers.prompt !== undefined) {
        for (let i = sudoText.indexOf(markers.prompt, scanned); i >= 0; i = sudoText.indexOf(markers.prompt, scanned)) {
          scanned = i + markers.prompt.length;
          prompts++;
          if (prompts === 1 && password !== undefined) session.write(`${password}\n`);
          else session.close();
        }
      }
      const m = readyLine.exec(sudoText);
      if (!m) return;
      started = true;
      early = sudoText.slice(m.index + m[0].length);
      sudoText = '';
      for (const q of queued.splice(0)) session.write(q);
      resolve();
    });
    void session.exit.then((e) => {
      if (started) return;
      const text = markers.prompt === undefined ? sudoText : sudoText.split(markers.prompt).join('');
      if (prompts > 1) void rejected();
      reject(failure(classifySudoFailure({ stderr: text, code: e.code, prompts }), text));
    });
  });
  await ready;
  return {
    write: (data) => (started ? session.write(data) : void queued.push(data)),
    onData: (listener) => {
      listeners.push(listener);
      if (early) {
        const e = early;
        early = '';
        listener(e);
      }
    },
    resize: (rows, cols) => session.resize(rows, cols),
    close: () => session.close(),
    exit: session.exit,
  };
}

/** Up to this many files are named; the count says if there are more. */
const FOREIGN_LIMIT = 20;

/**
 * After the installer: what in these folders belongs to another user than the install owner (a
 * root-run installer leaves root's files, and the service then fails). Run it with root's rights.
 */
export async function filesNotOwnedBy(t: Transport, owner: string, dirs: readonly string[], signal?: AbortSignal): Promise<{ readonly count: number; readonly files: readonly string[] }> {
  const r = await t.exec(sh`for d in ${dirs}; do if [ -d "$d" ]; then find "$d" ! -user ${owner} -printf '%u %p\\n' 2>/dev/null; fi; done > /tmp/.ucd-upgrade-owners.$$; wc -l < /tmp/.ucd-upgrade-owners.$$; head -n ${FOREIGN_LIMIT} /tmp/.ucd-upgrade-owners.$$; rm -f /tmp/.ucd-upgrade-owners.$$`.text, { timeoutMs: 10 * 60_000, ...(signal ? { signal } : {}) });
  const [count = '', ...files] = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (r.code !== 0 || !/^\s*\d+\s*$/.test(count)) throw new RemoteError('protocol', t.label, `Could not list the owners of the files in ${dirs.join(' and ')} on node ${t.label} (exit ${r.code}): ${r.stderr.trim()}`, 'Check that find and wc work on the node, then Check the step.');
  return { count: Number(count), files };
}
