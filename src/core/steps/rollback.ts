// Roll back: the product cannot downgrade, so going back means what ucd-facts.md says — restore
// the database backup and the old install and appdata. Offered once the first installer has
// started. In order, each stage recorded in the journal as it starts and ends, and nothing
// restored unless every stage before it passed: asked first (what is lost since the backup);
// every server stopped and proven stopped by a probe; every archive's sha256 checked against the
// one step 1 recorded; the database restored from the dump (its sha256 checked again in the same
// script); each node's install tree and the shared appdata's conf and patches put back; every
// server started and shown on the old version (login page, installed.version, load balancer).
import { randomUUID } from 'node:crypto';
import type { Cluster, ClusterNode } from '../cluster/types';
import type { JournalEvent, RollbackStage, Verdict } from '../journal/events';
import { sh, trustedShell, type ShellScript } from '../remote/quote';
import type { Transport } from '../remote/transport';
import type { ActionContext, ActionLog } from '../runbook/actions';
import { runPhase } from '../runbook/phase';
import type { RunSession } from '../runbook/session';
import { fetchLoginPage } from '../ucd/loginPage';
import type { TlsTrust } from '../ucd/rest/tls';
import { backupProbeScript, parseBackupProbe } from './backup-verify';
import { describeArchive, parseRestore, restoreAppdataScript, restoreInstallScript, verifyArchiveScript } from './backup-files';
import { loggedExec } from './loggedExec';
import { onlineAt } from './start';
import { probeStopped, type StoppedEvaluation } from './verifyStopped';
import { pause } from './pause';

export interface RollbackDeps {
  transportFor(node: ClusterNode): Promise<Transport>;
  /** This machine, for a database backup that ran locally. */
  local(): Transport;
  readonly trust: TlsTrust;
  /** true only when the person agreed to exactly this; `detail` lists what will be done and what is lost. */
  confirm(question: string, detail: string): Promise<boolean>;
  /** How long a stop may take to show in the probes; default 2 min. */
  readonly settleMs?: number;
  /** How long one server may take to come back; default 10 min. */
  readonly startTimeoutMs?: number;
  /** How long the load balancer may take to answer on the old version; default 1 min. */
  readonly balancerTimeoutMs?: number;
  readonly pollMs?: number;
}

export interface RollbackContext {
  readonly cluster: Cluster;
  readonly session: RunSession;
  readonly log: ActionLog;
  readonly signal: AbortSignal;
}

export type RollbackOutcome =
  /** Nothing was done, for these reasons (recorded). */
  | { readonly kind: 'refused'; readonly reasons: readonly string[] }
  /** The person chose the safe answer: nothing was done (recorded). */
  | { readonly kind: 'declined' }
  /** It ran; the verdict and each stage are in the journal. */
  | { readonly kind: 'done'; readonly verdict: Verdict; readonly evidence: readonly string[] };

interface Recorded {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly where: string;
  readonly at: string;
}

/** The backup a rollback restores: one step-1 run's dump and archives, complete. */
export interface RollbackSource {
  readonly backupId: string;
  readonly at: string;
  readonly dump: Recorded;
  readonly installs: ReadonlyMap<string, Recorded>;
  readonly appdata: Recorded;
}

/**
 * Pure: the newest step-1 run whose dump, every node's install archive and the appdata archive
 * are all recorded; or what is missing from the newest one.
 */
