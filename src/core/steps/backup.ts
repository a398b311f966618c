// Step 1: back up the database with the vendor's tool, where the cluster file says (this machine
// or a named node), then prove the artifact: there, new, not empty, with its checksum recorded.
import type { ClusterNode } from '../cluster/types';
import type { ActionContext, StepHandlers } from '../runbook/actions';
import { RemoteError, type Transport } from '../remote/transport';
import { backupProbeScript, evaluateBackup, parseBackupProbe } from './backup-verify';
import { loggedExec } from './loggedExec';

export interface BackupDeps {
  local(): Transport;
  transportFor(node: ClusterNode): Promise<Transport>;
  /** The backup may take long on a big database; default two hours. */
  readonly timeoutMs?: number;
}

const TARGET = { step: 'backup' } as const;

async function where(ctx: ActionContext, deps: BackupDeps): Promise<Transport> {
  const on = ctx.cluster.database.backup.runOn;
  if (on.kind === 'local') return deps.local();
  const node = ctx.cluster.nodes.find((n) => n.name === on.node);
  if (!node) throw new Error(`backup node ${on.node} is not in the cluster`);
  return deps.transportFor(node);
}

async function verify(ctx: ActionContext, t: Transport, id: string, kind: 'run' | 'check', notBeforeMs: number): Promise<void> {
  const artifact = ctx.cluster.database.backup.artifact;
  const r = await loggedExec(t, backupProbeScript(artifact).text, ctx.log, { describe: `inspect ${artifact}`, timeoutMs: 10 * 60_000, signal: ctx.signal });
  const parsed = parseBackupProbe(r.stdout);
  if (!parsed.ok) {
    ctx.session.finish(id, TARGET, kind, 'failed', [`could not inspect ${artifact}: ${parsed.problem}`], 'Check the backup file by hand, then Confirm Manually with a note.');
    return;
  }
  const v = evaluateBackup(parsed.probe, { artifact, where: t.label, notBeforeMs, localNowMs: Date.now() });
  if (v.verdict === 'failed') {
    ctx.log.error(`[${t.label}] ${v.reason}`);
    ctx.session.finish(id, TARGET, kind, 'failed', v.evidence, v.hint);
    return;
  }
  ctx.log.info(`[${t.label}] backup verified: ${v.evidence.join(', ')}`);
  ctx.session.finish(id, TARGET, kind, v.verdict, v.evidence, v.hint);
}

function failed(ctx: ActionContext, id: string, kind: 'run' | 'check', e: unknown): void {
  const hint = e instanceof RemoteError ? e.hint : 'Read the log, fix the cause and run the step again.';
  ctx.log.error(`backup: ${(e as Error).message}`);
  ctx.session.finish(id, TARGET, kind, 'failed', [(e as Error).message], hint);
}

/** When this upgrade run began: a backup older than that is not a backup of this upgrade. */
function runStartMs(ctx: ActionContext): number {
  const opened = ctx.session.journal.events.find((e) => e.type === 'run-opened');
  return opened ? Date.parse(opened.ts) : 0;
}

export function backupHandlers(deps: BackupDeps): StepHandlers {
  return {
    run: async (ctx) => {
      const id = ctx.session.begin(TARGET, 'run');
      const startedMs = Date.now();
      try {
        const t = await where(ctx, deps);
        const r = await loggedExec(t, ctx.cluster.database.backup.command, ctx.log, { timeoutMs: deps.timeoutMs ?? 2 * 3_600_000, signal: ctx.signal });
        if (r.code !== 0) {
          const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
          ctx.session.finish(id, TARGET, 'run', 'failed', [`backup command exited ${r.code ?? r.signal}${tail ? `: ${tail}` : ''}`], 'Read the output in the log, fix the command or its option file, and run again.');
          return;
        }
        await verify(ctx, t, id, 'run', startedMs);
      } catch (e) {
        failed(ctx, id, 'run', e);
      }
    },
    check: async (ctx) => {
      const id = ctx.session.begin(TARGET, 'check');
      try {
        await verify(ctx, await where(ctx, deps), id, 'check', runStartMs(ctx));
      } catch (e) {
        failed(ctx, id, 'check', e);
      }
    },
  };
}
