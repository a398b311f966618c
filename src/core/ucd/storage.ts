// The network-storage step for upgrades that start below 6.1.1.5: before that version each install
// kept these files itself (or linked them to the share); from it on the server reads them from the
// shared application-data folder. A probe lists where each one is, a pure planner says exactly what
// must move where, and a script moves what the user confirmed — never overwriting anything.
//
// Where each path goes: to the SAME relative path under appdata (install/var/plugins →
// appdata/var/plugins, install/conf/server.keystore → appdata/conf/server.keystore). Source:
// UrbanCode/Deploy-docs, the HA "Setting up clusters of servers" topic, which lists these ten paths
// for a server "upgraded from a version prior to 6.1.1.5" and says to verify that the appdata folder
// then holds /media/share/appdata/var/plugins, .../conf/server/log4j.properties, and so on — the
// install-relative path, unchanged. The same topic describes the older HA setups as links from the
// install to the share, which is why links are reported rather than moved.
import * as path from 'node:path';
import { sh, shLines, type ShellScript } from '../remote/quote';

export interface SharedPath {
  /** Relative to the install dir and, identically, to the appdata dir. */
  readonly rel: string;
  readonly kind: 'dir' | 'file';
}

export const PRE_6115_SHARED_PATHS: readonly SharedPath[] = [
  { rel: 'var/plugins', kind: 'dir' },
  { rel: 'var/repository', kind: 'dir' },
  { rel: 'var/sa', kind: 'dir' },
  { rel: 'logs', kind: 'dir' },
  { rel: 'patches', kind: 'dir' },
  { rel: 'conf/server/notification-templates', kind: 'dir' },
  { rel: 'conf/server/log4j.properties', kind: 'file' },
  { rel: 'conf/encryption.keystore', kind: 'file' },
  { rel: 'conf/server.keystore', kind: 'file' },
  { rel: 'conf/collectors', kind: 'dir' },
];

/** The appdata-relative path an install-relative path moves to (identity; see the file comment). */
export function appdataRelFor(rel: string): string {
  return rel;
}

const MARK = 'UCD-STORAGE-PROBE 1';

/**
 * Lists, for one node, each shared path in the install and in appdata: type, size (bytes; for a
 * directory du's KiB × 1024) and, for a link, its target. Tab-separated; the values that come
 * from the cluster file are only ever inside quotes.
 */
export function storageProbeScript(installDir: string, appdataDir: string): ShellScript {
  const rels = PRE_6115_SHARED_PATHS.map((p) => p.rel);
  return sh`install=${installDir}
appdata=${appdataDir}
echo ${MARK}
root() { if [ -d "$2" ]; then printf 'ROOT\\t%s\\tdir\\n' "$1"; elif [ -e "$2" ]; then printf 'ROOT\\t%s\\tnotdir\\n' "$1"; else printf 'ROOT\\t%s\\tmissing\\n' "$1"; fi; }
root install "$install"
root appdata "$appdata"
entry() {
  p="$2/$3"
  if [ -L "$p" ]; then printf 'ENTRY\\t%s\\t%s\\tlink\\t0\\t%s\\n' "$1" "$3" "$(readlink "$p")"
  elif [ -d "$p" ]; then printf 'ENTRY\\t%s\\t%s\\tdir\\t%s\\t\\n' "$1" "$3" "$(du -sk "$p" 2>/dev/null | cut -f1)"
  elif [ -f "$p" ]; then printf 'ENTRY\\t%s\\t%s\\tfile\\t%s\\t\\n' "$1" "$3" "$(wc -c < "$p" | tr -d ' ')"
  elif [ -e "$p" ]; then printf 'ENTRY\\t%s\\t%s\\tother\\t0\\t\\n' "$1" "$3"
  else printf 'ENTRY\\t%s\\t%s\\tmissing\\t0\\t\\n' "$1" "$3"; fi
}
for rel in ${rels}; do
  entry install "$install" "$rel"
  entry appdata "$appdata" "$rel"
done
echo END`;
}

export type EntryType = 'missing' | 'file' | 'dir' | 'link' | 'other';
export type RootState = 'dir' | 'notdir' | 'missing';

