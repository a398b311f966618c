// A command that belongs to the node, not to the SSH channel that started it: it runs in its own
// session (setsid + nohup), its output goes to a log file and its exit status to a file, both in a
// private run folder (0700) named by a run id. The channel that launches it only carries the
// start gate: the detached side reports its pid, then waits on a FIFO for the one line the client
// writes (go, or anything else to end it unstarted). A closed channel before that line is end of
// input, so the command never starts; after it, nothing the client does can end it.
// A guided installer reads its answers from a FIFO in the run folder that the detached side holds
// open for writing itself, so the installer never sees end of input when a window goes away; each
// answer is one short write to it. Nothing typed is stored on the node: a FIFO keeps no data.
import { sh, type ShellScript } from './quote';

/** What the journal keeps to find the command again after a reload or a dropped connection. */
export interface DetachedRun {
  readonly runId: string;
  readonly pid: number;
  /** The run folder on the node: log, exit, pid, gate. */
  readonly dir: string;
  /** The installer's input FIFO (guided); absent when its input is closed (silent). */
  readonly input?: string;
}

/** Where a detached command reads its input: nothing (silent), or the run folder's FIFO (guided). */
export type DetachedInput = 'closed' | 'fifo';

/** The FIFO a guided installer reads its answers from. */
export function inputFifo(dir: string): string {
  return `${dir}/in`;
}

/** Written to the log when the runbook ended the installer (stopScript). */
export const STOPPED_MARKER = 'ucd-runbook: installer stopped by the runbook';
/** The exit status recorded for an installer the runbook stopped (128 + SIGTERM). */
export const STOPPED_EXIT = 143;

export const DETACHED_PID_MARKER = 'ucd-runbook: detached pid';
/** The start gate's words (src/core/ucd/installer/startGate.ts for the installer). */
export interface GateWords {
  readonly ready: string;
  readonly go: string;
  /** Written to the log (and echoed by the launch) when the line was not go. */
  readonly notStarted: string;
  readonly notStartedExit: number;
}
const HEADER = 'ucd-detached';

/** Run folders live under the runbook's own 0700 folder, outside any stage (re-staging keeps them). */
export function runFolder(base: string, runId: string): string {
  return `${base.replace(/\/+$/, '')}/runs/${runId}`;
}

/**
 * The launch, run over a channel whose stdin the client holds. It prints the pid line, then
 * `readyMarker`, waits for one line on stdin and hands it to the detached side through the FIFO.
 * `command` runs with stdin from /dev/null, stdout and stderr appended to the log.
 */
export function detachedLaunchScript(dir: string, command: ShellScript, gate: GateWords, input: DetachedInput = 'closed'): ShellScript {
  const goLine = gate.go;
  // fd 3 holds the FIFO open read-write for as long as the installer runs: the installer's own
  // open does not block, and no writer going away is ever end of input.
  const run = input === 'fifo'
    ? sh`exec 3<> "$d/in"
/bin/sh -c ${command.text} < "$d/in" >> "$d/log" 2>&1`
    : sh`/bin/sh -c ${command.text} < /dev/null >> "$d/log" 2>&1`;
  const fifo = input === 'fifo' ? sh`mkfifo -m 600 "$d/in" || { echo "cannot create the input FIFO in $d" >&2; exit 96; }` : sh`:`;
  const detached = sh`d=$1
echo $$ > "$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid"
line=''
IFS= read -r line < "$d/gate"
case "$line" in ${goLine}|${goLine}"$(printf '\\r')") ;; *)
  printf '%s\\n' ${gate.notStarted} >> "$d/log"
  echo ${gate.notStartedExit} > "$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"
  exit ${gate.notStartedExit};;
esac
${run}
s=$?
[ -f "$d/exit" ] || { echo $s > "$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"; }`;
  const parent = dir.replace(/\/[^/]+$/, '');
  return sh`umask 077
d=${dir}
command -v setsid >/dev/null 2>&1 || { echo "setsid is not installed on this node (util-linux): the installer cannot run detached" >&2; exit 96; }
mkdir -p -m 700 -- ${parent} && mkdir -m 700 -- "$d" || { echo "cannot create the run folder $d" >&2; exit 96; }
mkfifo -m 600 "$d/gate" && : > "$d/log" || { echo "cannot create the gate and log in $d" >&2; exit 96; }
${fifo}
setsid nohup /bin/sh -c ${detached.text} ucd-runbook-installer "$d" < /dev/null > /dev/null 2>&1 &
exec 4> "$d/gate"
printf '%s %s\\n' ${DETACHED_PID_MARKER} "$(cat "$d/pid")"
printf '%s\\n' ${gate.ready}
line=''
IFS= read -r line
printf '%s\\n' "$line" >&4
exec 4>&-
# Not go: the detached side ends at once; show what it said.
case "$line" in ${goLine}|${goLine}"$(printf '\\r')") ;; *) while [ ! -f "$d/exit" ]; do sleep 1; done; cat "$d/log";; esac`;
}

/** The pid the launch printed before its ready line. */
export function parseDetachedPid(before: string): number | undefined {
  const m = new RegExp(`${DETACHED_PID_MARKER} (\\d+)`).exec(before);
  return m ? Number(m[1]) : undefined;
}

export type DetachedState =
  | { readonly kind: 'running' }
  | { readonly kind: 'exited'; readonly code: number }
  /** The process is gone and left no exit status: killed, or the node rebooted. */
  | { readonly kind: 'gone' };

export interface DetachedPoll {
  readonly state: DetachedState;
  /** The log's size in bytes when the state was read (the next offset). */
  readonly size: number;
  /** The log from the offset asked for up to `size`. */
  readonly chunk: string;
}

