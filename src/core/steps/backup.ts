// Step 1: back up the database with the vendor's tool, where the cluster file says (this machine
// or a named node), then prove the artifact: there, new, not empty, with its checksum recorded.
// A run never writes over an earlier backup (backup-artifact.ts says how). Beside the dump, each
// node's install and the shared appdata's configuration are archived (backup-files.ts); every
// archive's size and sha256 is recorded, for a rollback to check before it restores.
import type { Rights } from '../remote/privilege';
import { BACKUP_TIMESTAMP, type ClusterNode } from '../cluster/types';
import { finding, type ActionContext, type Finding, type RunAndCheck } from '../runbook/actions';
import { RemoteError, type Transport } from '../remote/transport';
import { asideName, backupStamp, moveAsideScript, newestStampedScript, parseMoveAside, parseNewestStamped, planBackup, type BackupPlan } from './backup-artifact';
import { backupProbeScript, evaluateBackup, parseBackupProbe, type BackupProbe } from './backup-verify';
import { describeArchive, makeFileBackup, prepareFileBackup } from './backup-files';
import { loggedExec } from './loggedExec';

export interface BackupDeps {
  local(): Transport;
  transportFor(node: ClusterNode, rights?: Rights): Promise<Transport>;
  /** The backup may take long on a big database; default two hours. */
  readonly timeoutMs?: number;
  /** The clock that names a run's {timestamp}; tests give two runs their own seconds with it. */
  readonly now?: () => Date;
  /** false: the database only (a test without nodes); the filesystem backup is on otherwise. */
  readonly files?: boolean;
}

const TARGET = { step: 'backup' } as const;

async function where(ctx: ActionContext, deps: BackupDeps): Promise<Transport> {
  const on = ctx.cluster.database.backup.runOn;
  if (on.kind === 'local') return deps.local();
  const node = ctx.cluster.nodes.find((n) => n.name === on.node);
  if (!node) throw new Error(`backup node ${on.node} is not in the cluster`);
  return deps.transportFor(node);
}

async function probe(ctx: ActionContext, t: Transport, artifact: string): Promise<{ ok: true; probe: BackupProbe } | { ok: false; problem: string }> {
  const r = await loggedExec(t, backupProbeScript(artifact).text, ctx.log, { describe: `inspect ${artifact}`, timeoutMs: 10 * 60_000, signal: ctx.signal });
  return parseBackupProbe(r.stdout);
}

type Judged =
  | { readonly verdict: 'failed'; readonly evidence: readonly string[]; readonly hint: string }
  | { readonly verdict: 'passed' | 'warning'; readonly evidence: readonly string[]; readonly hint?: string; readonly sha256?: string; readonly size: number };

async function judge(ctx: ActionContext, t: Transport, artifact: string, notBeforeMs: number): Promise<Judged> {
  const parsed = await probe(ctx, t, artifact);
  if (!parsed.ok) return { verdict: 'failed', evidence: [`could not inspect ${artifact}: ${parsed.problem}`], hint: 'Check the backup file by hand, then Confirm Manually with a note.' };
  const v = evaluateBackup(parsed.probe, { artifact, where: t.label, notBeforeMs, localNowMs: Date.now() });
  if (v.verdict === 'failed') {
    ctx.log.error(`[${t.label}] ${v.reason}`);
    return v;
  }
  ctx.log.info(`[${t.label}] backup verified: ${v.evidence.join(', ')}`);
  return { verdict: v.verdict, evidence: v.evidence, size: v.size, ...(v.hint ? { hint: v.hint } : {}), ...(v.sha256 ? { sha256: v.sha256 } : {}) };
}

/** The dump as Roll back will find it: recorded only with its full checksum. */
function recordDump(ctx: ActionContext, id: string, t: Transport, artifact: string, j: Judged): void {
  if (j.verdict !== 'failed' && j.sha256) ctx.session.recordBackupArchive({ id, what: 'database', where: t.label, path: artifact, size: j.size, sha256: j.sha256 });
}

