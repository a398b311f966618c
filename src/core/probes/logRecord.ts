// The full record of one remote exec for the output channel: what ran, how it ended, what it said.
import type { ActionLog } from '../runbook/actions';
import type { ExecResult } from '../remote/transport';

/** Command lines read from /proc carry \001 between arguments and \002 for newlines; show them readably. */
export function readable(text: string): string {
  return text.replace(/\u0001/g, ' ').replace(/\u0002/g, '\\n');
}

export function logExec(log: ActionLog, node: string, what: string, command: string, script: string | undefined, result: ExecResult | undefined): void {
  log.info(`[${node}] ${what}: $ ${command}${script !== undefined ? ' <<script' : ''}`);
  if (script !== undefined) for (const line of script.trimEnd().split('\n')) log.info(`[${node}]   ${line}`);
  if (!result) return;
  const how = result.code !== null ? `exit ${result.code}` : `signal ${result.signal ?? '?'}`;
  log.info(`[${node}] ${how} in ${result.durationMs} ms`);
  for (const line of readable(result.stdout).trimEnd().split('\n')) if (line) log.info(`[${node}] | ${line}`);
  for (const line of readable(result.stderr).trimEnd().split('\n')) if (line) log.warn(`[${node}] ! ${line}`);
}