export interface StorageEntry {
  readonly type: EntryType;
  readonly sizeBytes: number;
  /** For a link: its target as written (may be relative to the link's folder). */
  readonly linkTarget?: string;
}

export interface StorageProbe {
  readonly installRoot: RootState;
  readonly appdataRoot: RootState;
  /** By rel: where the path is in the install and in appdata. */
  readonly entries: ReadonlyMap<string, { readonly install: StorageEntry; readonly appdata: StorageEntry }>;
}

export type StorageProbeParse = { readonly ok: true; readonly probe: StorageProbe } | { readonly ok: false; readonly problem: string };

const TYPES: ReadonlySet<string> = new Set(['missing', 'file', 'dir', 'link', 'other']);

export function parseStorageProbe(stdout: string): StorageProbeParse {
  const lines = stdout.split('\n');
  const start = lines.indexOf(MARK);
  if (start < 0) return { ok: false, problem: 'the storage probe printed nothing recognisable' };
  const end = lines.indexOf('END', start);
  if (end < 0) return { ok: false, problem: 'the storage probe output was cut short' };
  const roots = new Map<string, RootState>();
  const found = new Map<string, { install?: StorageEntry; appdata?: StorageEntry }>();
  for (const line of lines.slice(start + 1, end)) {
    const f = line.split('\t');
    if (f[0] === 'ROOT' && (f[1] === 'install' || f[1] === 'appdata') && (f[2] === 'dir' || f[2] === 'notdir' || f[2] === 'missing')) {
      roots.set(f[1], f[2]);
    } else if (f[0] === 'ENTRY' && f.length >= 6 && (f[1] === 'install' || f[1] === 'appdata') && TYPES.has(f[3])) {
      const type = f[3] as EntryType;
      const n = Number(f[4]);
      const size = Number.isFinite(n) ? (type === 'dir' ? n * 1024 : n) : 0;
      const linkTarget = f.slice(5).join('\t');
      const e: StorageEntry = { type, sizeBytes: size, ...(type === 'link' ? { linkTarget } : {}) };
      const slot = found.get(f[2]) ?? {};
      slot[f[1]] = e;
      found.set(f[2], slot);
    } else if (line.trim() !== '') {
      return { ok: false, problem: `unexpected line in the storage probe: ${line.slice(0, 120)}` };
    }
  }
  const installRoot = roots.get('install');
  const appdataRoot = roots.get('appdata');
  if (!installRoot || !appdataRoot) return { ok: false, problem: 'the storage probe did not report both folders' };
  const entries = new Map<string, { install: StorageEntry; appdata: StorageEntry }>();
  for (const { rel } of PRE_6115_SHARED_PATHS) {
    const e = found.get(rel);
    if (!e?.install || !e.appdata) return { ok: false, problem: `the storage probe did not report ${rel}` };
    entries.set(rel, { install: e.install, appdata: e.appdata });
  }
  return { ok: true, probe: { installRoot, appdataRoot, entries } };
}

export interface StorageMove {
  readonly node: string;
  readonly rel: string;
  /** Absolute paths on the node. */
  readonly from: string;
  readonly to: string;
  readonly type: 'file' | 'dir' | 'other';
  readonly sizeBytes: number;
}

export type ConflictKind =
  /** In both places: which copy is right is a person's call; nothing is overwritten. */
  | 'both'
  /** The install holds a link to somewhere that is not the appdata path. */
  | 'link-elsewhere'
  /** Another node's copy is already planned to move there. */
  | 'duplicate';

export interface StorageConflict {
  readonly node: string;
  readonly rel: string;
  readonly kind: ConflictKind;
  readonly install: string;
  readonly appdata: string;
  /** A full sentence saying what was found and what to decide. */
  readonly message: string;
}

export interface StorageSettled {
  readonly node: string;
  readonly rel: string;
  readonly why: 'in-appdata' | 'linked-to-appdata' | 'absent';
}

export interface StoragePlan {
  readonly moves: readonly StorageMove[];
  readonly conflicts: readonly StorageConflict[];
  readonly settled: readonly StorageSettled[];
  /** Blocking problems with the folders themselves (appdata missing, install not a folder). */
  readonly problems: readonly string[];
  readonly nothingToDo: boolean;
}

