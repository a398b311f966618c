// Which file a backup run writes, and the rule that it never writes over an earlier backup: with
// `{timestamp}` in the command and artifact each run gets its own file; without it, a file already
// at the artifact path is moved aside to a time-stamped name before the command runs.
import { BACKUP_TIMESTAMP, type DatabaseBackup } from '../cluster/types';
import { sh, shQuote, trustedShell, type ShellScript } from '../remote/quote';

/** UTC `YYYYMMDDTHHMMSSZ`: sorts as it ages, and means the same bare, in '…' or in "…". */
export type BackupStamp = string & { readonly __brand: 'BackupStamp' };

const STAMP = /^\d{8}T\d{6}Z$/;
const STAMP_GLOB = '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z';

export function backupStamp(at: Date): BackupStamp {
  const s = at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  if (!STAMP.test(s)) throw new Error(`not a backup time stamp: ${s}`);
  return s as BackupStamp;
}

/** What one run executes and where its file lands. */
export interface BackupPlan {
  readonly command: string;
  readonly artifact: string;
  /** Each run names its own file (the placeholder is used). */
  readonly stamped: boolean;
}

export function planBackup(backup: Pick<DatabaseBackup, 'command' | 'artifact'>, stamp: BackupStamp): BackupPlan {
  const stamped = backup.artifact.includes(BACKUP_TIMESTAMP);
  // The stamp is digits, T and Z only (checked when minted), so it needs no quoting wherever the
  // user put the placeholder in the command: bare, inside '…' or inside "…".
  const put = (text: string): string => text.split(BACKUP_TIMESTAMP).join(stamp);
  return { command: put(backup.command), artifact: put(backup.artifact), stamped };
}

/** `/b/ucd.sql` → `/b/ucd.20261201T101500Z.sql` (a compression suffix stays last: `.sql.gz`). */
export function asideName(artifact: string, stamp: BackupStamp): string {
  const slash = artifact.lastIndexOf('/');
  const dir = artifact.slice(0, slash + 1);
  const base = artifact.slice(slash + 1);
  const ext = /(\.[A-Za-z0-9]{1,8})?(\.(gz|bz2|xz|zst|lz4|zip|z))?$/i.exec(base.replace(/^\.+/, ''))?.[0] ?? '';
  const stem = ext && ext.length < base.length ? base.slice(0, base.length - ext.length) : base;
  return `${dir}${stem}.${stamp}${stem === base ? '' : ext}`;
}

const MOVE_MARK = 'UCD-BACKUP-MOVE';

/**
 * Moves the earlier backup to `aside`, never over anything: a file already there stops the move.
 * Prints one verdict line: moved, exists or failed.
 */
export function moveAsideScript(artifact: string, aside: string): ShellScript {
  return sh`p=${artifact}; n=${aside}
if [ -e "$n" ] || [ -L "$n" ]; then echo ${MOVE_MARK} exists; exit 0; fi
mv -n -- "$p" "$n" 2>&1
if [ -e "$p" ] || [ ! -f "$n" ]; then echo ${MOVE_MARK} failed; exit 0; fi
echo ${MOVE_MARK} moved`;
}

export type MoveResult = 'moved' | 'exists' | 'failed' | 'unknown';

export function parseMoveAside(stdout: string): MoveResult {
  const m = new RegExp(`^${MOVE_MARK} (moved|exists|failed)$`, 'm').exec(stdout);
  return (m?.[1] as MoveResult | undefined) ?? 'unknown';
}

const NEWEST_MARK = 'UCD-BACKUP-NEWEST';

/** Prints the newest file the stamped artifact pattern names (stamps sort by time), or nothing. */
export function newestStampedScript(artifactPattern: string): ShellScript {
  // Every literal part is quoted; only the fixed stamp glob between them is left to the shell.
  const glob = trustedShell(artifactPattern.split(BACKUP_TIMESTAMP).map(shQuote).join(STAMP_GLOB));
  return sh`newest=''
for f in ${glob}; do if [ -f "$f" ]; then newest=$f; fi; done
echo ${NEWEST_MARK}
if [ -n "$newest" ]; then printf '%s\\n' "$newest"; fi
echo END`;
}

/** The path, undefined when none exists, or a problem when the output is not the script's. */
export function parseNewestStamped(stdout: string): { readonly ok: true; readonly path?: string } | { readonly ok: false; readonly problem: string } {
  const lines = stdout.split(/\r?\n/);
  const start = lines.indexOf(NEWEST_MARK);
  if (start < 0 || !lines.slice(start).includes('END')) return { ok: false, problem: 'the search for the newest backup printed nothing recognisable' };
  const found = lines[start + 1];
  return found === undefined || found === 'END' ? { ok: true } : { ok: true, path: found };
}
