// Proof that the database backup is real: the artifact exists, is a non-empty regular file, was
// written after the backup step started, and has a checksum to record. A probe script (POSIX sh,
// Linux or macOS, where the backup ran) plus a pure parser and judgement.
import { sh, type ShellScript } from '../remote/quote';

const MARK = 'UCD-BACKUP-PROBE 1';

/**
 * Prints the artifact's type, size, mtime (epoch s), sha256 and the machine's clock, one key=value
 * a line. GNU tools first, then the BSD/macOS ones, so a local backup on a Mac is judged too.
 */
export function backupProbeScript(artifact: string): ShellScript {
  return sh`p=${artifact}
echo ${MARK}
echo "now=$(date +%s)"
if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo type=missing; echo END; exit 0; fi
if [ ! -f "$p" ]; then
  if [ -d "$p" ]; then echo type=dir; else echo type=other; fi
  echo END; exit 0
fi
echo type=file
echo "size=$(wc -c < "$p" | tr -d ' ')"
echo "mtime=$(stat -c %Y -- "$p" 2>/dev/null || stat -f %m "$p" 2>/dev/null)"
if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum < "$p")
elif command -v shasum >/dev/null 2>&1; then s=$(shasum -a 256 < "$p")
elif command -v openssl >/dev/null 2>&1; then s=$(openssl dgst -sha256 < "$p" | sed 's/^.*= *//')
else s=''; fi
echo "sha256=$(printf '%s' "$s" | cut -d' ' -f1)"
echo END`;
}

export type BackupProbe =
  | { readonly type: 'missing'; readonly nowSec?: number }
  | { readonly type: 'dir' | 'other'; readonly nowSec?: number }
  | { readonly type: 'file'; readonly size: number; readonly mtimeSec: number; readonly sha256?: string; readonly nowSec?: number };

export type BackupProbeParse = { readonly ok: true; readonly probe: BackupProbe } | { readonly ok: false; readonly problem: string };

export function parseBackupProbe(stdout: string): BackupProbeParse {
  const lines = stdout.split(/\r?\n/);
  const start = lines.indexOf(MARK);
  if (start < 0) return { ok: false, problem: 'the probe printed nothing recognisable (is /bin/sh there?)' };
  if (!lines.slice(start).includes('END')) return { ok: false, problem: 'the probe output was cut short' };
  const kv = new Map<string, string>();
  for (const l of lines.slice(start + 1)) {
    if (l === 'END') break;
    const eq = l.indexOf('=');
    if (eq > 0) kv.set(l.slice(0, eq), l.slice(eq + 1).trim());
  }
  const int = (k: string): number | undefined => (/^\d+$/.test(kv.get(k) ?? '') ? Number(kv.get(k)) : undefined);
  const nowSec = int('now');
  const now = nowSec !== undefined ? { nowSec } : {};
  const type = kv.get('type');
  if (type === 'missing' || type === 'dir' || type === 'other') return { ok: true, probe: { type, ...now } };
  if (type !== 'file') return { ok: false, problem: `unknown artifact type "${type ?? ''}"` };
  const size = int('size');
  const mtimeSec = int('mtime');
  if (size === undefined) return { ok: false, problem: 'the artifact\'s size could not be read' };
  if (mtimeSec === undefined) return { ok: false, problem: 'the artifact\'s modification time could not be read (no stat?)' };
  const sum = kv.get('sha256') ?? '';
  const sha256 = /^[0-9a-f]{64}$/i.test(sum) ? sum.toLowerCase() : undefined;
  return { ok: true, probe: { type: 'file', size, mtimeSec, ...(sha256 ? { sha256 } : {}), ...now } };
}

export interface BackupCheckInput {
  /** The artifact path as configured (for the evidence). */
  readonly artifact: string;
  /** Where the backup ran, for messages: 'local' or a node name. */
  readonly where: string;
  /** The artifact must be newer than this (epoch ms): the start of the backup step. */
  readonly notBeforeMs: number;
  /** This machine's clock when the probe ran; with the probe's clock it corrects for skew. */
  readonly localNowMs?: number;
}

export type BackupVerdict =
  | { readonly verdict: 'passed' | 'warning'; readonly evidence: readonly string[]; readonly sha256?: string; readonly size: number; readonly mtimeMs: number; readonly reason?: string; readonly hint?: string }
  | { readonly verdict: 'failed'; readonly evidence: readonly string[]; readonly reason: string; readonly hint: string };

/** Clock skew below this is noise and not mentioned. */
const SKEW_NOTE_MS = 5_000;

export function evaluateBackup(probe: BackupProbe, input: BackupCheckInput): BackupVerdict {
  const at = input.where === 'local' ? 'on this machine' : `on ${input.where}`;
  switch (probe.type) {
    case 'missing':
      return { verdict: 'failed', evidence: [`${input.artifact}: not found ${at}`], reason: `The backup file ${input.artifact} does not exist ${at}.`, hint: 'Run the backup again and check its output; the artifact path in the cluster file must be the file the command writes.' };
    case 'dir':
    case 'other':
      return { verdict: 'failed', evidence: [`${input.artifact}: a ${probe.type === 'dir' ? 'directory' : 'special file'} ${at}`], reason: `${input.artifact} ${at} is not a regular file.`, hint: 'Point database.backup.artifact at the dump file itself (for a directory dump, have the command write an archive).' };
    case 'file':
      break;
  }
  // The probe's clock minus ours: a node whose clock runs ahead writes "newer" mtimes.
  const skewMs = probe.nowSec !== undefined && input.localNowMs !== undefined ? probe.nowSec * 1000 - input.localNowMs : 0;
  const mtimeMs = probe.mtimeSec * 1000 - skewMs;
  const modified = new Date(mtimeMs).toISOString();
  const skewNote = Math.abs(skewMs) >= SKEW_NOTE_MS ? [`clock ${at} differs by ${Math.round(skewMs / 1000)} s (corrected)`] : [];
  if (probe.size === 0) {
    return { verdict: 'failed', evidence: [`${input.artifact}, 0 bytes, modified ${modified}`, ...skewNote], reason: `The backup file ${input.artifact} ${at} is empty.`, hint: 'The backup command failed or wrote elsewhere; read its output, fix it and run the backup again.' };
  }
  // mtime has one-second resolution: a file written in the same second as the start counts as new.
  if (mtimeMs + 1000 <= input.notBeforeMs) {
    return { verdict: 'failed', evidence: [`${input.artifact}, ${probe.size} bytes, modified ${modified}`, ...skewNote], reason: `The backup file ${input.artifact} ${at} was last written ${modified}, before this backup started (${new Date(input.notBeforeMs).toISOString()}): it is an old backup.`, hint: 'Run the backup step now; an older dump does not contain the latest data.' };
  }
  const evidence = [`${input.artifact}, ${probe.size} bytes, sha256:${probe.sha256 ? probe.sha256.slice(0, 12) : 'unavailable'}`, `modified ${modified}`, ...skewNote];
  if (!probe.sha256) {
    return { verdict: 'warning', evidence, size: probe.size, mtimeMs, reason: `No sha256 tool ${at}, so the backup's checksum was not recorded.`, hint: 'Install coreutils (sha256sum) or record the checksum by hand in a note.' };
  }
  return { verdict: 'passed', evidence, sha256: probe.sha256, size: probe.size, mtimeMs };
}