async function verify(ctx: ActionContext, t: Transport, id: string, artifact: string, notBeforeMs: number, kept: readonly string[] = []): Promise<Finding> {
  const j = await judge(ctx, t, artifact, notBeforeMs);
  recordDump(ctx, id, t, artifact, j);
  return finding(j.verdict, [...j.evidence, ...kept], j.hint);
}

type Clearance = { readonly ok: true; readonly kept: readonly string[] } | { readonly ok: false; readonly evidence: readonly string[]; readonly hint: string };

/**
 * Makes sure the command cannot write over an earlier backup: the run's own stamped file must not
 * exist yet; a file at a fixed artifact path is moved aside to a name stamped with its own time.
 */
async function clearTheWay(ctx: ActionContext, t: Transport, plan: BackupPlan): Promise<Clearance> {
  const at = t.label === 'local' ? 'on this machine' : `on ${t.label}`;
  const found = await probe(ctx, t, plan.artifact);
  if (!found.ok) return { ok: false, evidence: [`could not inspect ${plan.artifact} before the backup: ${found.problem}`], hint: 'Check the backup folder by hand; the backup did not run.' };
  const p = found.probe;
  if (p.type === 'missing') return { ok: true, kept: [] };
  if (p.type !== 'file') {
    return { ok: false, evidence: [`${plan.artifact} ${at} is a ${p.type === 'dir' ? 'directory' : 'special file'}; the backup did not run`], hint: 'Point database.backup.artifact at the dump file itself, then run again.' };
  }
  if (plan.stamped) {
    return { ok: false, evidence: [`${plan.artifact} ${at} exists already (${p.size} bytes); it is never written over, so the backup did not run`], hint: 'Run the step again in a second: the next run gets the next time stamp.' };
  }
  const aside = asideName(plan.artifact, backupStamp(new Date(p.mtimeSec * 1000)));
  const r = await loggedExec(t, moveAsideScript(plan.artifact, aside).text, ctx.log, { describe: `move the earlier backup ${plan.artifact} to ${aside}`, timeoutMs: 60_000, signal: ctx.signal });
  const moved = parseMoveAside(r.stdout);
  const was = `${p.size} bytes, sha256:${p.sha256 ? p.sha256.slice(0, 12) : 'unavailable'}, modified ${new Date(p.mtimeSec * 1000).toISOString()}`;
  if (moved !== 'moved') {
    const why = moved === 'exists' ? `${aside} exists already` : `the move failed${r.stdout.trim() ? `: ${r.stdout.trim().split('\n')[0]}` : ''}`;
    return { ok: false, evidence: [`the earlier backup ${plan.artifact} ${at} (${was}) could not be moved aside to ${aside}: ${why}; the backup did not run, so it was not written over`], hint: `Move or rename ${plan.artifact} by hand (keep it: it is an earlier backup), or put ${BACKUP_TIMESTAMP} in the backup command and artifact, then run again.` };
  }
  ctx.log.info(`[${t.label}] earlier backup kept: ${plan.artifact} moved to ${aside} (${was})`);
  return { ok: true, kept: [`earlier backup kept as ${aside} (${was})`] };
}

/** The file Check judges: the fixed artifact, or the newest stamped one. */
async function checkedArtifact(ctx: ActionContext, t: Transport): Promise<string | { problem: string }> {
  const pattern = ctx.cluster.database.backup.artifact;
  if (!pattern.includes(BACKUP_TIMESTAMP)) return pattern;
  const r = await loggedExec(t, newestStampedScript(pattern).text, ctx.log, { describe: `find the newest ${pattern}`, timeoutMs: 60_000, signal: ctx.signal });
  const found = parseNewestStamped(r.stdout);
  if (!found.ok) return { problem: found.problem };
  return found.path ?? pattern;
}