export function rollbackSource(events: readonly JournalEvent[], cluster: Cluster): { ok: true; source: RollbackSource } | { ok: false; reasons: string[] } {
  const byRun = new Map<string, Extract<JournalEvent, { type: 'backup-archive' }>[]>();
  for (const e of events) if (e.type === 'backup-archive') byRun.set(e.id, [...(byRun.get(e.id) ?? []), e]);
  if (byRun.size === 0) return { ok: false, reasons: ['no backup of this run is recorded with its checksums (step 1): there is nothing to restore from'] };
  let missing: string[] = [];
  for (const [id, list] of [...byRun].reverse()) {
    const last = (pick: (e: (typeof list)[number]) => boolean) => list.filter(pick).at(-1);
    const rec = (e: (typeof list)[number]): Recorded => ({ path: e.path, size: e.size, sha256: e.sha256, where: e.where, at: e.ts });
    const dump = last((e) => e.what === 'database');
    const appdata = last((e) => e.what === 'appdata');
    const installs = new Map<string, Recorded>();
    for (const n of cluster.nodes) {
      const i = last((e) => e.what === 'install' && e.where === n.name);
      if (i) installs.set(n.name, rec(i));
    }
    const lacks = [
      ...(dump ? [] : ['the database dump']),
      ...cluster.nodes.filter((n) => !installs.has(n.name)).map((n) => `the install archive of ${n.name}`),
      ...(appdata ? [] : ['the shared appdata archive']),
    ];
    if (!lacks.length && dump && appdata) return { ok: true, source: { backupId: id, at: dump.ts, dump: rec(dump), installs, appdata: rec(appdata) } };
    if (!missing.length) missing = lacks;
  }
  return { ok: false, reasons: [`the newest backup of this run (step 1) is incomplete: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not recorded; run step 1 again before any installer, or restore by hand`] };
}

/** Pure: why Roll back must not start now (the runner records these and does nothing). */
export function rollbackRefusals(cluster: Cluster, events: readonly JournalEvent[]): string[] {
  const reasons: string[] = [];
  if (runPhase(events, cluster).kind === 'preparing') reasons.push('no installer has started in this run: there is nothing to roll back (the servers and the database are on the old version)');
  if (!cluster.database.restore) reasons.push('the cluster file has no database.restore.command: the runbook never guesses how to write to the database; add the command that reads the dump on its standard input');
  if (cluster.nodes.some((n) => n.os === 'windows')) reasons.push('Roll back supports Linux nodes only; restore the Windows nodes by hand');
  const src = rollbackSource(events, cluster);
  if (!src.ok) reasons.push(...src.reasons);
  return reasons;
}

/** The question and what it means, safe answer first in every front end. */
export function rollbackQuestion(cluster: Cluster, source: RollbackSource): { question: string; detail: string } {
  const nodes = cluster.nodes.map((n) => n.name).join(', ');
  return {
    question: `Roll back ${cluster.name} to ${cluster.currentVersion}, from the backup of ${source.at}? Everything done on the servers since then is lost.`,
    detail: [
      `Lost: everything done on the servers since the backup of ${source.at} — deployments, processes, configuration changes, and artifacts and versions added since.`,
      `1. Stop every server (${nodes}) and prove each stopped.`,
      `2. Check the sha256 of the dump and of every archive against step 1's record.`,
      `3. Restore the database from ${source.dump.path} on ${source.dump.where} (${source.dump.size} bytes, sha256:${source.dump.sha256.slice(0, 12)}).`,
      `4. Put back each node's install tree and the shared appdata's conf and patches from the archives.`,
      `5. Start every server on ${cluster.currentVersion} and verify it (login page, installed.version, the load balancer).`,
    ].join('\n'),
  };
}

type StageResult = { readonly ok: boolean; readonly evidence: readonly string[]; readonly hint?: string };

class Rollback {
  private readonly id: string;

  constructor(private readonly ctx: RollbackContext, private readonly deps: RollbackDeps, private readonly source: RollbackSource) {
    this.id = randomUUID();
  }

  record(stage: RollbackStage, verdict: Verdict | 'started', evidence: readonly string[], hint?: string): void {
    this.ctx.session.recordRollback({ id: this.id, stage, verdict, evidence, ...(hint ? { hint } : {}) });
    const line = `[rollback] ${stage} ${verdict}${evidence.length ? `: ${evidence.join('; ')}` : ''}${hint ? ` — ${hint}` : ''}`;
    if (verdict === 'failed') this.ctx.log.error(line);
    else this.ctx.log.info(line);
  }

