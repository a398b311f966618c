// Step 1's filesystem part, beside the database dump: on every node an archive of what the
// upgrade replaces (the install tree with conf, keystores and opt/tomcat), and on the first node
// one of the shared appdata's configuration (conf, patches). Rollback needs exactly these to bring
// the old version back. Archives live in the SSH user's own 0700 folder
// (`~/.ucd-upgrade-backup/<cluster>-<stamp>/`, the staging rules of package.ts), a new one per run,
// so nothing is ever written over; the space is measured on every node before anything is written.
import type { Cluster, ClusterNode } from '../cluster/types';
import type { BackupWhat } from '../journal/events';
import { sh, type ShellScript } from '../remote/quote';
import type { Transport } from '../remote/transport';
import type { ActionContext } from '../runbook/actions';
import type { BackupStamp } from './backup-artifact';
import { loggedExec } from './loggedExec';
import { STAGE_GUARD } from './package';
import { formatBytes } from './uploadProgress';

/** Under the SSH user's home on each node. */
export const BACKUP_ROOT = '.ucd-upgrade-backup';

/**
 * Left out of the install archive: logs and temp files are no part of the old version, and the
 * pid file of the server running during the backup would come back stale after a restore.
 */
export const INSTALL_EXCLUDES: readonly string[] = ['./var/log', './var/temp', './var/server.pid'];
/** The shared appdata's configuration: what an upgrade rewrites (installed.version) or renames (patches to .off). */
export const APPDATA_PARTS: readonly string[] = ['conf', 'patches'];

/** Room asked beyond the trees' own size (gzip rarely grows a tree; tar headers and a margin). */
const HEADROOM_KB = 1024;

const MARK = 'UCD-FILE-BACKUP 1';

/** `<cluster>-<stamp>`, with anything but letters, digits, `.`, `_` and `-` replaced. */
export function backupRunName(cluster: Pick<Cluster, 'name'>, stamp: BackupStamp): string {
  return `${cluster.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')}-${stamp}`;
}