export interface NodeStorageProbe {
  readonly node: string;
  readonly installDir: string;
  readonly probe: StorageProbe;
}

function describeSize(e: StorageEntry): string {
  if (e.type === 'link') return `link → ${e.linkTarget ?? ''}`;
  const b = e.sizeBytes;
  const size = b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(1)} GiB` : b >= 1024 ** 2 ? `${(b / 1024 ** 2).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} bytes`;
  return `${e.type}, ${size}`;
}

/**
 * The plan for the whole cluster (nodes in the order given; put the first node first). The shared
 * folder is one folder: when several installs hold the same path and appdata does not, the first
 * node's copy moves and the others are reported for a person to compare and remove.
 */
export function planStorage(nodes: readonly NodeStorageProbe[], appdataDir: string): StoragePlan {
  const moves: StorageMove[] = [];
  const conflicts: StorageConflict[] = [];
  const settled: StorageSettled[] = [];
  const problems: string[] = [];
  const claimed = new Map<string, string>();
  for (const { node, installDir, probe } of nodes) {
    if (probe.installRoot !== 'dir') problems.push(`${node}: the install folder ${installDir} ${probe.installRoot === 'missing' ? 'does not exist' : 'is not a folder'} — check installDir in the cluster file.`);
    if (probe.appdataRoot !== 'dir') problems.push(`${node}: the shared appdata folder ${appdataDir} ${probe.appdataRoot === 'missing' ? 'does not exist (is the network storage mounted?)' : 'is not a folder'} — mount or create it on every node first.`);
    if (probe.installRoot !== 'dir' || probe.appdataRoot !== 'dir') continue;
    for (const { rel } of PRE_6115_SHARED_PATHS) {
      const e = probe.entries.get(rel);
      if (!e) continue;
      const from = path.posix.join(installDir, rel);
      const to = path.posix.join(appdataDir, appdataRelFor(rel));
      const { install, appdata } = e;
      if (install.type === 'missing') {
        settled.push({ node, rel, why: appdata.type === 'missing' ? 'absent' : 'in-appdata' });
        continue;
      }
      if (install.type === 'link') {
        const target = path.posix.resolve(path.posix.dirname(from), install.linkTarget ?? '');
        if (path.posix.normalize(target) === path.posix.normalize(to) && appdata.type !== 'missing') {
          settled.push({ node, rel, why: 'linked-to-appdata' });
        } else {
          conflicts.push({ node, rel, kind: 'link-elsewhere', install: from, appdata: to, message: `${node}: ${from} is a link to ${install.linkTarget ?? '?'}, not to ${to}${appdata.type === 'missing' ? ' (which does not exist)' : ''} — move that data to ${to} by hand, or confirm it is not needed.` });
        }
        continue;
      }
      if (appdata.type !== 'missing') {
        conflicts.push({ node, rel, kind: 'both', install: from, appdata: to, message: `${node}: ${rel} exists in the install (${describeSize(install)}) and in appdata (${describeSize(appdata)}) — nothing is overwritten; decide which copy to keep and remove the other by hand.` });
        continue;
      }
      const owner = claimed.get(rel);
      if (owner !== undefined) {
        conflicts.push({ node, rel, kind: 'duplicate', install: from, appdata: to, message: `${node}: ${from} (${describeSize(install)}) would go to ${to}, where ${owner}'s copy is already planned to move — compare the two, then remove this one by hand.` });
        continue;
      }
      claimed.set(rel, node);
      moves.push({ node, rel, from, to, type: install.type === 'dir' ? 'dir' : install.type === 'file' ? 'file' : 'other', sizeBytes: install.sizeBytes });
    }
  }
  return { moves, conflicts, settled, problems, nothingToDo: moves.length === 0 && conflicts.length === 0 && problems.length === 0 };
}

/** One line per move, for the confirmation dialog and the journal. */
export function describeMove(m: StorageMove): string {
  return `${m.node}: ${m.from} → ${m.to} (${describeSize({ type: m.type, sizeBytes: m.sizeBytes })})`;
}

