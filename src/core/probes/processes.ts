// Probe: every UCD server process on the node. Each is classified against THIS install by where
// its launcher.jar really is (resolved on the node: symlinks, `//`, `.`, `..`, and a relative
// path through the process's own working directory), never by comparing the text as written.
// Whether the SSH user can see every process at all is part of the result: with /proc mounted
// with hidepid, another user's server is invisible, and an empty list proves nothing.
import { CMDLINE_FN, SERVER_CLASS, installOf, isServerOf, isUcdServer, parseProcessLine, type ProcessInfo } from './cmdline';
import { normalizePath, RESOLVE_FN } from './identity';
import type { ProbeFragment, Section } from './sections';

export interface UcdServerProcess extends ProcessInfo {
  /** The install its launcher.jar lies in: resolved on the node, else the text normalized; undefined when unknown. */
  readonly install?: string;
  readonly installResolved: boolean;
  /** It runs in a pid namespace below the node's own: a container on the node. */
  readonly container: boolean;
}

export type Visibility =
  | { readonly kind: 'full' }
  /** Other users' processes may be invisible to the SSH user: `why` says how the probe knows. */
  | { readonly kind: 'limited'; readonly why: string; readonly hidepid?: string; readonly uid?: number };

export type ProcessesResult =
  | {
      readonly kind: 'ok';
      readonly source: 'proc' | 'ps';
      /** UCD servers of this install. */
      readonly servers: readonly UcdServerProcess[];
      /** UCD servers of any other (or an unknown) install on the node. */
      readonly otherInstalls: readonly UcdServerProcess[];
      readonly visibility: Visibility;
    }
  | { readonly kind: 'error'; readonly message: string };

// The regex form of the class name: grep's own command line then holds `com\.urbancode...`,
// which this pattern does not match, so the probe never finds itself.
const CLASS_RE = SERVER_CLASS.replace(/\./g, '\\.');

export function processesFragment(): ProbeFragment {
  return {
    name: 'processes',
    body: `${CMDLINE_FN}
${RESOLVE_FN}
if [ -r /proc/self/cmdline ]; then
  echo 'source proc'
  printf 'uid %s\\n' "$(id -u 2>/dev/null)"
  # The options of the /proc mount that is on top (the last one listed).
  printf 'procopts %s\\n' "$(awk '$2 == "/proc" && $3 == "proc" { o = $4 } END { print o }' /proc/mounts 2>/dev/null)"
  # Direct test: PID 1 always exists; if its entry cannot be read, /proc hides processes from us.
  if [ -r /proc/1/stat ]; then echo 'pid1 visible'; else echo 'pid1 hidden'; fi
  for ucd_f in $(grep -l '${CLASS_RE}' /proc/[0-9]*/cmdline 2>/dev/null); do
    ucd_p=\${ucd_f#/proc/}; ucd_p=\${ucd_p%/cmdline}
    ucd_cmdline "$ucd_p" proc || continue
    printf 'ns %s %s\\n' "$ucd_p" "$(awk '$1 == "NSpid:" { print NF - 1 }' "/proc/$ucd_p/status" 2>/dev/null)"
    # One argument per line (NUL to newline, newline to \\002): grep -n numbers the arguments.
    tr '\\000\\n' '\\n\\002' < "/proc/$ucd_p/cmdline" 2>/dev/null | grep -n 'launcher\\.jar$' | while IFS= read -r ucd_l; do
      ucd_i=\${ucd_l%%:*}; ucd_j=\${ucd_l#*:}
      case $ucd_j in /*) ucd_a=$ucd_j;; *) ucd_a=/proc/$ucd_p/cwd/$ucd_j;; esac
      if ucd_r=$(ucd_resolve "$ucd_a"); then printf 'jar %s %s %s\\n' "$ucd_p" "$ucd_i" "$ucd_r"; else printf 'jar %s %s ?\\n' "$ucd_p" "$ucd_i"; fi
    done
  done
  exit 0
fi
command -v ps >/dev/null 2>&1 || { echo 'source none'; exit 0; }
echo 'source ps'
{ ps -ww -eo pid=,args= 2>/dev/null || ps -eo pid=,args=; } | grep '${CLASS_RE}' | sed 's/^ *\\([0-9][0-9]*\\) /proc \\1 ps /'
exit 0`,
  };
}

/** Splits `ps -eo pid=,args=` output into processes (pure; used on captured output). */
export function parsePsList(text: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const p = parseProcessLine(`${m[1]} ps ${m[2]}`);
    if (p) out.push(p);
  }
  return out;
}

/** The argument that names the launcher: the one after -jar, else the first ending in launcher.jar. */
function launcherIndex(args: readonly string[]): number {
  const isJar = (a: string) => /(^|\/)launcher\.jar$/.test(a);
  const afterJar = args.findIndex((a, i) => i > 0 && args[i - 1] === '-jar' && isJar(a));
  return afterJar >= 0 ? afterJar : args.findIndex(isJar);
}

