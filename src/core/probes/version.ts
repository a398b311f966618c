// Probe: conf/installed.version of the install, and of the shared appdata folder when given.
import { shQuote } from '../remote/quote';
import type { ProbeFragment, Section } from './sections';

export type VersionFile =
  | { readonly kind: 'found'; readonly version: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'unreadable' }
  /** The file exists but has no installed.version line. */
  | { readonly kind: 'unparsed'; readonly text: string };

export type VersionResult =
  | { readonly kind: 'ok'; readonly install: VersionFile; readonly appdata?: VersionFile }
  | { readonly kind: 'error'; readonly message: string };

const FILE = 'conf/installed.version';

export function versionFragment(installDir: string, appdataDir?: string): ProbeFragment {
  const file = (dir: string) => shQuote(`${dir.replace(/\/+$/, '')}/${FILE}`);
  const lines = [
    `ucd_v() { if [ -r "$2" ]; then echo "file $1"; head -n 50 "$2" | sed 's/^/| /'; echo "end $1"; elif [ -e "$2" ]; then echo "unreadable $1"; else echo "missing $1"; fi; }`,
    `ucd_v install ${file(installDir)}`,
  ];
  if (appdataDir !== undefined) lines.push(`ucd_v appdata ${file(appdataDir)}`);
  return { name: 'version', body: lines.join('\n') };
}

/** `installed.version=<v>` from the properties text (pure). */
export function parseInstalledVersion(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*installed\.version\s*[=:]\s*(\S+)\s*$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

function fileResult(lines: readonly string[], label: string): VersionFile | undefined {
  if (lines.includes(`missing ${label}`)) return { kind: 'missing' };
  if (lines.includes(`unreadable ${label}`)) return { kind: 'unreadable' };
  const start = lines.indexOf(`file ${label}`);
  if (start < 0) return undefined;
  const body: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i] !== `end ${label}`; i++) {
    const l = lines[i] ?? '';
    if (l.startsWith('| ')) body.push(l.slice(2));
    else if (l === '|') body.push('');
  }
  const text = body.join('\n');
  const version = parseInstalledVersion(text);
  return version ? { kind: 'found', version } : { kind: 'unparsed', text };
}

export function parseVersion(section: Section, withAppdata: boolean): VersionResult {
  const lines = section.body.split('\n');
  const install = fileResult(lines, 'install');
  if (!install) return { kind: 'error', message: `version probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  if (!withAppdata) return { kind: 'ok', install };
  const appdata = fileResult(lines, 'appdata');
  return appdata ? { kind: 'ok', install, appdata } : { kind: 'ok', install };
}