function kvOf(stdout: string): { ok: true; kv: Map<string, string> } | { ok: false; problem: string } {
  const lines = stdout.split(/\r?\n/);
  const refused = lines.find((l) => l.startsWith('refused='));
  if (refused) return { ok: false, problem: refused.slice('refused='.length) };
  const start = lines.indexOf(MARK);
  if (start < 0 || !lines.slice(start).includes('END')) return { ok: false, problem: 'the script printed nothing recognisable (is /bin/sh there?)' };
  const kv = new Map<string, string>();
  for (const l of lines.slice(start + 1)) {
    if (l === 'END') break;
    const eq = l.indexOf('=');
    if (eq > 0) kv.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return { ok: true, kv };
}

const int = (kv: Map<string, string>, k: string): number | undefined => (/^\d+$/.test(kv.get(k) ?? '') ? Number(kv.get(k)) : undefined);

// --- measure: where the archives go, how big the trees are, how much room there is ------------

/** `runName`: this run's folder; when taken (a run in the same second) the next free `<name>.N`. */
export function measureScript(node: ClusterNode, appdata: string | undefined, runName: string): ShellScript {
  return sh`${STAGE_GUARD}[ -n "\${HOME:-}" ] || refuse "the SSH user has no HOME"
home=$(cd "$HOME" 2>/dev/null && pwd -P) || refuse "the SSH user's home $HOME is not a folder it can enter"
safe_chain "$home"
b="$home"/${BACKUP_ROOT}
if [ ! -e "$b" ] && [ ! -L "$b" ]; then mkdir -m 700 -- "$b" || refuse "cannot create $b"; fi
own_dir "$b"
n=${runName}; i=1
# Two runs in one second: the later one takes the next free name, never the earlier's folder.
while [ -e "$b/$n" ] || [ -L "$b/$n" ]; do n=${runName}.$i; i=$((i + 1)); done
d=${node.installDir}
[ -d "$d" ] || refuse "the install folder $d is not there"
[ -r "$d" ] || refuse "the install folder $d is not readable by the SSH user"
echo ${MARK}
echo "home=$home"
echo "run=$n"
echo "install_kb=$(du -sk --exclude="$d/var/log" --exclude="$d/var/temp" -- "$d" | awk '{print $1}')"
${appdata === undefined ? sh`` : sh`a=${appdata}
[ -d "$a" ] || refuse "the shared appdata folder $a is not there"
t=0
for x in ${APPDATA_PARTS}; do if [ -e "$a/$x" ]; then k=$(du -sk -- "$a/$x" | awk '{print $1}'); t=$((t + k)); fi; done
echo "appdata_kb=$t"
`}echo "avail_kb=$(df -Pk -- "$b" | awk 'NR==2 {print $4}')"
echo END`;
}

export interface Measured {
  readonly home: string;
  /** This run's folder name under the backup folder, free when measured. */
  readonly run: string;
  readonly installKb: number;
  readonly appdataKb?: number;
  readonly availKb: number;
}

export function parseMeasure(stdout: string): { ok: true; measured: Measured } | { ok: false; problem: string } {
  const r = kvOf(stdout);
  if (!r.ok) return r;
  const home = r.kv.get('home');
  const run = r.kv.get('run');
  const installKb = int(r.kv, 'install_kb');
  const availKb = int(r.kv, 'avail_kb');
  const appdataKb = int(r.kv, 'appdata_kb');
  if (!home || !run || run.includes('/') || installKb === undefined || availKb === undefined) return { ok: false, problem: 'the size of the install or the free space could not be read (du, df)' };
  return { ok: true, measured: { home, run, installKb, availKb, ...(appdataKb !== undefined ? { appdataKb } : {}) } };
}

/** Pure: enough room for the archives? The refusal names the node, the folder, what is needed and what is free. */
export function spaceVerdict(node: string, folder: string, m: Measured): { ok: true; neededKb: number } | { ok: false; reason: string; hint: string } {
  const neededKb = m.installKb + (m.appdataKb ?? 0) + HEADROOM_KB;
  if (neededKb <= m.availKb) return { ok: true, neededKb };
  return {
    ok: false,
    reason: `${node}: not enough free space in ${folder} for the filesystem backup: needs ${formatBytes(neededKb * 1024)}, ${formatBytes(m.availKb * 1024)} free; nothing was backed up`,
    hint: `Free at least ${formatBytes((neededKb - m.availKb) * 1024)} in ${folder} on ${node} (earlier backups of this runbook are in ${BACKUP_ROOT}), then run step 1 again.`,
  };
}

// --- archive ------------------------------------------------------------------------------------

export interface ArchivePlan {
  readonly node: ClusterNode;
  /** The run's own folder, created fresh; it must not exist yet. */
  readonly folder: string;
  /** The shared appdata, archived on one node only (the first). */
  readonly appdata?: string;
}

export function archivePaths(folder: string): Record<'install' | 'appdata', string> {
  return { install: `${folder}/install.tar.gz`, appdata: `${folder}/appdata.tar.gz` };
}

export function archiveScript(plan: ArchivePlan): ShellScript {
  const p = archivePaths(plan.folder);
  const excludes = INSTALL_EXCLUDES.map((x) => `--exclude=${x}`);
  return sh`${STAGE_GUARD}r=${plan.folder}
own_dir "$(dirname -- "$r")"
if [ -e "$r" ] || [ -L "$r" ]; then refuse "$r exists already: a backup is never written over"; fi
mkdir -m 700 -- "$r" || refuse "cannot create $r"
own_dir "$r"
umask 077
command -v sha256sum >/dev/null 2>&1 || refuse "sha256sum is not installed on the node (GNU coreutils)"
measure() { h=$(sha256sum < "$2") || refuse "cannot read $2"; echo "$1_path=$2"; echo "$1_size=$(wc -c < "$2" | tr -d ' ')"; echo "$1_sha256=\${h%% *}"; }
echo ${MARK}
tar -czf ${p.install} ${excludes} -C ${plan.node.installDir} . 2>"$r/install.err"; rc=$?
if [ $rc -gt 1 ]; then refuse "tar of ${plan.node.installDir} exited $rc: $(tail -n 3 "$r/install.err" | tr '\\n' ' ')"; fi
if [ $rc -eq 1 ]; then echo "install_changed=$(head -n 1 "$r/install.err")"; fi
rm -f -- "$r/install.err"
measure install ${p.install}
${plan.appdata === undefined ? sh`` : sh`a=${plan.appdata}
set --
for x in ${APPDATA_PARTS}; do if [ -e "$a/$x" ]; then set -- "$@" "$x"; fi; done
[ $# -gt 0 ] || refuse "the shared appdata $a has neither conf nor patches"
echo "appdata_parts=$*"
tar -czf ${p.appdata} -C "$a" "$@" 2>"$r/appdata.err" || refuse "tar of $a exited $?: $(tail -n 3 "$r/appdata.err" | tr '\\n' ' ')"
rm -f -- "$r/appdata.err"
measure appdata ${p.appdata}
`}echo END`;
}

export interface Archive {
  readonly what: Exclude<BackupWhat, 'database'>;
  readonly node: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export function parseArchive(node: string, stdout: string): { ok: true; archives: Archive[]; notes: string[] } | { ok: false; problem: string } {
  const r = kvOf(stdout);
  if (!r.ok) return r;
  const archives: Archive[] = [];
  for (const what of ['install', 'appdata'] as const) {
    const path = r.kv.get(`${what}_path`);
    if (path === undefined) continue;
    const size = int(r.kv, `${what}_size`);
    const sha256 = r.kv.get(`${what}_sha256`) ?? '';
    if (size === undefined || !/^[0-9a-f]{64}$/.test(sha256)) return { ok: false, problem: `the ${what} archive's size or sha256 could not be read` };
    archives.push({ what, node, path, size, sha256 });
  }
  if (!archives.some((a) => a.what === 'install')) return { ok: false, problem: 'the install archive was not made' };
  const notes: string[] = [];
  const changed = r.kv.get('install_changed');
  if (changed) notes.push(`${node}: a file changed while it was archived (${changed}); the archive holds the rest as it was`);
  return { ok: true, archives, notes };
}

export function describeArchive(a: Pick<Archive, 'what' | 'node' | 'path' | 'size' | 'sha256'>): string {
  const what = a.what === 'install' ? 'install tree' : 'shared appdata conf and patches';
  return `${a.node}: ${what} in ${a.path}, ${formatBytes(a.size)} (${a.size} bytes), sha256:${a.sha256.slice(0, 12)}`;
}

// --- restore (Roll back) ------------------------------------------------------------------------

/** Checks the archive's sha256 against the one recorded when it was made; prints it either way. */
function verifiedArchive(archive: string, sha256: string): ShellScript {
  return sh`f=${archive}; expect=${sha256}
if [ -L "$f" ] || [ ! -f "$f" ]; then refuse "$f is not there (or not a plain file): nothing was restored"; fi
own_dir "$(dirname -- "$f")"
command -v sha256sum >/dev/null 2>&1 || refuse "sha256sum is not installed on the node (GNU coreutils)"
h=$(sha256sum < "$f") || refuse "cannot read $f"
h=\${h%% *}
echo "sha256=$h"
[ "$h" = "$expect" ] || refuse "$f has sha256 $h, not $expect as recorded when it was made: it changed since; nothing was restored"
tar -tzf "$f" >/dev/null 2>&1 || refuse "$f is not a readable tar.gz archive: nothing was restored"
`;
}

/** Only the checksum: the first pass of Roll back, before anything is changed on any node. */
export function verifyArchiveScript(archive: string, sha256: string): ShellScript {
  return sh`${STAGE_GUARD}echo ${MARK}
${verifiedArchive(archive, sha256)}echo END`;
}

/**
 * Puts the install tree back as archived: what the upgrade left is removed first (the logs and
 * temp files, which the archive never held, stay), so no file of the new version survives.
 */
export function restoreInstallScript(installDir: string, archive: string, sha256: string): ShellScript {
  return sh`${STAGE_GUARD}echo ${MARK}
${verifiedArchive(archive, sha256)}d=${installDir}
[ -d "$d" ] || refuse "the install folder $d is not there"
[ -f "$d/conf/installed.version" ] || refuse "$d has no conf/installed.version: it does not look like a UCD install, so nothing in it was removed"
find "$d" -mindepth 1 -maxdepth 1 ! -name var -exec rm -rf -- {} + || refuse "could not remove the upgraded files in $d"
if [ -d "$d/var" ]; then find "$d/var" -mindepth 1 -maxdepth 1 ! -name log ! -name temp -exec rm -rf -- {} + || refuse "could not remove $d/var's upgraded files"; fi
tar -xzpf "$f" -C "$d" || refuse "extracting $f into $d failed: the install is incomplete; extract it by hand"
echo "version=$(sed -n 's/^installed.version=//p' "$d/conf/installed.version")"
echo END`;
}

/** The shared appdata's conf and patches put back as archived (the parts the archive holds). */
export function restoreAppdataScript(appdata: string, archive: string, sha256: string): ShellScript {
  return sh`${STAGE_GUARD}echo ${MARK}
${verifiedArchive(archive, sha256)}a=${appdata}
[ -d "$a" ] || refuse "the shared appdata folder $a is not there"
for x in ${APPDATA_PARTS}; do rm -rf -- "$a/$x" || refuse "could not remove $a/$x"; done
tar -xzpf "$f" -C "$a" || refuse "extracting $f into $a failed: the appdata is incomplete; extract it by hand"
echo "version=$(sed -n 's/^installed.version=//p' "$a/conf/installed.version" 2>/dev/null)"
echo END`;
}

export function parseRestore(stdout: string): { ok: true; sha256: string; version?: string } | { ok: false; problem: string } {
  const r = kvOf(stdout);
  if (!r.ok) return r;
  const sha256 = r.kv.get('sha256') ?? '';
  const version = r.kv.get('version');
  return { ok: true, sha256, ...(version ? { version } : {}) };
}

// --- step 1's part ----------------------------------------------------------------------------

export interface FileBackupDeps {
  transportFor(node: ClusterNode): Promise<Transport>;
}

export type FileBackupResult =
  | { readonly ok: true; readonly archives: readonly Archive[]; readonly evidence: readonly string[]; readonly notes: readonly string[] }
  | { readonly ok: false; readonly evidence: readonly string[]; readonly hint: string };

type Prepared = { node: ClusterNode; t: Transport; folder: string; appdata?: string; neededKb: number };

/** Measures every node in parallel; refuses (writing nothing anywhere) when one has no room. */
export async function prepareFileBackup(ctx: ActionContext, deps: FileBackupDeps, stamp: BackupStamp): Promise<{ ok: true; prepared: Prepared[] } | { ok: false; evidence: string[]; hint: string }> {
  const results = await Promise.all(ctx.cluster.nodes.map(async (node): Promise<Prepared | { reason: string; hint: string }> => {
    const appdata = node.name === ctx.cluster.firstNode ? ctx.cluster.sharedAppdata : undefined;
    try {
      if (node.os === 'windows') return { reason: `${node.name}: the filesystem backup supports Linux nodes only`, hint: 'Back up the install and the shared appdata by hand, then Confirm Manually step 1 with a note saying where.' };
      const t = await deps.transportFor(node);
      const r = await loggedExec(t, measureScript(node, appdata, backupRunName(ctx.cluster, stamp)).text, ctx.log, { describe: `measure ${node.installDir}${appdata ? ` and ${appdata}` : ''} and the free space for the filesystem backup`, timeoutMs: 10 * 60_000, signal: ctx.signal });
      const m = parseMeasure(r.stdout);
      if (!m.ok) return { reason: `${node.name}: the filesystem backup could not start: ${m.problem}`, hint: 'Fix what the message names on the node, then run step 1 again.' };
      const base = `${m.measured.home}/${BACKUP_ROOT}`;
      const space = spaceVerdict(node.name, base, m.measured);
      if (!space.ok) return space;
      return { node, t, folder: `${base}/${m.measured.run}`, ...(appdata ? { appdata } : {}), neededKb: space.neededKb };
    } catch (e) {
      return { reason: `${node.name}: the filesystem backup could not start: ${(e as Error).message}`, hint: 'Check the node is reachable, then run step 1 again.' };
    }
  }));
  const refused = results.filter((x): x is { reason: string; hint: string } => 'reason' in x);
  if (refused.length) return { ok: false, evidence: refused.map((x) => x.reason), hint: refused[0]!.hint };
  return { ok: true, prepared: results as Prepared[] };
}

/** Archives on every node in parallel, each measured (size, sha256) where it lies. */
export async function makeFileBackup(ctx: ActionContext, prepared: readonly Prepared[]): Promise<FileBackupResult> {
  const done = await Promise.all(prepared.map(async (p) => {
    try {
      const r = await loggedExec(p.t, archiveScript({ node: p.node, folder: p.folder, ...(p.appdata ? { appdata: p.appdata } : {}) }).text, ctx.log, { describe: `archive ${p.node.installDir}${p.appdata ? ` and ${p.appdata}'s conf and patches` : ''} into ${p.folder}`, timeoutMs: 60 * 60_000, signal: ctx.signal });
      const parsed = parseArchive(p.node.name, r.stdout);
      return parsed.ok ? parsed : { ok: false as const, problem: `${p.node.name}: ${parsed.problem}` };
    } catch (e) {
      return { ok: false as const, problem: `${p.node.name}: ${(e as Error).message}` };
    }
  }));
  const failed = done.flatMap((d) => (d.ok ? [] : [d.problem]));
  if (failed.length) return { ok: false, evidence: failed.map((f) => `filesystem backup failed: ${f}`), hint: 'Fix what the message names on the node, then run step 1 again (a new run writes a new folder).' };
  const archives = done.flatMap((d) => (d.ok ? d.archives : []));
  return { ok: true, archives, evidence: archives.map(describeArchive), notes: done.flatMap((d) => (d.ok ? d.notes : [])) };
}
