// A real Transport for tests: runs each command with /bin/sh -c on this machine (no mock). Timeouts
// and aborts kill the command's whole process group, as the SSH transport must on a node.
import { spawn } from 'node:child_process';
import { RemoteError, type ExecOptions, type ExecResult, type Transport } from '../../src/core/remote/transport';

export class LocalShell implements Transport {
  /** Every command run, in order, so tests can assert what was (not) executed. */
  readonly commands: { command: string; stdin?: string }[] = [];

  constructor(readonly label = 'local', private readonly cwd?: string) {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push({ command, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) });
    const started = Date.now();
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new RemoteError('cancelled', this.label, `${this.label}: cancelled before it started`, 'Run it again when ready.'));
        return;
      }
      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...(this.cwd ? { cwd: this.cwd } : {}) });
      let stdout = '';
      let stderr = '';
      let ended: 'timeout' | 'cancelled' | undefined;
      const killGroup = () => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(() => {
        ended = 'timeout';
        killGroup();
      }, options.timeoutMs ?? 60_000);
      const onAbort = () => {
        ended = 'cancelled';
        killGroup();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        stdout += c;
        options.onStdout?.(c);
      });
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c;
        options.onStderr?.(c);
      });
      child.stdin.on('error', () => undefined);
      if (options.input) options.input({ write: (d) => void child.stdin.write(d), end: (d) => void (d === undefined ? child.stdin.end() : child.stdin.end(d)) });
      else child.stdin.end(options.stdin ?? '');
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new RemoteError('protocol', this.label, `${this.label}: ${err.message}`, 'Check the local shell.'));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (ended === 'timeout') {
          reject(new RemoteError('timeout', this.label, `${this.label}: command timed out after ${options.timeoutMs ?? 60_000} ms`, 'Check the node is responsive, then try again.'));
        } else if (ended === 'cancelled') {
          reject(new RemoteError('cancelled', this.label, `${this.label}: cancelled`, 'Run it again when ready.'));
        } else {
          resolve({ code, ...(signal ? { signal } : {}), stdout, stderr, durationMs: Date.now() - started });
        }
      });
    });
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// Stand-in server processes for probe tests: a real process with the command line of a UCD server
// of `installDir` (`<java> ... -jar <install>/bin/launcher.jar <install>/bin/classpath.conf
// com.urbancode.ds.UDeployServer`), really listening on TCP ports.

export interface FakeServer {
  readonly pid: number;
  readonly ports: number[];
  /** Resolves when the process has ended (and was reaped). */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

export async function startFakeServer(opts: { installDir: string; ports?: number[]; ignoreTerm?: boolean; mainClass?: string }): Promise<FakeServer> {
  const js = `
    const net = require('net');
    ${opts.ignoreTerm ? "process.on('SIGTERM', () => {});" : ''}
    const ports = ${JSON.stringify(opts.ports ?? [])};
    Promise.all(ports.map((p) => new Promise((ok, fail) => { const s = net.createServer(); s.on('error', fail); s.listen(p, '127.0.0.1', () => ok(s.address().port)); })))
      .then((bound) => { process.stdout.write(JSON.stringify(bound) + '\\n'); setInterval(() => {}, 1 << 30); })
      .catch((e) => { process.stderr.write(String(e)); process.exit(3); });`;
  const { spawn: spawnChild } = await import('node:child_process');
  const child = spawnChild(
    process.execPath,
    ['-e', js, '--', '-Xmx1g', '-jar', `${opts.installDir}/bin/launcher.jar`, `${opts.installDir}/bin/classpath.conf`, opts.mainClass ?? 'com.urbancode.ds.UDeployServer'],
    { argv0: '/usr/lib/jvm/java-17/bin/java', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(JSON.parse(out.trim()) as number[]);
    });
    child.once('exit', (code) => reject(new Error(`fake server exited ${code}: ${err}`)));
  });
  return {
    pid: child.pid!,
    ports,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A TCP port nothing listens on right now (bound to 0, then released). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
