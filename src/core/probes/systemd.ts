// Probe: the systemd units that manage this install. A unit whose ExecStart or WorkingDirectory is
// under the install dir, or one of the names HCL's docs use, can bring a server back that was
// stopped behind its back (Restart=), so the stopped-proof must see them. The node lists every
// service unit and shows them all in one `systemctl show`; which ones are this install's is
// decided here, in a pure parser.
import { shQuote } from '../remote/quote';
import { normalizePath } from './identity';
import type { ProbeFragment, Section } from './sections';

/** The unit 8.1.1+ ships (bin/systemd/), and the name older examples use. */
export const KNOWN_UNITS: readonly string[] = ['devops-deploy-server.service', 'ucdserver.service'];

const PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'Restart', 'MainPID', 'NRestarts', 'ExecStart', 'WorkingDirectory', 'FragmentPath', 'DropInPaths'];

/** steps/systemd.ts's stand-in for a mask where a unit file in /etc outranks /run. */
export const MASK_DROP_IN = '50-ucd-upgrade-masked.conf';

/** Why a unit is counted as this install's. */
export type UnitMatch = 'exec-start' | 'working-directory' | 'known-name' | 'named';

export interface SystemdUnit {
  readonly name: string;
  /** loaded, masked, not-found, bad-setting, error. */
  readonly load: string;
  /** active, activating, deactivating, reloading, inactive, failed. */
  readonly active: string;
  readonly sub: string;
  /** enabled, enabled-runtime, disabled, static, masked, masked-runtime, ... ('' when unknown). */
  readonly unitFile: string;
  /** no, on-failure, always, ... ('' for a masked unit). */
  readonly restart: string;
  readonly mainPid: number;
  readonly restarts?: number;
  /** ExecStart's argv as one line, when the unit has one. */
  readonly execStart?: string;
  readonly workingDirectory?: string;
  readonly fragmentPath?: string;
  /** Masked for the upgrade by a runtime drop-in (where a mask in /run cannot win over /etc). */
  readonly maskedByDropIn?: boolean;
  readonly matchedBy: UnitMatch;
}

export type SystemdResult =
  /** No systemctl, or systemd is not the node's init: no unit can restart anything. */
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'ok'; readonly units: readonly SystemdUnit[] }
  | { readonly kind: 'error'; readonly message: string };

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.service$/;

/** Whether a unit name is one systemctl can be given safely (it is quoted all the same). */
export function isUnitName(name: string): boolean {
  return UNIT_NAME.test(name) && !name.startsWith('-');
}

/**
 * `extraUnits`: names to show besides those found (a unit this run masked: masked, it has no
 * ExecStart left to match). Template units (`x@.service`) cannot be shown and are left out.
 */
export function systemdFragment(extraUnits: readonly string[] = []): ProbeFragment {
  const named = [...new Set([...KNOWN_UNITS, ...extraUnits.filter(isUnitName)])];
  return {
    name: 'systemd',
    body: `if ! command -v systemctl >/dev/null 2>&1; then echo 'systemd none no systemctl'; exit 0; fi
if [ ! -d /run/systemd/system ]; then echo 'systemd none systemd is not the init of this node'; exit 0; fi
echo 'systemd running'
set -f
ucd_units=$( { systemctl list-units --all --type=service --no-legend --plain --no-pager 2>/dev/null; systemctl list-unit-files --type=service --no-legend --no-pager 2>/dev/null; } | awk '$1 ~ /\\.service$/ && $1 !~ /@\\.service$/ { print $1 }' | sort -u)
systemctl show --no-pager -p ${PROPERTIES.join(',')} -- $ucd_units ${named.map(shQuote).join(' ')}`,
  };
}

function underDir(p: string | undefined, dirs: readonly string[]): boolean {
  if (!p || !p.startsWith('/')) return false;
  const n = `/${normalizePath(p)}`;
  return dirs.some((d) => n === d || n.startsWith(`${d}/`));
}

/** ExecStart's `argv[]=...` words, from `{ path=... ; argv[]=... ; ... }` (one per command). */
function execArgv(value: string): { path?: string; argv: string[] } {
  const path = /path=([^ ;]+)/.exec(value)?.[1];
  const argv = /argv\[\]=([^;]*)/.exec(value)?.[1]?.trim();
  return { ...(path ? { path } : {}), argv: argv ? argv.split(/\s+/) : [] };
}

/**
 * Pure: the systemd section → the units that manage the install. `installDirs` are the install as
 * written and as the node resolved it; a unit matches when its ExecStart (the program or any
 * argument) or its WorkingDirectory lies under one of them, or by name (known or asked for).
 */
