// Probe: which machine answered, and where the install really is. Two cluster entries that reach
// the same machine and install (the same host written twice, an alias and an address) must not
// count as two stopped nodes, and a path written as `//opt/ucd/./server` or through a symlink is
// compared with process paths only after the node itself resolved it.
import { shQuote } from '../remote/quote';
import type { ProbeFragment, Section } from './sections';

export interface NodeIdentity {
  /** /etc/machine-id (or /var/lib/dbus/machine-id); undefined when the node has neither. */
  readonly machineId?: string;
  /** The running kernel's boot id: tells two machines cloned with one machine-id apart. */
  readonly bootId?: string;
  readonly hostname?: string;
  /** `readlink -f` of installDir on the node, or (when it could not resolve it) the normalized text. */
  readonly install: string;
  readonly installResolved: boolean;
  readonly installExists: boolean;
}

export type IdentityResult =
  | ({ readonly kind: 'ok' } & NodeIdentity)
  | { readonly kind: 'error'; readonly message: string };

/**
 * POSIX sh: `ucd_resolve PATH` prints the path with every symlink, `//`, `.` and `..` resolved
 * (newlines as \002, so it stays one line), or fails. GNU and busybox readlink -f, else realpath.
 */
export const RESOLVE_FN = `ucd_resolve() {
  ucd_rp=$(readlink -f -- "$1" 2>/dev/null) || ucd_rp=$(realpath -- "$1" 2>/dev/null) || return 1
  [ -n "$ucd_rp" ] || return 1
  printf '%s' "$ucd_rp" | tr '\\n' '\\002'
}`;

export function identityFragment(installDir: string): ProbeFragment {
  return {
    name: 'identity',
    body: `${RESOLVE_FN}
ucd_m=$(cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null) || ucd_m=
printf 'machine %s\\n' "$(printf '%s' "$ucd_m" | tr -cd '0-9a-fA-F' | cut -c 1-64)"
printf 'boot %s\\n' "$(tr -cd '0-9a-fA-F-' < /proc/sys/kernel/random/boot_id 2>/dev/null | cut -c 1-64)"
printf 'host %s\\n' "$(uname -n 2>/dev/null | tr -cd 'A-Za-z0-9._-' | cut -c 1-253)"
ucd_d=${shQuote(installDir)}
if [ -d "$ucd_d" ]; then echo 'install-exists yes'; else echo 'install-exists no'; fi
if ucd_r=$(ucd_resolve "$ucd_d"); then printf 'install %s\\n' "$ucd_r"; else echo 'install unresolved'; fi
exit 0`,
  };
}

function value(lines: readonly string[], key: string): string | undefined {
  const l = lines.find((x) => x.startsWith(`${key} `));
  const v = l?.slice(key.length + 1).trim();
  return v ? v : undefined;
}

export function parseIdentity(section: Section, installDir: string): IdentityResult {
  const lines = section.body.split('\n');
  if (!lines.some((l) => l.startsWith('install-exists '))) {
    return { kind: 'error', message: `identity probe said: ${section.body.trim() || `nothing (exit ${section.status})`}` };
  }
  // A machine-id is 32 hex digits; anything else ("uninitialized" on a fresh image) is none.
  const machineId = value(lines, 'machine')?.toLowerCase().match(/^[0-9a-f]{32}$/)?.[0];
  const bootId = value(lines, 'boot')?.toLowerCase();
  const hostname = value(lines, 'host');
  const install = value(lines, 'install');
  return {
    kind: 'ok',
    ...(machineId ? { machineId } : {}),
    ...(bootId ? { bootId } : {}),
    ...(hostname ? { hostname } : {}),
    ...(install && install !== 'unresolved' && install.startsWith('/')
      ? { install: install.replace(/\u0002/g, '\n'), installResolved: true }
      : { install: normalizePath(installDir), installResolved: false }),
    installExists: lines.includes('install-exists yes'),
  };
}

/**
 * A path with `//`, `/./` and a trailing slash removed, and `..` applied — only for comparing when
 * the node could not resolve a path itself (the text may then still hide a symlink).
 */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** The install dir as the node resolved it, else its normalized text. */
export function effectiveInstallDir(installDir: string, identity: IdentityResult): string {
  return identity.kind === 'ok' ? identity.install : normalizePath(installDir);
}

/**
 * Whether two nodes' reports are the same machine: the same machine-id on the same running kernel
 * (a VM cloned with its machine-id still boots its own kernel). Without a machine-id, the same
 * kernel and host name.
 */
export function sameMachine(a: NodeIdentity, b: NodeIdentity): boolean {
  if (!a.bootId || a.bootId !== b.bootId) return false;
  if (a.machineId || b.machineId) return a.machineId === b.machineId;
  return !!a.hostname && a.hostname === b.hostname;
}

/** Same machine and the same install. */
export function sameInstall(a: NodeIdentity, b: NodeIdentity): boolean {
  return sameMachine(a, b) && a.install === b.install;
}