/**
 * One look: the state first (so an exit status means the log is complete), then the log from
 * `offset`. The pid counts as ours only while its command line names the run folder.
 */
export function pollScript(run: DetachedRun, offset: number): ShellScript {
  return sh`d=${run.dir}
p=${run.pid}
mine() { [ -r /proc/$p/cmdline ] && tr '\\000' '\\n' < /proc/$p/cmdline | grep -qxF -- "$d"; }
if [ -f "$d/exit" ]; then st="exit $(cat "$d/exit")"
elif mine; then st=running
elif [ -f "$d/exit" ]; then st="exit $(cat "$d/exit")"
else st=gone; fi
n=$(wc -c < "$d/log" 2>/dev/null || echo 0)
n=$((n + 0))
printf '%s %s %s\\n' ${HEADER} "$st" "$n"
o=${offset}
if [ "$n" -gt "$o" ]; then tail -c +$((o + 1)) "$d/log" | head -c $((n - o)); fi`;
}

export function parsePoll(stdout: string): DetachedPoll | undefined {
  const nl = stdout.indexOf('\n');
  if (nl < 0) return undefined;
  const m = new RegExp(`^${HEADER} (running|gone|exit (\\d+)) (\\d+)$`).exec(stdout.slice(0, nl));
  if (!m) return undefined;
  const state: DetachedState = m[1] === 'running' ? { kind: 'running' } : m[1] === 'gone' ? { kind: 'gone' } : { kind: 'exited', code: Number(m[2]) };
  return { state, size: Number(m[3]), chunk: stdout.slice(nl + 1) };
}

/**
 * One write to a guided installer's input, done at most once per `key` (the log offset the answer
 * belongs to): a window that re-reads the log after a reload finds the prompts it already
 * answered in `answered` (offsets and prompt names only, never what was typed) and types nothing
 * twice. The text comes on the exec's standard input, never on a command line. Prints `written`,
 * `already` or `ended` (the installer is gone: nothing to type into).
 */
export function inputScript(run: DetachedRun, key: string): ShellScript {
  return sh`d=${run.dir}
k=${key}
[ -p "$d/in" ] || { cat > /dev/null; echo "no input FIFO in $d" >&2; exit 3; }
if [ -f "$d/exit" ]; then cat > /dev/null; echo ended; exit 0; fi
if [ -n "$k" ] && grep -qxF -- "$k" "$d/answered" 2>/dev/null; then cat > /dev/null; echo already; exit 0; fi
cat > "$d/in" || exit 4
[ -z "$k" ] || printf '%s\\n' "$k" >> "$d/answered"
echo written`;
}

export type InputWrite = 'written' | 'already' | 'ended';

export function parseInputWrite(stdout: string): InputWrite | undefined {
  const last = stdout.trim().split('\n').pop();
  return last === 'written' || last === 'already' || last === 'ended' ? last : undefined;
}

/**
 * Ends the detached command's whole session (TERM, then KILL after 10 s) and, unless it wrote its
 * own, records STOPPED_EXIT, so a stop is an outcome and never "gone without an exit status".
 */
export function stopScript(run: DetachedRun): ShellScript {
  return sh`d=${run.dir}
p=${run.pid}
mine() { [ -r /proc/$p/cmdline ] && tr '\\000' '\\n' < /proc/$p/cmdline | grep -qxF -- "$d"; }
if mine; then
  kill -TERM "-$p" 2>/dev/null
  i=0; while mine && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  mine && kill -KILL "-$p" 2>/dev/null
  while mine; do sleep 0.1; done
fi
if [ ! -f "$d/exit" ]; then
  printf '\\n%s\\n' ${STOPPED_MARKER} >> "$d/log"
  echo ${STOPPED_EXIT} > "$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"
fi
echo "stopped: exit $(cat "$d/exit")"`;
}

/** The latest run folder under `runs` on the node: its id, and whether it ended, runs or is gone. */
export type LastRun =
  | { readonly kind: 'none' }
  | { readonly kind: 'run'; readonly runId: string; readonly pid: number | undefined; readonly dir: string; readonly state: DetachedState };

const LAST = 'ucd-last-run';

/**
 * Reads the node's own record of the latest detached run under `$HOME/<stageRoot>/runs` (run ids
 * sort by time), so Check can tell an installer that died mid-way even with no journal at all.
 */
export function lastRunScript(stageRoot: string): ShellScript {
  return sh`r="$HOME"/${stageRoot}/runs
last=$(ls -1 "$r" 2>/dev/null | sort | tail -n 1)
if [ -z "$last" ]; then echo ${LAST} none; exit 0; fi
d="$r/$last"
p=$(cat "$d/pid" 2>/dev/null)
mine() { [ -n "$p" ] && [ -r /proc/$p/cmdline ] && tr '\\000' '\\n' < /proc/$p/cmdline | grep -qxF -- "$d"; }
if [ -f "$d/exit" ]; then st="exit $(cat "$d/exit")"
elif mine; then st=running
else st=gone; fi
printf '%s %s %s %s\\n' ${LAST} "$last" "\${p:--}" "$st"
printf '%s\\n' "$d"`;
}

export function parseLastRun(stdout: string): LastRun | undefined {
  const [head, dir] = stdout.split('\n');
  if (head === `${LAST} none`) return { kind: 'none' };
  const m = new RegExp(`^${LAST} (\\S+) (\\d+|-) (running|gone|exit (\\d+))$`).exec(head ?? '');
  if (!m || !dir) return undefined;
  const state: DetachedState = m[3] === 'running' ? { kind: 'running' } : m[3] === 'gone' ? { kind: 'gone' } : { kind: 'exited', code: Number(m[4]) };
  return { kind: 'run', runId: m[1], pid: m[2] === '-' ? undefined : Number(m[2]), dir, state };
}
