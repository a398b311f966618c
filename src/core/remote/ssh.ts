// SSH to the nodes with ssh2: one connection per node, reused for every channel, channels capped
// below OpenSSH's MaxSessions (a refused open waits, see slots.ts), keepalive on, a timeout on connect and on every exec, and
// cancellation that kills the remote command (its whole process group), not just our wait.
import { getMaxListeners, setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import type { ClusterNode } from '../cluster/types';
import { libraryError } from './errorWords';
import { HostKeyPolicy } from './hostKeys';
import type { AuthPrompt, RemoteLog, SecretSource } from './interaction';
import { hostKeyAlgorithmsFor } from './knownHosts';
import { ChannelRefused, ChannelSlots } from './slots';
import { KeyLoader, makeAuthHandler } from './sshAuth';
import { parseSshConfig, resolveSshHost, type JumpSpec, type SshConfigFile } from './sshConfig';
import { authFailedError, connectError, connectionLostError, connectTimeoutError, type ConnectContext } from './sshErrors';
import { RemoteError, type ExecOptions, type ExecResult, type Transport } from './transport';

/** Where and how to reach one node. `targetFromNode` builds it from a ClusterNode. */
export interface SshTarget {
  /** Node name: labels logs, errors and prompts. */
  readonly name: string;
  /** Host name or address; also the name looked up in ~/.ssh/config unless sshAlias is given. */
  readonly host: string;
  /** Overrides ~/.ssh/config's Port; default from the config, else 22. */
  readonly port?: number;
  readonly user?: string;
  /** A Host alias in ~/.ssh/config whose HostName/User/Port/IdentityFile/ProxyJump apply. */
  readonly sshAlias?: string;
  readonly identityFile?: string;
  /** 'posix' runs commands so they can be killed by process group; 'windows' cannot. */
  readonly shell?: 'posix' | 'windows';
}

/** The cluster file's node, as a target: explicit values win over ~/.ssh/config (as on ssh's command line). */
export function targetFromNode(node: Pick<ClusterNode, 'name' | 'host' | 'sshPort' | 'user' | 'sshAlias' | 'identityFile' | 'os'>): SshTarget {
  return {
    name: node.name,
    host: node.host,
    // With an alias, the loader's default port 22 must not hide the alias's own Port.
    ...(node.sshAlias && node.sshPort === 22 ? {} : { port: node.sshPort }),
    ...(node.user !== undefined ? { user: node.user } : {}),
    ...(node.sshAlias !== undefined ? { sshAlias: node.sshAlias } : {}),
    ...(node.identityFile !== undefined ? { identityFile: node.identityFile } : {}),
    shell: node.os === 'windows' ? 'windows' : 'posix',
  };
}

export interface SshPoolOptions {
  readonly hostKeys: HostKeyPolicy;
  /** Backs encrypted key passphrases (SecretStorage in the editor). */
  readonly secrets?: SecretSource;
  /** Asks for passwords and keyboard-interactive answers; without it those methods are skipped. */
  readonly authPrompt?: AuthPrompt;
  /** Default ~/.ssh/config; null reads no config. */
  readonly sshConfigFile?: string | null;
  /** Default $SSH_AUTH_SOCK; null uses no agent. */
  readonly agentSocket?: string | null;
  /** Tried when neither the node nor ~/.ssh/config names a key. Default ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  readonly defaultIdentityFiles?: readonly string[];
  readonly home?: string;
  readonly localUser?: string;
  /** Network time allowed to connect, handshake and authenticate; paused while a human answers. Default 15 s. */
  readonly connectTimeoutMs?: number;
  /** Default 10 s; the connection drops after keepaliveCountMax unanswered ones (default 3). */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  /**
   * Concurrent channels per connection, kills included (one is kept for them). Default 8: below
   * OpenSSH's default MaxSessions of 10, with a margin. A server that refuses earlier (a hardened
   * MaxSessions 1 or 2) is waited for, and the limit drops to what it allows.
   */
  readonly maxChannels?: number;
  /** A refused channel open with no other channel open is tried again for this long, then fails. Default 30 s. */
  readonly refusedChannelDeadlineMs?: number;
  /** For an exec without its own timeoutMs. Default 120 s. */
  readonly execTimeoutMs?: number;
  readonly log?: RemoteLog;
}

export interface SshExecOptions extends ExecOptions {
  /** Exit 127 (the shell's "command not found") becomes RemoteError('command-not-found'). */
  readonly commandNotFoundIsError?: boolean;
}

export interface PtyOptions {
  readonly rows?: number;
  readonly cols?: number;
  readonly term?: string;
  readonly signal?: AbortSignal;
}

/** An interactive command on a terminal (the installer): what a terminal widget needs. */
export interface PtySession {
  write(data: string): void;
  /** Output (stdout and stderr merged, as on a terminal). Output before the first listener is kept. */
  onData(listener: (chunk: string) => void): void;
  resize(rows: number, cols: number): void;
  /** Hangs up: the remote side gets SIGHUP, like closing a terminal. */
  close(): void;
  readonly exit: Promise<{ readonly code: number | null; readonly signal?: string }>;
}

export interface UploadOptions {
  /** Called each time the node acknowledges more bytes, and once at the end. */
  readonly onProgress?: (sentBytes: number, totalBytes: number) => void;
  readonly signal?: AbortSignal;
  /** File mode on the node; default 0o644. */
  readonly mode?: number;
  /** Give up when the node acknowledges no bytes for this long (a hung sftp-server, a dead link); default 60 s. */
  readonly stallTimeoutMs?: number;
}

export const DEFAULT_UPLOAD_STALL_MS = 60_000;

interface Hop {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identityFiles: readonly string[];
  readonly explicitIdentityFiles: ReadonlySet<string>;
}

interface Connection {
  readonly client: Client;
  /** Jump host clients, closed with the connection. */
  readonly jumps: readonly Client[];
  /** Every session channel (exec, pty, sftp, kill) holds a slot until the server has closed it. */
  readonly slots: ChannelSlots;
  alive: boolean;
}

/** How long a kill waits for a free channel before it gives up and only closes the command's. */
const KILL_SLOT_WAIT_MS = 10_000;

// The first line a posix exec prints: its process group. A login script that prints junk before
// it only delays the match; after 4 KiB without it we give up and pass everything through.
const PGID_LINE = /(?:^|\n)ucd-pgid:(\d+)\n/;
const PGID_SEARCH_LIMIT = 4096;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Each channel's exit status, recorded from the moment the exec is accepted (see openChannel). */
const exitStatus = new WeakMap<ClientChannel, { readonly code: number | null; readonly signal?: string }>();

export class SshPool {
  private readonly transports = new Map<string, SshTransport>();
  private readonly keys: KeyLoader;
  private configCache?: { readonly mtimeMs: number; readonly config: SshConfigFile };
  readonly home: string;
  readonly localUser: string;

  constructor(readonly options: SshPoolOptions) {
    this.keys = new KeyLoader(options.secrets);
    this.home = options.home ?? os.homedir();
    this.localUser = options.localUser ?? os.userInfo().username;
  }

  /** The transport for a node; the same object (and connection) for the same node name. */
  transport(target: SshTarget): SshTransport {
    const existing = this.transports.get(target.name);
    if (existing && !existing.isClosed && sameTarget(existing.target, target)) return existing;
    if (existing) void existing.close();
    const t = new SshTransport(this, target);
    this.transports.set(target.name, t);
    return t;
  }

  async closeAll(): Promise<void> {
    const all = [...this.transports.values()];
    this.transports.clear();
    await Promise.all(all.map((t) => t.close()));
  }

  /** @internal */
  sshConfig(): SshConfigFile {
    const file = this.options.sshConfigFile === undefined ? path.join(this.home, '.ssh', 'config') : this.options.sshConfigFile;
    let text = '';
    let mtimeMs = -1;
    if (file !== null) {
      try {
        // Re-read when the user edits the file while the editor stays open.
        mtimeMs = fs.statSync(file).mtimeMs;
        if (this.configCache?.mtimeMs === mtimeMs) return this.configCache.config;
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log?.(`cannot read ${file}: ${(e as Error).message}`);
      }
    }
    const config = parseSshConfig(text);
    this.configCache = { mtimeMs, config };
    return config;
  }

  /** @internal Resolves a name through ~/.ssh/config into a hop. */
  hop(label: string, name: string, overrides: { port?: number; user?: string; identityFile?: string }): { hop: Hop; jumps: readonly JumpSpec[] } {
    const cfg = resolveSshHost(this.sshConfig(), name, { home: this.home, localUser: this.localUser });
    for (const w of cfg.warnings) this.options.log?.(`${label}: ${w}`);
    const explicit = [
      ...(overrides.identityFile ? [expandHome(overrides.identityFile, this.home)] : []),
      ...cfg.identityFiles,
    ];
    const defaults = this.options.defaultIdentityFiles ?? ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(this.home, '.ssh', f));
    return {
      hop: {
        label,
        host: cfg.hostName,
        port: overrides.port ?? cfg.port ?? 22,
        user: overrides.user ?? cfg.user ?? this.localUser,
        identityFiles: [...new Set(explicit.length > 0 ? explicit : defaults)],
        explicitIdentityFiles: new Set(explicit),
      },
      jumps: cfg.proxyJump,
    };
  }

  /** @internal */
  agentSocket(): string | undefined {
    const sock = this.options.agentSocket === undefined ? process.env['SSH_AUTH_SOCK'] : this.options.agentSocket;
    return sock && fs.existsSync(sock) ? sock : undefined;
  }

  /** @internal Connects one hop, directly or over `sock` (a forwarded channel of the previous hop). */
  connectHop(hop: Hop, via: string, sock?: Duplex, signal?: AbortSignal): Promise<Client> {
    const o = this.options;
    const timeoutMs = o.connectTimeoutMs ?? 15_000;
    const ctx: ConnectContext = { node: hop.label, host: hop.host, port: hop.port, user: hop.user, via };
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let settled = false;
      let phase = 'opening the TCP connection';
      let timer: NodeJS.Timeout | undefined;
      let rejection: RemoteError | undefined;
      const finish = (err?: RemoteError): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          client.removeAllListeners('ready');
          client.on('error', () => undefined);
          // destroy, not end: end() half-closes and waits for a server that may never answer.
          client.destroy();
          reject(err);
        } else resolve(client);
      };
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => finish(connectTimeoutError(ctx, timeoutMs, phase)), timeoutMs);
      };
      // A human reading a fingerprint or typing a password is not the network being slow.
      const whileAsking = async <T>(ask: () => Promise<T>): Promise<T> => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        try {
          return await ask();
        } finally {
          if (!settled) arm();
        }
      };
      const onAbort = (): void =>
        finish(new RemoteError('cancelled', hop.label, `Connecting to node ${hop.label} was cancelled.`, 'Run the step again when you are ready.'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });

      const auth = makeAuthHandler({
        node: hop.label,
        user: hop.user,
        host: hop.host,
        port: hop.port,
        ...(this.agentSocket() ? { agentSocket: this.agentSocket() as string } : {}),
        identityFiles: hop.identityFiles,
        explicitIdentityFiles: hop.explicitIdentityFiles,
        keys: this.keys,
        ...(o.authPrompt ? { prompt: o.authPrompt } : {}),
        whileAsking,
        ...(o.log ? { log: o.log } : {}),
      });

      client.on('ready', () => {
        phase = 'ready';
        o.log?.(`${hop.label}: connected to ${hop.user}@${hop.host}:${hop.port}${via}`);
        finish();
      });
      client.on('handshake', () => {
        phase = 'authenticating';
      });
      client.on('error', (err: Error & { level?: string }) => {
        // ssh2 reports a failed agent as an error but then goes on with the next method.
        if (err.level === 'agent') return void o.log?.(`${hop.label}: ssh-agent: ${err.message}`);
        if (settled) return;
        if (rejection) return finish(rejection);
        if (err.level === 'client-authentication') return finish(authFailedError(ctx, auth.tried));
        finish(connectError(err, ctx));
      });
      client.on('close', () => {
        if (!settled) finish(rejection ?? connectionLostError(hop.label, `closed while ${phase}`));
      });

      void (async () => {
        // Offer the key types we already know first, so the server shows us the key we trust.
        const known = await o.hostKeys.lookup(hop.host, hop.port);
        const config: ConnectConfig = {
          host: hop.host,
          port: hop.port,
          username: hop.user,
          readyTimeout: 0, // our own timer, which pauses while a human is asked
          keepaliveInterval: o.keepaliveIntervalMs ?? 10_000,
          keepaliveCountMax: o.keepaliveCountMax ?? 3,
          algorithms: { serverHostKey: hostKeyAlgorithmsFor(known.known.map((k) => k.keyType)) as ServerHostKeyAlgorithm[] },
          authHandler: auth.handler,
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            phase = 'verifying the host key';
            whileAsking(() => o.hostKeys.verify(hop.label, hop.host, hop.port, key)).then(
              () => {
                phase = 'negotiating';
                verify(true);
              },
              (e: unknown) => {
                rejection = e instanceof RemoteError ? e : connectError(e, ctx);
                verify(false);
              },
            );
          },
          ...(sock ? { sock: sock as unknown as ConnectConfig['sock'] } : {}),
        };
        arm();
        client.connect(config);
      })().catch((e: unknown) => finish(connectError(e, ctx)));
    });
  }
}

