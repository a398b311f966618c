// Probe: var/server.pid — present? does its pid name a living process, and which one? The installer
// refuses to upgrade while this file exists, and a killed server leaves it behind.
import { shQuote } from '../remote/quote';
import { CMDLINE_FN, parseHiddenLine, parseProcessLine, type ProcessInfo } from './cmdline';
import type { ProbeFragment, Section } from './sections';

export const PID_FILE = 'var/server.pid';

export type PidFileResult =
  | { readonly kind: 'absent' }
  /** The file exists but cannot be read by the SSH user. */
  | { readonly kind: 'unreadable' }
  /** The first line is not a process id. */
  | { readonly kind: 'invalid'; readonly content: string }
  /**
   * A living process has this pid; `process` is its command line, or undefined when the process
   * exists but the SSH user cannot see it (/proc mounted with hidepid).
   */
  | { readonly kind: 'live'; readonly pid: number; readonly process: ProcessInfo | undefined }
  /** No process has this pid: the file was left behind. */
  | { readonly kind: 'stale'; readonly pid: number }
  | { readonly kind: 'error'; readonly message: string };

export function pidFilePath(installDir: string): string {
  return `${installDir.replace(/\/+$/, '')}/${PID_FILE}`;
}

export function pidFileFragment(installDir: string): ProbeFragment {
  return {
    name: 'pidfile',
    body: `${CMDLINE_FN}
ucd_f=${shQuote(pidFilePath(installDir))}
if [ ! -e "$ucd_f" ]; then echo 'pidfile absent'; exit 0; fi
if [ ! -r "$ucd_f" ]; then echo 'pidfile unreadable'; exit 0; fi
ucd_pid=$(head -n 1 "$ucd_f" | tr -d ' \\t\\r' | cut -c 1-40)
printf 'pidfile present %s\\n' "$ucd_pid"
case $ucd_pid in ''|*[!0-9]*) exit 0;; esac
ucd_cmdline "$ucd_pid" owner || echo 'owner none'`,
  };
}

export function parsePidFile(section: Section): PidFileResult {
  const lines = section.body.split('\n');
  if (lines.includes('pidfile absent')) return { kind: 'absent' };
  if (lines.includes('pidfile unreadable')) return { kind: 'unreadable' };
  const present = lines.find((l) => l.startsWith('pidfile present'));
  if (present === undefined) return { kind: 'error', message: `pid file probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  const content = present.slice('pidfile present'.length).trim();
  if (!/^\d{1,10}$/.test(content) || Number(content) <= 0) return { kind: 'invalid', content };
  const pid = Number(content);
  const owner = lines.find((l) => l.startsWith('owner '));
  if (owner === 'owner none') return { kind: 'stale', pid };
  if (owner && parseHiddenLine(owner.slice('owner '.length)) === pid) return { kind: 'live', pid, process: undefined };
  const proc = owner ? parseProcessLine(owner.slice('owner '.length)) : undefined;
  if (!proc || proc.pid !== pid) return { kind: 'error', message: `could not tell whether pid ${pid} is running: ${section.body.trim()}` };
  return { kind: 'live', pid, process: proc };
}
