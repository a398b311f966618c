// A real Transport for tests: runs each command with /bin/sh -c on this machine (no mock). Timeouts
// and aborts kill the command's whole process group, as the SSH transport must on a node.
import { spawn } from 'node:child_process';
import { RemoteError, type ExecOptions, type ExecResult, type Transport } from '../../src/core/remote/transport';

export class LocalShell implements Transport {
  /** Every command run, in order, so tests can assert what was (not) executed. */
  readonly commands: { command: string; stdin?: string }[] = [];

  constructor(readonly label = 'local') {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push({ command, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) });
    const started = Date.now();
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new RemoteError('cancelled', this.label, `${this.label}: cancelled before it started`, 'Run it again when ready.'));
        return;
      }
      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
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
      child.stdin.end(options.stdin ?? '');
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
