// Action scripts of "stop what is left": signal processes and remove a stale pid file. Each one
// re-verifies on the node, in the same script and right before acting, that the thing is still
// what the user approved: a pid now owned by another command line is not signalled, and a pid
// file is removed only while no process has its pid.
import { shQuote } from '../remote/quote';
import type { ProcessInfo } from './cmdline';
import { pidFilePath } from './pidFile';

export interface CleanupPlanScript {
  readonly kills: readonly Pick<ProcessInfo, 'pid' | 'identity'>[];
  /** Remove var/server.pid of this install if it still names this pid and no process has it. */
  readonly removePidFile?: { readonly installDir: string; readonly pid: number };
  /** Seconds between TERM and KILL. */
  readonly graceSeconds: number;
}

const FUNCS = `ucd_now() {
  if [ -r /proc/self/cmdline ]; then
    tr '\\000\\n' '\\001\\002' 2>/dev/null < "/proc/$1/cmdline"
  else
    ps -ww -p "$1" -o args= 2>/dev/null || ps -p "$1" -o args= 2>/dev/null
  fi
}
ucd_same() { ucd_c=$(ucd_now "$1") || return 1; [ -n "$ucd_c" ] && [ "$ucd_c" = "$2" ]; }
ucd_alive() {
  ucd_c=$(ucd_now "$1") || ucd_c=
  case $ucd_c in *'<defunct>'*) return 1;; ?*) return 0;; esac
  # No readable command line: still alive if it exists but /proc hides it (hidepid) from us.
  [ -r /proc/self/cmdline ] && [ ! -d "/proc/$1" ] || return 1
  ucd_e=$(kill -0 "$1" 2>&1) && return 0
  case $ucd_e in *ermitted*|*EPERM*) return 0;; esac
  return 1
}
ucd_kill() {
  ucd_same "$1" "$2" || { echo "kill $1 changed"; return 0; }
  kill -TERM "$1" 2>/dev/null || { ucd_same "$1" "$2" && echo "kill $1 denied" || echo "kill $1 gone-before"; return 0; }
  ucd_i=0
  while [ "$ucd_i" -lt "$3" ]; do
    ucd_same "$1" "$2" || { echo "kill $1 term"; return 0; }
    sleep 1; ucd_i=$((ucd_i + 1))
  done
  ucd_same "$1" "$2" || { echo "kill $1 term"; return 0; }
  kill -KILL "$1" 2>/dev/null || { ucd_same "$1" "$2" && echo "kill $1 denied" || echo "kill $1 term"; return 0; }
  ucd_i=0
  while [ "$ucd_i" -lt 5 ]; do
    ucd_same "$1" "$2" || { echo "kill $1 killed"; return 0; }
    sleep 1; ucd_i=$((ucd_i + 1))
  done
  echo "kill $1 survived"
}`;

export function cleanupScript(plan: CleanupPlanScript): string {
  const grace = Math.max(0, Math.floor(plan.graceSeconds));
  const lines = ['ucd_cleanup_main() {', FUNCS];
  for (const k of plan.kills) {
    if (!Number.isInteger(k.pid) || k.pid <= 1) throw new Error(`refusing to signal pid ${k.pid}`);
    lines.push(`ucd_kill ${k.pid} ${shQuote(k.identity)} ${grace} &`);
  }
  lines.push('wait');
  if (plan.removePidFile) {
    const { installDir, pid } = plan.removePidFile;
    lines.push(`ucd_f=${shQuote(pidFilePath(installDir))}
if [ ! -e "$ucd_f" ]; then echo 'pidfile gone'
else
  ucd_pid=$(head -n 1 "$ucd_f" | tr -d ' \\t\\r' | cut -c 1-40)
  if [ "$ucd_pid" != ${shQuote(String(pid))} ]; then printf 'pidfile changed %s\\n' "$ucd_pid"
  elif ucd_alive "$ucd_pid"; then echo 'pidfile owned'
  elif rm -f -- "$ucd_f"; then echo 'pidfile removed'
  else echo 'pidfile failed'
  fi
fi`);
  }
  lines.push('echo cleanup done', '}', 'ucd_cleanup_main </dev/null 2>&1', 'exit 0');
  return lines.join('\n') + '\n';
}

export type KillOutcome =
  /** Ended after TERM (or was gone by the time we looked again). */
  | 'term'
  /** Needed KILL after the grace period. */
  | 'killed'
  /** The pid now has another command line: not signalled. */
  | 'changed'
  /** Already gone before we signalled. */
  | 'gone-before'
  /** kill was refused (another user's process, without root). */
  | 'denied'
  | 'survived'
  /** The script did not report on it (cut short). */
  | 'unknown';

export type PidFileOutcome = 'removed' | 'gone' | 'changed' | 'owned' | 'failed' | 'unknown';

export interface CleanupResult {
  readonly kills: ReadonlyMap<number, KillOutcome>;
  readonly pidFile?: PidFileOutcome;
  /** Text after `pidfile changed`, when the file now names another pid. */
  readonly pidFileNow?: string;
  readonly complete: boolean;
}

const KILL_OUTCOMES: ReadonlySet<string> = new Set(['term', 'killed', 'changed', 'gone-before', 'denied', 'survived']);
const PIDFILE_OUTCOMES: ReadonlySet<string> = new Set(['removed', 'gone', 'changed', 'owned', 'failed']);

export function parseCleanup(stdout: string, plan: CleanupPlanScript): CleanupResult {
  const kills = new Map<number, KillOutcome>(plan.kills.map((k) => [k.pid, 'unknown']));
  let pidFile: PidFileOutcome | undefined = plan.removePidFile ? 'unknown' : undefined;
  let pidFileNow: string | undefined;
  let complete = false;
  for (const line of stdout.split('\n')) {
    const t = line.trim().split(' ');
    if (t[0] === 'kill' && t.length === 3 && kills.has(Number(t[1])) && KILL_OUTCOMES.has(t[2] ?? '')) kills.set(Number(t[1]), t[2] as KillOutcome);
    else if (t[0] === 'pidfile' && plan.removePidFile && PIDFILE_OUTCOMES.has(t[1] ?? '')) {
      pidFile = t[1] as PidFileOutcome;
      if (pidFile === 'changed') pidFileNow = t.slice(2).join(' ');
    } else if (line.trim() === 'cleanup done') complete = true;
  }
  return { kills, ...(pidFile ? { pidFile } : {}), ...(pidFileNow !== undefined ? { pidFileNow } : {}), complete };
}