function failed(ctx: ActionContext, e: unknown): Finding {
  const hint = e instanceof RemoteError ? e.hint : 'Read the log, fix the cause and run the step again.';
  ctx.log.error(`backup: ${(e as Error).message}`);
  return { verdict: 'failed', evidence: [(e as Error).message], hint };
}

/** When this upgrade run began: a backup older than that is not a backup of this upgrade. */
function runStartMs(ctx: ActionContext): number {
  const opened = ctx.session.journal.events.find((e) => e.type === 'run-opened');
  return opened ? Date.parse(opened.ts) : 0;
}

export function backupHandlers(deps: BackupDeps): RunAndCheck {
  return {
    run: async (ctx) => void (await ctx.act(TARGET, 'run', async ({ id }) => {
      const startedMs = Date.now();
      try {
        const t = await where(ctx, deps);
        const stamp = backupStamp(deps.now?.() ?? new Date(startedMs));
        const plan = planBackup(ctx.cluster.database.backup, stamp);
        // Room on every node first: a dump followed by a refusal would be half a backup.
        // The install belongs to its owner (conf/ holds its private keys): archived as that user, into its home.
        const files = deps.files === false ? undefined : await prepareFileBackup(ctx, { transportFor: (n) => deps.transportFor(n, 'owner') }, stamp);
        if (files && !files.ok) {
          for (const e of files.evidence) ctx.log.error(e);
          return finding('failed', files.evidence, files.hint);
        }
        const way = await clearTheWay(ctx, t, plan);
        if (!way.ok) {
          ctx.log.error(`[${t.label}] ${way.evidence.join('; ')}`);
          return finding('failed', way.evidence, way.hint);
        }
        const r = await loggedExec(t, plan.command, ctx.log, { timeoutMs: deps.timeoutMs ?? 2 * 3_600_000, signal: ctx.signal });
        if (r.code !== 0) {
          const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
          return finding('failed', [`backup command exited ${r.code ?? r.signal}${tail ? `: ${tail}` : ''}`, ...way.kept], 'Read the output in the log, fix the command or its option file, and run again.');
        }
        const db = await judge(ctx, t, plan.artifact, startedMs);
        recordDump(ctx, id, t, plan.artifact, db);
        if (db.verdict === 'failed' || !files) {
          return finding(db.verdict, [...db.evidence, ...way.kept], db.hint);
        }
        const made = await makeFileBackup(ctx, files.prepared);
        if (!made.ok) {
          for (const e of made.evidence) ctx.log.error(e);
          return finding('failed', [...db.evidence, ...way.kept, ...made.evidence], made.hint);
        }
        for (const a of made.archives) ctx.session.recordBackupArchive({ id, what: a.what, where: a.node, path: a.path, size: a.size, sha256: a.sha256 });
        for (const a of made.archives) ctx.log.info(`[${a.node}] filesystem backup: ${describeArchive(a)}`);
        const verdict = db.verdict === 'warning' || made.notes.length ? 'warning' : 'passed';
        const hint = db.hint ?? (made.notes.length ? 'A file changed while it was archived; the server was running. The archive holds everything else; look at the note.' : undefined);
        return finding(verdict, [...db.evidence, ...way.kept, ...made.evidence, ...made.notes], hint);
      } catch (e) {
        return failed(ctx, e);
      }
    })),
    check: async (ctx) => void (await ctx.act(TARGET, 'check', async ({ id }) => {
      try {
        const t = await where(ctx, deps);
        const artifact = await checkedArtifact(ctx, t);
        if (typeof artifact !== 'string') {
          return finding('failed', [`could not look for the backup: ${artifact.problem}`], 'Check the backup folder by hand, then Confirm Manually with a note.');
        }
        return await verify(ctx, t, id, artifact, runStartMs(ctx));
      } catch (e) {
        return failed(ctx, e);
      }
    })),
  };
}