export function parseSystemd(section: Section, installDirs: readonly string[], extraUnits: readonly string[] = []): SystemdResult {
  const lines = section.body.split('\n');
  const head = lines[0]?.trim() ?? '';
  if (head.startsWith('systemd none')) return { kind: 'none', why: head.slice('systemd none'.length).trim() || 'no systemd' };
  if (head !== 'systemd running') return { kind: 'error', message: `unexpected systemd probe output: ${JSON.stringify(section.body.slice(0, 200))}` };
  const dirs = [...new Set(installDirs.filter((d) => d.startsWith('/')).map((d) => `/${normalizePath(d)}`))];
  const named = new Set([...KNOWN_UNITS, ...extraUnits]);
  const blocks: Map<string, string>[] = [];
  let cur: Map<string, string> | undefined;
  for (const raw of lines.slice(1)) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      cur = undefined;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    if (!cur) {
      cur = new Map();
      blocks.push(cur);
    }
    const key = line.slice(0, eq);
    // ExecStart repeats for each command of the unit: keep them all.
    cur.set(key, cur.has(key) && key === 'ExecStart' ? `${cur.get(key)}\n${line.slice(eq + 1)}` : line.slice(eq + 1));
  }
  const units = new Map<string, SystemdUnit>();
  for (const b of blocks) {
    const name = b.get('Id');
    if (!name) continue;
    const load = b.get('LoadState') ?? '';
    if (load === 'not-found') continue;
    const execs = (b.get('ExecStart') ?? '').split('\n').filter((x) => x.trim()).map(execArgv);
    const wd = b.get('WorkingDirectory') || undefined;
    let matchedBy: UnitMatch | undefined;
    if (execs.some((e) => underDir(e.path, dirs) || e.argv.some((a) => underDir(a, dirs)))) matchedBy = 'exec-start';
    else if (underDir(wd?.replace(/^!/, ''), dirs)) matchedBy = 'working-directory';
    else if (KNOWN_UNITS.includes(name)) matchedBy = 'known-name';
    else if (named.has(name)) matchedBy = 'named';
    if (!matchedBy || units.has(name)) continue;
    const pid = Number(b.get('MainPID') ?? '0');
    const restarts = b.get('NRestarts');
    const argv = execs.map((e) => e.argv.join(' ')).filter((x) => x).join(' && ');
    units.set(name, {
      name,
      load,
      active: b.get('ActiveState') ?? '',
      sub: b.get('SubState') ?? '',
      unitFile: b.get('UnitFileState') ?? '',
      restart: b.get('Restart') ?? '',
      mainPid: Number.isInteger(pid) ? pid : 0,
      ...(restarts !== undefined && /^\d+$/.test(restarts) ? { restarts: Number(restarts) } : {}),
      ...(argv ? { execStart: argv } : {}),
      ...(wd ? { workingDirectory: wd } : {}),
      ...(b.get('FragmentPath') ? { fragmentPath: b.get('FragmentPath')! } : {}),
      ...((b.get('DropInPaths') ?? '').split(/\s+/).some((d) => d.endsWith(`/${MASK_DROP_IN}`)) ? { maskedByDropIn: true } : {}),
      matchedBy,
    });
  }
  if (blocks.length === 0 && section.status !== 0) return { kind: 'error', message: `systemctl show failed (exit ${section.status}): ${lines.slice(1).join(' ').trim().slice(0, 200)}` };
  return { kind: 'ok', units: [...units.values()] };
}

/** The unit runs (or is about to): its server may be there, or come back at any moment. */
export function unitRuns(u: SystemdUnit): boolean {
  return u.active === 'active' || u.active === 'activating' || u.active === 'deactivating' || u.active === 'reloading';
}

export function unitMasked(u: SystemdUnit): boolean {
  return u.load === 'masked' || u.unitFile === 'masked' || u.unitFile === 'masked-runtime' || u.maskedByDropIn === true;
}

/** Enabled with Restart=: systemd starts it at boot and again whenever its process dies uncleanly. */
export function unitRestartsByItself(u: SystemdUnit): boolean {
  return !unitMasked(u) && (u.unitFile === 'enabled' || u.unitFile === 'enabled-runtime') && u.restart !== '' && u.restart !== 'no';
}

/** One line for the evidence and the status view: "devops-deploy-server.service active (running), enabled, Restart=on-failure". */
export function describeUnit(u: SystemdUnit): string {
  const state = `${u.active}${u.sub ? ` (${u.sub})` : ''}`;
  const pid = u.mainPid > 0 ? `, main pid ${u.mainPid}` : '';
  const file = u.unitFile ? `, ${u.unitFile}${u.maskedByDropIn ? ' (masked for the upgrade by a runtime drop-in)' : ''}` : '';
  const restart = u.restart ? `, Restart=${u.restart}` : '';
  return `${u.name} ${state}${pid}${file}${restart}`;
}