/** A process with what the probe learned about its install; without resolution, from its text. */
export function withInstall(p: ProcessInfo, resolvedJar?: string, container = false): UcdServerProcess {
  if (resolvedJar !== undefined) {
    const install = /\/bin\/launcher\.jar$/.test(resolvedJar) ? resolvedJar.slice(0, -'/bin/launcher.jar'.length) || '/' : undefined;
    return { ...p, ...(install !== undefined ? { install } : {}), installResolved: install !== undefined, container };
  }
  const text = p.source === 'proc' ? installOf(p) : undefined;
  return { ...p, ...(text !== undefined && text.startsWith('/') ? { install: normalizePath(text) } : {}), installResolved: false, container };
}

/**
 * Every UCD server is one of: this install's (its launcher.jar resolves into `install`, the install
 * dir as the node resolved it), or another's (including one whose install is unknown).
 */
export function classifyProcesses(all: readonly (ProcessInfo | UcdServerProcess)[], installDir: string, resolvedInstall?: string): { servers: UcdServerProcess[]; otherInstalls: UcdServerProcess[] } {
  const dir = resolvedInstall ?? normalizePath(installDir);
  const servers: UcdServerProcess[] = [];
  const otherInstalls: UcdServerProcess[] = [];
  for (const raw of all) {
    if (!isUcdServer(raw)) continue;
    const p = 'installResolved' in raw ? raw : withInstall(raw);
    const mine = p.install !== undefined
      ? p.install === dir || (!p.installResolved && p.install === normalizePath(installDir))
      // No launcher.jar path (or ps, which joins arguments with spaces): the text is all there is.
      : isServerOf(p, installDir) || isServerOf(p, dir);
    (mine ? servers : otherInstalls).push(p);
  }
  return { servers, otherInstalls };
}

export function visibilityOf(lines: readonly string[]): Visibility {
  const uidText = lines.find((l) => l.startsWith('uid '))?.slice(4).trim();
  const uid = uidText && /^\d+$/.test(uidText) ? Number(uidText) : undefined;
  const opts = lines.find((l) => l.startsWith('procopts '))?.slice('procopts '.length) ?? '';
  const hidepid = /(?:^|,)hidepid=([^,\s]+)/.exec(opts)?.[1];
  const withUid = uid !== undefined ? { uid } : {};
  // hidepid=0/off shows every process; 1/noaccess, 2/invisible and 4/ptraceable (systemd's
  // ProtectProc=) hide other users' processes from anyone but root.
  if (hidepid !== undefined && hidepid !== '0' && hidepid !== 'off' && uid !== 0) {
    return { kind: 'limited', why: `/proc is mounted with hidepid=${hidepid} and the SSH user (uid ${uid ?? '?'}) is not root`, hidepid, ...withUid };
  }
  if (lines.includes('pid1 hidden')) {
    return { kind: 'limited', why: `/proc hides other users' processes from the SSH user (uid ${uid ?? '?'}): even PID 1 cannot be read`, ...(hidepid ? { hidepid } : {}), ...withUid };
  }
  if (uid === undefined && lines.includes('source proc')) return { kind: 'limited', why: 'the probe could not tell which user it runs as' };
  return { kind: 'full' };
}

export function parseProcesses(section: Section, installDir: string, resolvedInstall?: string): ProcessesResult {
  const lines = section.body.split('\n');
  const src = lines.find((l) => l.startsWith('source '));
  if (src === 'source none') return { kind: 'error', message: 'cannot list processes: no /proc and no ps' };
  if (src !== 'source proc' && src !== 'source ps') {
    return { kind: 'error', message: `process probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  }
  const found: ProcessInfo[] = [];
  const nested = new Map<number, boolean>();
  const jars = new Map<string, string | undefined>();
  for (const l of lines) {
    if (l.startsWith('proc ')) {
      const p = parseProcessLine(l.slice('proc '.length));
      if (p) found.push(p);
    } else if (l.startsWith('ns ')) {
      const m = /^ns (\d+) (\d*)$/.exec(l);
      if (m) nested.set(Number(m[1]), Number(m[2] || '1') > 1);
    } else if (l.startsWith('jar ')) {
      const m = /^jar (\d+) (\d+) (.*)$/.exec(l);
      if (m) jars.set(`${m[1]}:${m[2]}`, m[3] === '?' ? undefined : (m[3] ?? '').replace(/\u0002/g, '\n'));
    }
  }
  const all = found.map((p) => {
    const i = launcherIndex(p.args);
    const key = `${p.pid}:${i + 1}`;
    const container = nested.get(p.pid) ?? false;
    if (p.source === 'proc' && i >= 0 && jars.has(key)) {
      // Undefined: not resolvable (e.g. relative to another user's working directory): the text then.
      return withInstall(p, jars.get(key), container);
    }
    return withInstall(p, undefined, container);
  });
  const visibility: Visibility = src === 'source ps' ? { kind: 'full' } : visibilityOf(lines);
  return { kind: 'ok', source: src === 'source proc' ? 'proc' : 'ps', ...classifyProcesses(all, installDir, resolvedInstall), visibility };
}
