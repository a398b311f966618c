// Every command a step runs goes through here, so the log always has the same record: where,
// what (secrets masked by the log's owner), output as it streams, exit code and duration.
import type { ActionLog } from '../runbook/actions';
import type { ExecOptions, ExecResult, Transport } from '../remote/transport';

/** Splits a stream into whole lines for the log; the tail is flushed at the end. */
function lineSink(emit: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk;
      const lines = buf.split(/\r?\n/);
      buf = lines.pop() ?? '';
      for (const l of lines) emit(l);
    },
    flush() {
      if (buf) emit(buf);
      buf = '';
    },
  };
}

export interface LoggedExecOptions extends ExecOptions {
  /** A short name for what the command is, logged instead of a long generated script. */
  readonly describe?: string;
}

export async function loggedExec(t: Transport, command: string, log: ActionLog, options: LoggedExecOptions = {}): Promise<ExecResult> {
  const tag = `[${t.label}]`;
  log.info(`${tag} $ ${options.describe ?? command}`);
  const out = lineSink((l) => log.info(`${tag} ${l}`));
  const err = lineSink((l) => log.warn(`${tag} ! ${l}`));
  const started = Date.now();
  try {
    const r = await t.exec(command, {
      ...options,
      onStdout: (c) => {
        out.push(c);
        options.onStdout?.(c);
      },
      onStderr: (c) => {
        err.push(c);
        options.onStderr?.(c);
      },
    });
    out.flush();
    err.flush();
    const how = r.code === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.code}`;
    (r.code === 0 ? log.info : log.warn).call(log, `${tag} ${how} after ${(r.durationMs / 1000).toFixed(1)} s`);
    return r;
  } catch (e) {
    out.flush();
    err.flush();
    log.error(`${tag} failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${(e as Error).message}`);
    throw e;
  }
}
