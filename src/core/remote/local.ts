// This machine as a Transport (execa), for the steps the cluster file runs locally, such as a
// database backup. Commands run under /bin/sh in their own process group, so a timeout or a
// cancel stops the whole pipeline, not just the shell that started it.
import { execa } from 'execa';
import { RemoteError, type ExecOptions, type ExecResult, type Transport } from './transport';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const KILL_GRACE_MS = 3_000;

export class LocalTransport implements Transport {
  readonly label = 'local';

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.signal?.aborted) throw cancelled(command);
    const child = execa('/bin/sh', ['-c', command], {
      detached: true,
      ...(options.input ? {} : { input: options.stdin ?? '' }),
      reject: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => {
      const s = b.toString('utf8');
      stdout += s;
      options.onStdout?.(s);
    });
    child.stderr?.on('data', (b: Buffer) => {
      const s = b.toString('utf8');
      stderr += s;
      options.onStderr?.(s);
    });
    if (options.input && child.stdin) {
      const stdin = child.stdin;
      stdin.on('error', () => undefined);
      options.input({ write: (d) => void stdin.write(d), end: (d) => void (d === undefined ? stdin.end() : stdin.end(d)) });
    }
    let why: 'timeout' | 'cancelled' | undefined;
    const killGroup = (reason: 'timeout' | 'cancelled') => {
      why ??= reason;
      signalGroup(child.pid, 'SIGTERM');
      setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => killGroup('timeout'), timeoutMs);
    const onAbort = () => killGroup('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await child;
      if (why === 'timeout') {
        throw new RemoteError('timeout', 'local', `"${command}" did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped.`, 'Check why it hangs, or raise the timeout.');
      }
      if (why === 'cancelled') throw cancelled(command);
      return {
        code: typeof r.exitCode === 'number' ? r.exitCode : null,
        ...(r.signal ? { signal: r.signal } : {}),
        stdout,
        stderr,
        durationMs: Date.now() - started,
      };
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {}
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

function cancelled(command: string): RemoteError {
  return new RemoteError('cancelled', 'local', `"${command}" was cancelled.`, 'Run it again when ready.');
}