  /** One stage: recorded as it starts and ends; a throw is the stage's failure, not the caller's. */
  async stage(stage: RollbackStage, what: string, work: () => Promise<StageResult>): Promise<StageResult> {
    this.record(stage, 'started', [what]);
    let r: StageResult;
    try {
      r = this.ctx.signal.aborted ? { ok: false, evidence: ['cancelled before this stage'], hint: 'Nothing of this stage was done; look at the nodes, then Roll back again.' } : await work();
    } catch (e) {
      r = { ok: false, evidence: [(e as Error).message], hint: 'Read the log; look at the nodes and the database before anything else.' };
    }
    this.record(stage, r.ok ? 'passed' : 'failed', r.evidence, r.hint);
    return r;
  }

  private actionCtx(): Pick<ActionContext, 'cluster' | 'session' | 'target' | 'log' | 'signal'> {
    return { cluster: this.ctx.cluster, session: this.ctx.session, target: { step: 'verifyStopped' }, log: this.ctx.log, signal: this.ctx.signal };
  }

  private dumpTransport(): Promise<Transport> {
    const on = this.ctx.cluster.database.backup.runOn;
    if (on.kind === 'local') return Promise.resolve(this.deps.local());
    const node = this.ctx.cluster.nodes.find((n) => n.name === on.node);
    if (!node) throw new Error(`backup node ${on.node} is not in the cluster`);
    return this.deps.transportFor(node);
  }

  /** Each node's stop command where a probe shows it not stopped, then the probe until it is. */
  async stopAll(): Promise<StageResult> {
    const settle = this.deps.settleMs ?? 120_000;
    const results = await Promise.all(this.ctx.cluster.nodes.map(async (node): Promise<StoppedEvaluation> => {
      const ctx = this.actionCtx();
      let e = (await probeStopped(ctx, node, this.deps.transportFor)).evaluation;
      if (e.verdict === 'passed' || e.facts.reachable !== true) return e;
      const t = await this.deps.transportFor(node);
      // The cluster file's service command runs as the user wrote it: that is its purpose.
      await loggedExec(t, trustedShell(node.stopCommand).text, this.ctx.log, { describe: `stop ${node.name} for the rollback`, timeoutMs: 5 * 60_000, signal: this.ctx.signal, stdin: '' });
      const deadline = Date.now() + settle;
      e = (await probeStopped(ctx, node, this.deps.transportFor, {}, false)).evaluation;
      while (e.verdict !== 'passed' && e.facts.reachable === true && Date.now() < deadline && !this.ctx.signal.aborted) {
        await pause(this.deps.pollMs ?? 2_000, this.ctx.signal);
        e = (await probeStopped(ctx, node, this.deps.transportFor, {}, false)).evaluation;
      }
      return e;
    }));
    const bad = results.filter((e) => e.verdict !== 'passed');
    const evidence = results.map((e) => `${e.node}: ${e.verdict === 'passed' ? 'stopped' : 'NOT proven stopped'} (${e.evidence.join(', ')})`);
    if (bad.length) return { ok: false, evidence, hint: `Nothing was restored. Stop ${bad.map((e) => e.node).join(', ')} (step 5's Run names and stops what is left), then Roll back again.` };
    return { ok: true, evidence };
  }