function sameTarget(a: SshTarget, b: SshTarget): boolean {
  return a.host === b.host && a.port === b.port && a.user === b.user && a.sshAlias === b.sshAlias && a.identityFile === b.identityFile && a.shell === b.shell;
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? home + p.slice(1) : p;
}

export class SshTransport implements Transport {
  readonly label: string;
  private conn?: Promise<Connection>;
  /** The open connection, to notice synchronously that it died. */
  private live?: Connection;
  private closed = false;

  constructor(
    private readonly pool: SshPool,
    readonly target: SshTarget,
  ) {
    this.label = target.name;
  }

  /** Connects now (or reuses the connection). Useful to surface connection errors before work starts. */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.connection(signal);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True when a connection is open or being opened (for tests and diagnostics). */
  get connected(): boolean {
    return this.conn !== undefined;
  }

  /**
   * The shared connection. One caller's abort must not cancel the connect others wait on, so the
   * connect itself ignores signals and each caller just stops waiting.
   */
  private connection(signal?: AbortSignal): Promise<Connection> {
    return raceAbort(this.sharedConnection(), signal, this.label);
  }

  private sharedConnection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new RemoteError('cancelled', this.label, `The connection to ${this.label} was closed.`, 'Run the step again.'));
    if (this.conn && this.live && !this.live.alive) this.conn = undefined;
    if (!this.conn) {
      this.live = undefined;
      const p = this.open();
      this.conn = p;
      p.catch(() => {
        if (this.conn === p) this.conn = undefined;
      });
    }
    return this.conn;
  }

  private async open(): Promise<Connection> {
    const t = this.target;
    const { hop, jumps } = this.pool.hop(t.name, t.sshAlias ?? t.host, {
      ...(t.port !== undefined ? { port: t.port } : {}),
      ...(t.user !== undefined ? { user: t.user } : {}),
      ...(t.identityFile !== undefined ? { identityFile: t.identityFile } : {}),
    });
    const jumpClients: Client[] = [];
    try {
      const jumpHops = jumps.map((j) => this.pool.hop(`${t.name} via ${j.host}`, j.host, { ...(j.port !== undefined ? { port: j.port } : {}), ...(j.user !== undefined ? { user: j.user } : {}) }).hop);
      let sock: Duplex | undefined;
      const names: string[] = [];
      // Each hop is reached through the previous one; each forwards to the next, the last to the node.
      for (const [i, jh] of jumpHops.entries()) {
        const c = await this.pool.connectHop(jh, names.length > 0 ? ` via ${names.join(', ')}` : '', sock);
        jumpClients.push(c);
        names.push(jh.host);
        const next = jumpHops[i + 1] ?? hop;
        sock = await forward(c, jh.label, next.host, next.port);
      }
      const via = names.length > 0 ? ` via ${names.join(', ')}` : '';
      const client = await this.pool.connectHop(hop, via, sock);
      const slots = new ChannelSlots(this.pool.options.maxChannels ?? 8, t.name, {
        ...(this.pool.options.refusedChannelDeadlineMs !== undefined ? { refusedDeadlineMs: this.pool.options.refusedChannelDeadlineMs } : {}),
        onLimit: (limit, why) => this.pool.options.log?.(`${t.name}: the server refused a new SSH channel (${why}); now at most ${limit} at once on this connection`),
      });
      const conn: Connection = { client, jumps: jumpClients, slots, alive: true };
      this.live = conn;
      const lost = (why: string): void => {
        if (!conn.alive) return;
        conn.alive = false;
        conn.slots.failAll(connectionLostError(t.name, why));
        for (const j of jumpClients) j.end();
        if (this.conn) void this.conn.then((c) => c === conn && (this.conn = undefined)).catch(() => undefined);
        this.pool.options.log?.(`${t.name}: connection closed (${why})`);
      };
      client.on('error', (e: Error) => lost(e.message));
      client.on('close', () => lost('closed'));
      return conn;
    } catch (e) {
      for (const j of jumpClients) j.end();
      throw e;
    }
  }

  async exec(command: string, options: SshExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    allowManyListeners(options.signal);
    const conn = await this.connection(options.signal);
    const result = await this.run(conn, command, options, started);
    if (options.commandNotFoundIsError && result.code === 127) {
      const last = result.stderr.trim().split('\n').pop() ?? '';
      throw new RemoteError(
        'command-not-found',
        this.label,
        `A command was not found on node ${this.label}${last ? `: ${last}` : ''}.`,
        'Install the missing tool on the node, or check the PATH of the SSH user (non-interactive shells read fewer profile files).',
      );
    }
    return result;
  }

  /**
   * Opens a session channel for `command` once a slot is free; the slot is freed when the
   * server has closed the channel ('close', not 'exit' or 'end': sshd frees its session then).
   * A refused open waits for a slot and is tried again (slots.ts), never failing the command.
   */
  private async openChannel(conn: Connection, command: string, o: { readonly pty?: PtyOptions; readonly signal?: AbortSignal; readonly kill?: boolean } = {}): Promise<ClientChannel> {
    const attempt = (): Promise<ClientChannel> =>
      new Promise((resolve, reject) => {
        const cb = (err: Error | undefined, stream: ClientChannel): void => {
          if (!err) {
            // Listen now, not after the promise resolves: ssh2 emits 'exit' while it parses the packet,
            // and under load a fast command's exit status comes in the same read as the exec's reply.
            stream.once('exit', (code: number | null, signal?: string) => exitStatus.set(stream, { code: typeof code === 'number' ? code : null, ...(signal ? { signal } : {}) }));
            return resolve(stream);
          }
          if (!conn.alive) return reject(connectionLostError(this.label, err.message));
          // CHANNEL_OPEN_FAILURE: for a session channel, sshd's "no session free" (MaxSessions).
          reject(/Channel open failure/i.test(err.message) ? new ChannelRefused(err.message) : libraryError(err, this.label) ?? new RemoteError('protocol', this.label, `Node ${this.label} could not start a command over SSH: ${err.message}.`, 'Check the node\'s sshd log (journalctl -u ssh) for why it refused, then run the step again.'));
        };
        const pty = o.pty;
        if (pty) conn.client.exec(command, { pty: { rows: pty.rows ?? 24, cols: pty.cols ?? 80, term: pty.term ?? 'xterm-256color' } }, cb);
        else conn.client.exec(command, cb);
      });
    const { channel, release } = await conn.slots.open(attempt, { ...(o.signal ? { signal: o.signal } : {}), priority: o.kill ? 'kill' : 'command' });
    channel.once('close', release);
    return channel;
  }

  private run(conn: Connection, command: string, o: SshExecOptions, started: number): Promise<ExecResult> {
    const posix = (this.target.shell ?? 'posix') === 'posix';
    const timeoutMs = Math.min(o.timeoutMs ?? this.pool.options.execTimeoutMs ?? 120_000, MAX_TIMER_MS);
    // sshd makes each session's shell a session and process-group leader, so $$ is the group
    // of everything the command starts; printing it first lets us kill the whole group later.
    const wrapped = posix ? `printf 'ucd-pgid:%s\\n' "$$"\n${command}` : command;
    return new Promise<ExecResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let head = posix ? '' : undefined; // stdout until the pgid line has been split off
      let pgid: number | undefined;
      // stop() may come before the pgid line; it waits (briefly) for it.
      let pgidKnown: () => void = () => undefined;
      const pgidArrived = new Promise<void>((res) => (pgidKnown = res));
      let stopping: 'timeout' | 'cancelled' | undefined;
      let settled = false;
      let code: number | null = null;
      let exitSignal: string | undefined;
      let stream: ClientChannel | undefined;
      const outDec = new StringDecoder('utf8');
      const errDec = new StringDecoder('utf8');
      let timer: NodeJS.Timeout | undefined;

      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      };
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        cleanup();
        fn();
      };
      const emitOut = (s: string): void => {
        if (!s) return;
        stdout += s;
        o.onStdout?.(s);
      };
      const stop = (why: 'timeout' | 'cancelled'): void => {
        if (stopping || settled) return;
        stopping = why;
        // Without a channel yet, the open handler below sees `stopping` and calls killThenReject.
        if (stream) killThenReject(stream);
      };
      const killThenReject = (channel: ClientChannel): void => {
        const why = stopping ?? 'cancelled';
        const error =
          why === 'timeout'
            ? new RemoteError('timeout', this.label, `The command on node ${this.label} did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped.`, 'Look at its output so far in the log; if it is just slow, run it again with a longer timeout.')
            : new RemoteError('cancelled', this.label, `The command on node ${this.label} was cancelled and stopped.`, 'Run the step again when you are ready.');
        const waitPgid = posix && pgid === undefined ? Promise.race([pgidArrived, new Promise((res) => setTimeout(res, 2000))]) : Promise.resolve();
        void waitPgid.then(() => this.killRemote(conn, channel, pgid, posix)).then(
          (note) => done(() => reject(note ? new RemoteError(error.kind, error.node, `${error.message} ${note}`, error.hint) : error)),
          () => done(() => reject(error)),
        );
      };
      const onAbort = (): void => stop('cancelled');

      if (o.signal?.aborted) return reject(new RemoteError('cancelled', this.label, `Cancelled on ${this.label} before the command started.`, 'Run the step again when you are ready.'));
      o.signal?.addEventListener('abort', onAbort, { once: true });

      this.openChannel(conn, wrapped, o.signal ? { signal: o.signal } : {}).then(
        (s) => {
          stream = s;
          timer = setTimeout(() => stop('timeout'), timeoutMs);
          if (stopping) killThenReject(s); // cancelled while the channel was opening
          s.on('data', (b: Buffer) => {
            const text = outDec.write(b);
            if (head === undefined) return emitOut(text);
            head += text;
            const m = PGID_LINE.exec(head);
            if (m) {
              pgid = Number(m[1]);
              pgidKnown();
              // Keep what a chatty login script printed before our line; drop only our line.
              const rest = head.slice(0, m.index) + (m[0].startsWith('\n') ? '\n' : '') + head.slice(m.index + m[0].length);
              head = undefined;
              emitOut(rest);
            } else if (head.length > PGID_SEARCH_LIMIT) {
              // Not our line (a non-POSIX login shell?): pass everything through untouched.
              const all = head;
              head = undefined;
              emitOut(all);
            }
          });
          s.stderr.on('data', (b: Buffer) => {
            const text = errDec.write(b);
            stderr += text;
            if (text) o.onStderr?.(text);
          });
          s.on('exit', (c: number | null, sig?: string) => {
            if (typeof c === 'number') code = c;
            else {
              code = null;
              if (sig) exitSignal = sig;
            }
          });
          s.on('close', () => {
            const early = exitStatus.get(s);
            if (early && code === null && exitSignal === undefined) ({ code, signal: exitSignal } = early);
            pgidKnown();
            if (head !== undefined) emitOut(head);
            emitOut(outDec.end());
            const tail = errDec.end();
            if (tail) {
              stderr += tail;
              o.onStderr?.(tail);
            }
            if (stopping) return; // stop() rejects once the kill is done
            if (!conn.alive && code === null && exitSignal === undefined) return done(() => reject(connectionLostError(this.label, 'while a command ran')));
            const result: ExecResult = { code, ...(exitSignal !== undefined ? { signal: exitSignal } : {}), stdout, stderr, durationMs: Date.now() - started };
            done(() => resolve(result));
          });
          if (o.input) o.input({ write: (d) => void s.write(d), end: (d) => void (d === undefined ? s.end() : s.end(d)) });
          else if (o.stdin !== undefined) s.end(o.stdin);
          else s.end();
        },
        (e: unknown) => done(() => reject(e)),
      );
    });
  }

  /**
   * Stops a running command: TERM to its process group, KILL if it is still there after 2 s,
   * over a separate channel (closing ours alone leaves a non-pty command running).
   * Returns a note for the error message when the kill could not be confirmed.
   */
  private async killRemote(conn: Connection, stream: ClientChannel | undefined, pgid: number | undefined, posix: boolean): Promise<string | undefined> {
    let note: string | undefined;
    if (posix && pgid !== undefined && conn.alive) {
      const g = String(pgid);
      const script = `kill -TERM -- -${g} 2>/dev/null || exit 0; i=0; while [ $i -lt 20 ]; do kill -0 -- -${g} 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; kill -KILL -- -${g} 2>/dev/null; exit 0`;
      // The kill has a slot of its own, but a server allowing one session has none to spare.
      const slotWait = AbortSignal.timeout(KILL_SLOT_WAIT_MS);
      try {
        const s = await this.openChannel(conn, script, { kill: true, signal: slotWait });
        await new Promise<void>((res) => {
          const t = setTimeout(res, 5000);
          s.on('close', () => {
            clearTimeout(t);
            res();
          });
          s.resume();
          s.stderr.resume();
          s.end();
        });
      } catch (e) {
        note = slotWait.aborted
          ? `(Could not kill the remote process group ${g}: no SSH channel came free within ${KILL_SLOT_WAIT_MS / 1000} s, the node allows only ${conn.slots.limit} at once; only the command's channel was closed.)`
          : `(Could not confirm the remote process group ${g} was killed: ${(e as Error).message}.)`;
      }
    } else if (posix && pgid === undefined && conn.alive) {
      note = '(The command had not reported its process group yet; only its channel was closed.)';
    } else if (!posix) {
      note = '(On this node the command may still run: Windows sessions cannot be stopped by process group.)';
      try {
        stream?.signal('KILL');
      } catch {
        /* best effort */
      }
    }
    stream?.close();
    return note;
  }

  /** Runs a command on a pseudo-terminal (for interactive installers). Holds one channel slot until it exits. */
  async execPty(command: string, options: PtyOptions = {}): Promise<PtySession> {
    const conn = await this.connection(options.signal);
    const stream = await this.openChannel(conn, command, { pty: options, ...(options.signal ? { signal: options.signal } : {}) });
    const decoder = new StringDecoder('utf8');
    const listeners: ((chunk: string) => void)[] = [];
    let early = '';
    const deliver = (text: string): void => {
      if (!text) return;
      if (listeners.length === 0) early += text;
      else for (const l of listeners) l(text);
    };
    stream.on('data', (b: Buffer) => deliver(decoder.write(b)));
    stream.stderr.on('data', (b: Buffer) => deliver(decoder.write(b)));
    const onAbort = (): void => stream.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const exit = new Promise<{ code: number | null; signal?: string }>((resolve) => {
      let code: number | null = null;
      let sig: string | undefined;
      stream.on('exit', (c: number | null, s?: string) => {
        code = typeof c === 'number' ? c : null;
        if (s) sig = s;
      });
      stream.on('close', () => {
        const early = exitStatus.get(stream);
        if (early && code === null && sig === undefined) ({ code, signal: sig } = early);
        deliver(decoder.end());
        options.signal?.removeEventListener('abort', onAbort);
        resolve({ code, ...(sig !== undefined ? { signal: sig } : {}) });
      });
    });
    return {
      write: (data) => void stream.write(data),
      onData: (listener) => {
        listeners.push(listener);
        if (early) {
          const e = early;
          early = '';
          listener(e);
        }
      },
      resize: (rows, cols) => stream.setWindow(rows, cols, 0, 0),
      close: () => stream.close(),
      exit,
    };
  }

  /**
   * Copies a local file to the node over SFTP, reporting progress. A watchdog ends the transfer
   * when the node acknowledges nothing for `stallTimeoutMs`: SFTP itself would wait forever.
   */
  async upload(localPath: string, remotePath: string, options: UploadOptions = {}): Promise<{ readonly bytes: number; readonly durationMs: number }> {
    const started = Date.now();
    const total = (await fs.promises.stat(localPath)).size;
    const stallMs = Math.min(Math.max(options.stallTimeoutMs ?? DEFAULT_UPLOAD_STALL_MS, 1), MAX_TIMER_MS);
    const conn = await this.connection(options.signal);
    const name = path.basename(localPath);
    let sent = 0;
    const stalled = (): RemoteError => {
      const seconds = Math.round(stallMs / 1000);
      return new RemoteError(
        'timeout',
        this.label,
        `Uploading ${name} to node ${this.label} stalled: no bytes acknowledged for ${seconds} s (${sent} of ${total} bytes sent); ${remotePath} is incomplete.`,
        `Check node ${this.label}: its network, free space (df -h) and whether its sftp-server hangs; then run the step again (the upload starts over).`,
      );
    };
    const cancelled = (): RemoteError =>
      new RemoteError('cancelled', this.label, `Uploading ${name} to ${this.label} was cancelled; ${remotePath} may be incomplete.`, 'Run the step again; the upload starts over.');
    // The SFTP subsystem is a session like a command's: it takes a slot, a refused open is
    // back-pressure (slots.ts), and the slot is freed only when the server has closed the channel.
    const attempt = (): Promise<import('ssh2').SFTPWrapper> =>
      new Promise((resolve, reject) => {
        let answered = false;
        // A hung sftp-server may never even answer the subsystem request.
        const timer = setTimeout(() => {
          answered = true;
          reject(stalled());
        }, stallMs);
        conn.client.sftp((err, s) => {
          if (answered) return void s?.end();
          answered = true;
          clearTimeout(timer);
          if (!err) return resolve(s);
          if (!conn.alive) return reject(connectionLostError(this.label, err.message));
          reject(/Channel open failure/i.test(err.message) ? new ChannelRefused(err.message) : connectError(err, this.ctx()));
        });
      });
    if (options.signal?.aborted) throw cancelled();
    const opened = await conn.slots.open(attempt, options.signal ? { signal: options.signal } : {}).catch((e: unknown) => {
      throw options.signal?.aborted ? cancelled() : e;
    });
    const sftp = opened.channel;
    sftp.once('close', opened.release);
    await new Promise<void>((res, rej) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        // Ends the channel even when the far side no longer answers; fastPut's own callback is then ignored.
        sftp.end();
        if (err) rej(err);
        else res();
      };
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => finish(stalled()), stallMs);
      };
      const onAbort = (): void => finish(cancelled());
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      arm();
      sftp.fastPut(
        localPath,
        remotePath,
        {
          mode: options.mode ?? 0o644,
          step: (done: number, _chunk: number, size: number) => {
            sent = done;
            arm();
            options.onProgress?.(done, size);
          },
        },
        (e) => {
          if (!e) return finish();
          finish(
            libraryError(e, this.label) ?? new RemoteError(
              'protocol',
              this.label,
              `Uploading ${localPath} to ${remotePath} on node ${this.label} failed: ${e.message}.`,
              'Check that the target directory exists, is writable by the SSH user, and has free space (df -h).',
            ),
          );
        },
      );
    });
    options.onProgress?.(total, total);
    return { bytes: total, durationMs: Date.now() - started };
  }

  private ctx(): ConnectContext {
    return { node: this.label, host: this.target.host, port: this.target.port ?? 22, user: this.target.user ?? this.pool.localUser, via: '' };
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.conn;
    this.conn = undefined;
    if (!p) return;
    try {
      const c = await p;
      c.alive = false;
      c.slots.failAll(new RemoteError('cancelled', this.label, `The connection to ${this.label} was closed.`, 'Run the step again.'));
      await new Promise<void>((res) => {
        const t = setTimeout(res, 2000);
        c.client.once('close', () => {
          clearTimeout(t);
          res();
        });
        c.client.end();
      });
      for (const j of c.jumps) j.end();
    } catch {
      /* it never connected */
    }
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, node: string): Promise<T> {
  if (!signal) return p;
  const cancelled = (): RemoteError => new RemoteError('cancelled', node, `Cancelled on ${node} while connecting.`, 'Run the step again when you are ready.');
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** One step's signal legitimately fans out to every queued and running command of every node. */
function allowManyListeners(signal?: AbortSignal): void {
  if (signal && getMaxListeners(signal) < 1000) setMaxListeners(1000, signal);
}

/** Opens a TCP forward from `client` to host:port, as a socket for the next hop. */
function forward(client: Client, label: string, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) {
        reject(
          new RemoteError(
            'unreachable',
            label,
            `The jump host could not open a connection to ${host}:${port}: ${err.message}.`,
            `Check that the jump host can reach ${host}:${port} and allows TCP forwarding (AllowTcpForwarding in its sshd_config).`,
          ),
        );
      } else resolve(stream as unknown as Duplex);
    });
  });
}
