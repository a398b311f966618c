// Probe: UCD server processes on the node — those of THIS install (the main class together with
// the install path), and, to say so plainly, those of other installs (never matched as ours).
import { CMDLINE_FN, SERVER_CLASS, isServerOf, isUcdServer, parseProcessLine, type ProcessInfo } from './cmdline';
import type { ProbeFragment, Section } from './sections';

export type ProcessesResult =
  | {
      readonly kind: 'ok';
      readonly source: 'proc' | 'ps';
      readonly servers: readonly ProcessInfo[];
      readonly otherInstalls: readonly ProcessInfo[];
      /** /proc is mounted with hidepid and the SSH user is not root: other users' processes are invisible. */
      readonly limited: boolean;
    }
  | { readonly kind: 'error'; readonly message: string };

// The regex form of the class name: grep's own command line then holds `com\.urbancode...`,
// which this pattern does not match, so the probe never finds itself.
const CLASS_RE = SERVER_CLASS.replace(/\./g, '\\.');

export function processesFragment(): ProbeFragment {
  return {
    name: 'processes',
    body: `${CMDLINE_FN}
if [ -r /proc/self/cmdline ]; then
  echo 'source proc'
  if [ "$(id -u 2>/dev/null)" != 0 ] && awk '$2 == "/proc" && $3 == "proc" && $4 ~ /hidepid=([12]|invisible|noaccess)/ { f = 1 } END { exit !f }' /proc/mounts 2>/dev/null; then
    echo 'limited yes'
  fi
  for ucd_f in $(grep -l '${CLASS_RE}' /proc/[0-9]*/cmdline 2>/dev/null); do
    ucd_p=\${ucd_f#/proc/}; ucd_p=\${ucd_p%/cmdline}
    ucd_cmdline "$ucd_p" proc
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

export function classifyProcesses(all: readonly ProcessInfo[], installDir: string): { servers: ProcessInfo[]; otherInstalls: ProcessInfo[] } {
  const servers = all.filter((p) => isServerOf(p, installDir));
  const otherInstalls = all.filter((p) => isUcdServer(p) && !isServerOf(p, installDir));
  return { servers, otherInstalls };
}

export function parseProcesses(section: Section, installDir: string): ProcessesResult {
  const lines = section.body.split('\n');
  const src = lines.find((l) => l.startsWith('source '));
  if (src === 'source none') return { kind: 'error', message: 'cannot list processes: no /proc and no ps' };
  if (src !== 'source proc' && src !== 'source ps') {
    return { kind: 'error', message: `process probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  }
  const all: ProcessInfo[] = [];
  for (const l of lines) {
    if (!l.startsWith('proc ')) continue;
    const p = parseProcessLine(l.slice('proc '.length));
    if (p) all.push(p);
  }
  return { kind: 'ok', source: src === 'source proc' ? 'proc' : 'ps', ...classifyProcesses(all, installDir), limited: lines.includes('limited yes') };
}