  async checksums(): Promise<StageResult> {
    const cluster = this.ctx.cluster;
    const first = cluster.nodes.find((n) => n.name === cluster.firstNode)!;
    const checks: Promise<string | { problem: string }>[] = [];
    const dump = this.source.dump;
    checks.push((async () => {
      const t = await this.dumpTransport();
      const r = await loggedExec(t, backupProbeScript(dump.path).text, this.ctx.log, { describe: `sha256 of ${dump.path}`, timeoutMs: 30 * 60_000, signal: this.ctx.signal });
      const p = parseBackupProbe(r.stdout);
      if (!p.ok) return { problem: `${dump.where}: ${dump.path}: ${p.problem}` };
      if (p.probe.type !== 'file') return { problem: `${dump.where}: the dump ${dump.path} is ${p.probe.type === 'missing' ? 'gone' : 'not a plain file'}` };
      if (p.probe.sha256 !== dump.sha256) return { problem: `${dump.where}: the dump ${dump.path} has sha256 ${p.probe.sha256 ?? 'unreadable'}, not ${dump.sha256} as step 1 recorded: it changed since` };
      return `${dump.where}: dump ${dump.path} sha256:${dump.sha256.slice(0, 12)} as recorded`;
    })());
    const archive = (node: ClusterNode, what: 'install' | 'appdata', a: Recorded) => (async () => {
      const t = await this.deps.transportFor(node);
      const r = await loggedExec(t, verifyArchiveScript(a.path, a.sha256).text, this.ctx.log, { describe: `sha256 of ${a.path}`, timeoutMs: 30 * 60_000, signal: this.ctx.signal });
      const p = parseRestore(r.stdout);
      if (!p.ok) return { problem: `${node.name}: ${p.problem}` };
      return `${describeArchive({ what, node: node.name, path: a.path, size: a.size, sha256: a.sha256 })} as recorded`;
    })();
    for (const n of cluster.nodes) checks.push(archive(n, 'install', this.source.installs.get(n.name)!));
    checks.push(archive(first, 'appdata', this.source.appdata));
    const done = await Promise.all(checks.map((c) => c.catch((e: Error) => ({ problem: e.message }))));
    const problems = done.flatMap((d) => (typeof d === 'string' ? [] : [d.problem]));
    if (problems.length) return { ok: false, evidence: problems, hint: 'Nothing was restored: a backup that changed since it was made is not restored. Find out why; restore by hand from a copy you trust.' };
    return { ok: true, evidence: done as string[] };
  }

  async database(): Promise<StageResult> {
    const restore = this.ctx.cluster.database.restore!;
    const dump = this.source.dump;
    const t = await this.dumpTransport();
    const r = await loggedExec(t, restoreDatabaseScript(restore.command, dump.path, dump.sha256).text, this.ctx.log, { describe: `restore the database from ${dump.path}`, timeoutMs: 4 * 3_600_000, signal: this.ctx.signal });
    if (/^UCD-RESTORE changed$/m.test(r.stdout)) return { ok: false, evidence: [`${dump.where}: ${dump.path} changed between the check and the restore; the restore did not run`], hint: 'Nothing was restored. Find out what writes to the backup folder.' };
    if (r.code !== 0) {
      const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
      return { ok: false, evidence: [`${dump.where}: the restore command exited ${r.code ?? r.signal}${tail ? `: ${tail}` : ''}`], hint: 'The database may be partly restored: the servers stay stopped. Fix the cause (read the output in the log), then Roll back again, or restore the dump by hand.' };
    }
    return { ok: true, evidence: [`${dump.where}: database restored from ${dump.path} (sha256:${dump.sha256.slice(0, 12)} checked right before)`] };
  }