/**
 * Moves the confirmed entries of ONE node. Every source and target is checked before anything
 * moves, and again right before each move; an existing target stops the script (never merge, never
 * overwrite). Prints "MOVED <n>" per move (n = 1-based index in `moves`) and "DONE", or
 * "REFUSED <n> <why>" and exits 3.
 */
export function storageMoveScript(moves: readonly StorageMove[]): ShellScript {
  if (new Set(moves.map((m) => m.node)).size > 1) throw new Error('storageMoveScript: one node per script');
  const checks = moves.map((m, i) => sh`check ${i + 1} ${m.from} ${m.to}`);
  const runs = moves.map((m, i) => sh`move ${i + 1} ${m.from} ${m.to} ${path.posix.dirname(m.to)}`);
  return shLines(
    sh`fail=0
check() {
  if [ ! -e "$2" ] && [ ! -L "$2" ]; then printf 'REFUSED %s source-missing\\n' "$1"; fail=1; fi
  if [ -e "$3" ] || [ -L "$3" ]; then printf 'REFUSED %s target-exists\\n' "$1"; fail=1; fi
}
move() {
  if [ -e "$3" ] || [ -L "$3" ]; then printf 'REFUSED %s target-exists\\n' "$1"; exit 3; fi
  mkdir -p -- "$4" || { printf 'FAILED %s mkdir\\n' "$1"; exit 4; }
  mv -- "$2" "$3" || { printf 'FAILED %s mv\\n' "$1"; exit 4; }
  printf 'MOVED %s\\n' "$1"
}`,
    ...checks,
    sh`[ "$fail" -eq 0 ] || exit 3`,
    ...runs,
    sh`echo DONE`,
  );
}

export interface MoveResult {
  readonly moved: readonly StorageMove[];
  readonly refused: readonly { readonly move: StorageMove; readonly why: 'source-missing' | 'target-exists' }[];
  readonly failed?: { readonly move: StorageMove; readonly at: 'mkdir' | 'mv' };
  readonly done: boolean;
}

export function parseMoveOutput(stdout: string, moves: readonly StorageMove[]): MoveResult {
  const moved: StorageMove[] = [];
  const refused: { move: StorageMove; why: 'source-missing' | 'target-exists' }[] = [];
  let failed: { move: StorageMove; at: 'mkdir' | 'mv' } | undefined;
  let done = false;
  for (const line of stdout.split('\n')) {
    const m = /^(MOVED|REFUSED|FAILED) (\d+)(?: (\S+))?$/.exec(line.trim());
    if (line.trim() === 'DONE') done = true;
    if (!m) continue;
    const move = moves[Number(m[2]) - 1];
    if (!move) continue;
    if (m[1] === 'MOVED') moved.push(move);
    else if (m[1] === 'REFUSED' && (m[3] === 'source-missing' || m[3] === 'target-exists')) refused.push({ move, why: m[3] });
    else if (m[1] === 'FAILED' && (m[3] === 'mkdir' || m[3] === 'mv')) failed = { move, at: m[3] };
  }
  return { moved, refused, ...(failed ? { failed } : {}), done };
}

/** The storage step's check, from a fresh plan: done only when nothing is left to move or decide. */
export function storageVerdict(plan: StoragePlan): { readonly verdict: 'passed' | 'failed'; readonly evidence: readonly string[]; readonly hint?: string } {
  if (plan.nothingToDo) {
    const linked = plan.settled.filter((s) => s.why === 'linked-to-appdata').length;
    const inAppdata = plan.settled.filter((s) => s.why === 'in-appdata').length;
    return { verdict: 'passed', evidence: [`shared appdata layout complete: ${inAppdata} path(s) in appdata, ${linked} linked from an install, none left behind`] };
  }
  const evidence = [...plan.problems, ...plan.moves.map((m) => `to move: ${describeMove(m)}`), ...plan.conflicts.map((c) => c.message)];
  const hint = plan.problems.length
    ? 'Fix the folders named above first, then check again.'
    : plan.moves.length
      ? 'Run the step to move these paths (after confirming), then decide the conflicts, if any.'
      : 'Decide each conflict by hand (keep one copy), then check again.';
  return { verdict: 'failed', evidence, hint };
}
