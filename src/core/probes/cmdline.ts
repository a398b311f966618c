// Process command lines as the probes see them, and the one rule that says whether a process is the
// UCD server of a given install. /proc gives the exact argument vector (NUL-separated); `ps` (only
// where /proc is missing) gives the arguments joined by spaces, so its matching is looser.

export const SERVER_CLASS = 'com.urbancode.ds.UDeployServer';

export interface ProcessInfo {
  readonly pid: number;
  /** The argument vector: exact from /proc, split on spaces from ps. */
  readonly args: readonly string[];
  /** How the probe read it; 'ps' means args may have been split inside a path with spaces. */
  readonly source: 'proc' | 'ps';
  /**
   * The command line exactly as the node encoded it. Kill scripts compare the live process with
   * this before signalling, so a pid reused by another process is never killed.
   */
  readonly identity: string;
}

/**
 * POSIX sh function: `ucd_cmdline PID TAG` prints `TAG PID proc|ps TEXT` for a living process,
 * `TAG PID hidden` for one that exists but whose /proc entry the SSH user cannot see (/proc
 * mounted with hidepid; kill -0 then answers "not permitted"), or nothing with status 1 (gone,
 * zombie, kernel thread). From /proc, NUL becomes \001 and newline \002, so one process is always
 * one line whatever its arguments contain.
 */
export const CMDLINE_FN = `ucd_cmdline() {
  if [ -r /proc/self/cmdline ]; then
    ucd_c=$(tr '\\000\\n' '\\001\\002' 2>/dev/null < "/proc/$1/cmdline") || ucd_c=
    if [ -n "$ucd_c" ]; then printf '%s %s proc %s\\n' "$2" "$1" "$ucd_c"; return 0; fi
    [ -d "/proc/$1" ] && return 1
    ucd_e=$(kill -0 "$1" 2>&1) && { printf '%s %s hidden\\n' "$2" "$1"; return 0; }
    case $ucd_e in *ermitted*|*EPERM*) printf '%s %s hidden\\n' "$2" "$1"; return 0;; esac
    return 1
  else
    ucd_c=$(ps -ww -p "$1" -o args= 2>/dev/null || ps -p "$1" -o args= 2>/dev/null) || return 1
    case $ucd_c in ''|*'<defunct>'*) return 1;; esac
    printf '%s %s ps %s\\n' "$2" "$1" "$ucd_c"
  fi
}`;

/** The argument vector from the text CMDLINE_FN printed. */
export function decodeArgs(source: 'proc' | 'ps', text: string): string[] {
  if (source === 'ps') return text.trim().split(/\s+/).filter((a) => a.length > 0);
  const parts = text.split('\u0001').map((a) => a.replace(/\u0002/g, '\n'));
  // /proc's cmdline ends with a NUL, so the last element is empty.
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** A `TAG PID hidden` line (after the tag): the pid of a process that exists but cannot be read. */
export function parseHiddenLine(rest: string): number | undefined {
  const m = /^(\d+) hidden$/.exec(rest);
  return m ? Number(m[1]) : undefined;
}

/** Parses one `TAG PID proc|ps TEXT` line (after the tag) into a process, or undefined. */
export function parseProcessLine(rest: string): ProcessInfo | undefined {
  const m = /^(\d+) (proc|ps) (.*)$/s.exec(rest);
  if (!m) return undefined;
  const source = m[2] as 'proc' | 'ps';
  const identity = m[3] ?? '';
  const args = decodeArgs(source, identity);
  if (args.length === 0) return undefined;
  return { pid: Number(m[1]), args, source, identity };
}

/** The command line as a person reads it in a dialog or the log. */
export function commandText(p: Pick<ProcessInfo, 'args'>): string {
  return p.args.map((a) => (/[\s"'\\]/.test(a) || a === '' ? JSON.stringify(a) : a)).join(' ');
}

function trimSlash(dir: string): string {
  return dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
}

function mentionsDir(arg: string, dir: string): boolean {
  return arg === dir || arg.startsWith(dir + '/') || arg.includes('=' + dir + '/') || arg.endsWith('=' + dir);
}

/** A UCD server JVM of some install: the main class as its own argument, started by java or through launcher.jar. */
export function isUcdServer(p: Pick<ProcessInfo, 'args'>): boolean {
  if (!p.args.includes(SERVER_CLASS)) return false;
  const exe = (p.args[0] ?? '').split(/[\\/]/).pop() ?? '';
  return /^java(w)?(\.exe)?$/i.test(exe) || p.args.some((a) => /[\\/]launcher\.jar$/.test(a));
}

/** The install a UCD server process belongs to, read from its launcher.jar argument. */
export function installOf(p: Pick<ProcessInfo, 'args'>): string | undefined {
  const jar = p.args.find((a) => /\/bin\/launcher\.jar$/.test(a));
  return jar ? jar.slice(0, -'/bin/launcher.jar'.length) || '/' : undefined;
}

/**
 * The precise check: the UCD server main class together with this install's path. A server whose
 * launcher.jar lies in another install (even /opt/ucd/server2 next to /opt/ucd/server, or an
 * install nested below this one) does not match.
 */
export function isServerOf(p: ProcessInfo, installDir: string): boolean {
  if (!isUcdServer(p)) return false;
  const dir = trimSlash(installDir);
  if (p.source === 'ps') {
    // ps joined the arguments with spaces, so a path with spaces is compared on the joined text.
    const joined = ` ${p.args.join(' ')} `;
    if (joined.includes('/bin/launcher.jar ')) return joined.includes(` ${dir}/bin/launcher.jar `);
    return p.args.some((a) => mentionsDir(a, dir));
  }
  const inst = installOf(p);
  if (inst !== undefined) return trimSlash(inst) === dir;
  return p.args.some((a) => mentionsDir(a, dir));
}