  async files(): Promise<StageResult> {
    const cluster = this.ctx.cluster;
    const one = async (node: ClusterNode, script: ShellScript, describe: string) => {
      const t = await this.deps.transportFor(node);
      const r = await loggedExec(t, script.text, this.ctx.log, { describe, timeoutMs: 60 * 60_000, signal: this.ctx.signal });
      const p = parseRestore(r.stdout);
      return p.ok ? { ok: true as const, version: p.version } : { ok: false as const, problem: `${node.name}: ${p.problem}` };
    };
    const installs = await Promise.all(cluster.nodes.map(async (n) => {
      const a = this.source.installs.get(n.name)!;
      const r = await one(n, restoreInstallScript(n.installDir, a.path, a.sha256), `put back ${n.installDir} from ${a.path}`).catch((e: Error) => ({ ok: false as const, problem: `${n.name}: ${e.message}` }));
      return r.ok ? `${n.name}: ${n.installDir} restored from ${a.path}, installed.version ${r.version ?? 'unreadable'}` : { problem: r.problem };
    }));
    const first = cluster.nodes.find((n) => n.name === cluster.firstNode)!;
    const a = this.source.appdata;
    const appdata = await one(first, restoreAppdataScript(cluster.sharedAppdata, a.path, a.sha256), `put back ${cluster.sharedAppdata}'s conf and patches from ${a.path}`).catch((e: Error) => ({ ok: false as const, problem: `${first.name}: ${e.message}` }));
    const evidence = [...installs.map((x) => (typeof x === 'string' ? x : x.problem)), appdata.ok ? `${first.name}: ${cluster.sharedAppdata} conf and patches restored from ${a.path}, installed.version ${appdata.version ?? 'unreadable'}` : appdata.problem];
    const ok = installs.every((x) => typeof x === 'string') && appdata.ok;
    return ok ? { ok, evidence } : { ok, evidence, hint: 'The servers stay stopped. Fix what the message names, then Roll back again (the archives are unchanged), or extract them by hand.' };
  }

  /** One after another, as step 10 does: servers joining at once race for the database. */
  async startAll(): Promise<StageResult> {
    const version = this.ctx.cluster.currentVersion;
    const evidence: string[] = [];
    for (const node of this.ctx.cluster.nodes) {
      if (this.ctx.signal.aborted) return { ok: false, evidence: [...evidence, 'cancelled'], hint: 'Start the remaining servers with their service command.' };
      const t = await this.deps.transportFor(node);
      const r = await loggedExec(t, trustedShell(node.startCommand).text, this.ctx.log, { describe: `start ${node.name} on ${version}`, timeoutMs: 5 * 60_000, signal: this.ctx.signal, stdin: '' });
      if (r.code !== 0) return { ok: false, evidence: [...evidence, `${node.name}: start command exited ${r.code ?? r.signal}`], hint: `Read its output in the log and var/log/deployserver.out on ${node.name}.` };
      const deadline = Date.now() + (this.deps.startTimeoutMs ?? 10 * 60_000);
      for (;;) {
        const o = await onlineAt(this.ctx, this.deps, node, version);
        if (o.ok) {
          evidence.push(`${node.name}: ${o.evidence.join(', ')}`);
          break;
        }
        if (Date.now() > deadline) return { ok: false, evidence: [...evidence, `${node.name}: not online on ${version} after ${Math.round((this.deps.startTimeoutMs ?? 600_000) / 1000)} s: ${o.why}`], hint: o.hint };
        await pause(this.deps.pollMs ?? 3_000, this.ctx.signal);
      }
    }
    return { ok: true, evidence };
  }

  async verify(): Promise<StageResult> {
    const version = this.ctx.cluster.currentVersion;
    const nodes = await Promise.all(this.ctx.cluster.nodes.map(async (n) => {
      const o = await onlineAt(this.ctx, this.deps, n, version);
      const installed = o.facts.version;
      if (!o.ok) return { ok: false, line: `${n.name}: ${o.why}` };
      if (installed !== version) return { ok: false, line: `${n.name}: login page v. ${version}, but conf/installed.version is ${installed ?? 'unreadable'}` };
      return { ok: true, line: `${n.name}: ${o.evidence.join(', ')}, installed.version ${installed}` };
    }));
    // A balancer marks a node down while it was away and takes it back after its health check:
    // asked until it answers on the old version or the limit passes.
    const deadline = Date.now() + (this.deps.balancerTimeoutMs ?? 60_000);
    let lb = await fetchLoginPage(this.ctx.cluster.loadBalancerUrl, this.deps.trust, { signal: this.ctx.signal });
    while (!(lb.ok && lb.version === version) && Date.now() < deadline && !this.ctx.signal.aborted) {
      await pause(this.deps.pollMs ?? 3_000, this.ctx.signal);
      lb = await fetchLoginPage(this.ctx.cluster.loadBalancerUrl, this.deps.trust, { signal: this.ctx.signal });
    }
    const lbOk = lb.ok && lb.version === version;
    const lbLine = lb.ok ? `load balancer answers v. ${lb.version ?? '?'} (HTTP ${lb.status})` : `load balancer: ${lb.error}`;
    const evidence = [...nodes.map((x) => x.line), lbLine];
    const ok = nodes.every((x) => x.ok) && lbOk;
    return ok ? { ok, evidence } : { ok, evidence, hint: `Not every server answers on ${version}: look at the nodes named and the load balancer's health checks.` };
  }
}

const RESTORE_MARK = 'UCD-RESTORE';

/** The dump's sha256 checked again, in the same script that feeds it to the restore command. */
export function restoreDatabaseScript(command: string, dump: string, sha256: string): ShellScript {
  // The restore command is the user's own shell text (it reads the dump on standard input).
  return sh`f=${dump}; expect=${sha256}
h=$(sha256sum < "$f") || exit 21
if [ "\${h%% *}" != "$expect" ]; then echo ${RESTORE_MARK} changed; exit 22; fi
{
${trustedShell(command)}
} < "$f"`;
}

/**
 * Runs the rollback after the refusals were evaluated (by the runner). Every stage needs the one
 * before it: a failed stage ends the rollback where it is, recorded with what to do next.
 */
export async function rollBack(ctx: RollbackContext, deps: RollbackDeps): Promise<RollbackOutcome> {
  const reasons = rollbackRefusals(ctx.cluster, ctx.session.journal.events);
  const src = rollbackSource(ctx.session.journal.events, ctx.cluster);
  if (reasons.length || !src.ok) return { kind: 'refused', reasons: reasons.length ? reasons : ['no complete backup is recorded'] };
  const q = rollbackQuestion(ctx.cluster, src.source);
  const rb = new Rollback(ctx, deps, src.source);
  if (!(await deps.confirm(q.question, q.detail))) {
    rb.record('begin', 'failed', ['declined: nothing was done'], 'The run stays where it is.');
    return { kind: 'declined' };
  }
  rb.record('begin', 'passed', [`agreed: roll back to ${ctx.cluster.currentVersion} from the backup of ${src.source.at}`, q.detail.split('\n')[0]!]);
  const stages: [RollbackStage, string, () => Promise<StageResult>][] = [
    ['stop', 'stop every server and prove it stopped', () => rb.stopAll()],
    ['checksums', 'check the dump and every archive against step 1\'s sha256', () => rb.checksums()],
    ['database', `restore the database from ${src.source.dump.path}`, () => rb.database()],
    ['files', 'put back every install tree and the shared appdata\'s conf and patches', () => rb.files()],
    ['start', `start every server on ${ctx.cluster.currentVersion}`, () => rb.startAll()],
    ['verify', `every node and the load balancer on ${ctx.cluster.currentVersion}`, () => rb.verify()],
  ];
  for (const [stage, what, work] of stages) {
    const r = await rb.stage(stage, what, work);
    if (!r.ok) {
      const evidence = [`roll back stopped at "${what}"`, ...r.evidence];
      rb.record('end', 'failed', evidence, r.hint);
      return { kind: 'done', verdict: 'failed', evidence };
    }
  }
  const evidence = [`rolled back to ${ctx.cluster.currentVersion}: every node and the load balancer answer on it; database and files as of the backup of ${src.source.at}`];
  rb.record('end', 'passed', evidence);
  return { kind: 'done', verdict: 'passed', evidence };
}
