// The run as a Markdown change record: what was done, proven, skipped or confirmed by hand, on
// which node, when, and by whom; how long each step took, the outage window, every decision a
// person made (with its fingerprints, names and pids), everything shown as a warning, a refusal or
// an interruption; then every journal event in order, as the audit trail. One time zone throughout:
// the local one, with its offset.
// Only the (already masked) journal and the cluster's names, hosts and versions go in: no command
// lines, URLs or credential names from the cluster file, since those are where a secret could hide.
import type { Cluster } from '../cluster/types';
import { runPhase } from '../runbook/phase';
import type { StepView, DisplayState } from '../runbook/view';
import { stepDef } from '../runbook/steps';
import type { Decision, JournalEvent, RollbackStage, Target } from './events';
import type { JournalReadIssue } from './journal';
import { defaultTimeZone, duration, localTime } from './localTime';

export interface ReportInput {
  readonly cluster: Cluster;
  readonly events: readonly JournalEvent[];
  /** deriveRunbook(...) (or RunSession.view()) at the time of the report. */
  readonly views: readonly StepView[];
  /** Lines of the journal that could not be read. */
  readonly readIssues?: readonly JournalReadIssue[];
  /** When the report is made (ISO text or Date); passed in so the report is reproducible. */
  readonly generatedAt: string | Date;
  /** Who and where, when the caller knows (e.g. the OS user and machine name). */
  readonly operator?: { readonly user?: string; readonly machine?: string };
  /** The journal's file name, for reference. */
  readonly journalFile?: string;
  /** Where this report is saved, so the record says where it lives. */
  readonly savedTo?: string;
  /** The IANA zone the times are given in; default this machine's. */
  readonly timeZone?: string;
}

const STATE_LABEL: Record<DisplayState, string> = {
  pending: 'pending', blocked: 'blocked', ready: 'not started', running: 'running', passed: 'passed',
  warning: 'passed with warning', failed: 'FAILED', waitingForTrust: 'WAITING FOR TRUST', skipped: 'skipped', confirmed: 'confirmed manually',
  interrupted: 'INTERRUPTED', stale: 'stale (re-check needed)', notNeeded: 'not needed',
};

const DONE: ReadonlySet<DisplayState> = new Set(['passed', 'warning', 'skipped', 'confirmed', 'notNeeded']);

/** Text safe in a Markdown table cell or line: no table breaks, no HTML, no line breaks. */
export function mdText(s: string): string {
  return s
    .replace(/\r?\n|\r/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\|`*_[\]])/g, '\\$1');
}

function targetText(t: Target): string {
  const def = stepDef(t.step);
  return t.node ? `${def.title} — ${t.node}` : def.title;
}

/** The step and node an event is about, if any (run-wide events have neither). */
function targetOf(e: JournalEvent): Partial<Target> {
  return e.type === 'run-opened' ? {} : e;
}

function where(e: JournalEvent): string {
  const t = targetOf(e);
  return t.step ? mdText(targetText(t as Target)) : '—';
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

const REQUEST: Record<Extract<JournalEvent, { type: 'refused' }>['request'], string> = {
  run: 'Run', check: 'Check', skip: 'Skip', confirm: 'Confirm Manually', reset: 'Reset',
};

const ROLLBACK_STAGE: Record<RollbackStage, string> = {
  begin: 'asked and agreed', stop: 'every server stopped', checksums: 'archives checked', database: 'database restored',
  files: 'files restored', start: 'servers started', verify: 'old version verified', end: 'result',
};

/** A decision in one line, with every name, pid and fingerprint it concerned. */
export function decisionText(d: Decision): string {
  switch (d.kind) {
    case 'cancel-processes': return `cancelled in UCD: ${d.processes.map(mdText).join('; ')}`;
    case 'kill': return `kill on ${mdText(d.node)}: ${d.processes.map((p) => `pid ${p.pid} (${mdText(p.command)})`).join('; ')}`;
    case 'host-key': return `accepted the SSH host key of ${mdText(d.node)} (${mdText(d.endpoint)}): ${mdText(d.keyType)} ${mdText(d.fingerprint)}${d.remembered ? ', stored' : ', for that connection only'}`;
    case 'tls-certificate': return `accepted the TLS certificate of ${mdText(d.endpoint)}: SHA-256 ${mdText(d.fingerprint)}${d.subject ? ` (${mdText(d.subject)})` : ''}${d.remembered ? ', pinned' : ', for this window only'}`;
    case 'confirmation': return `${d.answer === 'yes' ? 'agreed to' : 'declined'}: ${mdText(d.question)}`;
  }
}

function eventDetails(e: JournalEvent, startedAt: ReadonlyMap<string, string>): string {
  switch (e.type) {
    case 'run-opened': return `run opened: ${mdText(e.cluster)}, ${mdText(e.from)} → ${mdText(e.to)}, nodes ${e.nodes.map(mdText).join(', ')}`;
    case 'started': return `${e.kind} started`;
    case 'finished': {
      const began = startedAt.get(e.id);
      const took = began ? ` in ${duration(Date.parse(e.ts) - Date.parse(began))}` : '';
      const ev = e.evidence.length ? `: ${e.evidence.map(mdText).join('; ')}` : '';
      return `${e.kind} ${e.verdict}${took}${ev}${e.hint ? ` (next: ${mdText(e.hint)})` : ''}`;
    }
    case 'interrupted': return e.reason ? `interrupted: ${mdText(e.reason)}` : 'interrupted (the window closed while it ran)';
    case 'detached': return `running detached on the node: run ${mdText(e.runId)}, pid ${e.pid}, folder ${mdText(e.dir)}`;
    case 'skipped': return `skipped: ${mdText(e.reason)}`;
    case 'confirmed': return `confirmed manually: ${mdText(e.note)}`;
    case 'reset': return `reset${e.reason ? `: ${mdText(e.reason)}` : ''}`;
    case 'refused': return `${REQUEST[e.request]} refused: ${e.reasons.map(mdText).join('; ')}`;
    case 'preflight': return `pre-flight ${e.verdict}: ${e.findings.map(mdText).join('; ')}`;
    case 'preflight-skipped': return `pre-flight skipped: ${mdText(e.reason)}`;
    case 'maintenance': return `maintenance mode ${e.state}: ${mdText(e.detail)}`;
    case 'noted': return `note beside the probe result: ${mdText(e.note)}`;
    case 'backup-archive': return `backup archive (${e.what}) on ${mdText(e.where)}: ${mdText(e.path)}, ${e.size} bytes, sha256:${e.sha256}`;
    case 'rollback': return `roll back, ${ROLLBACK_STAGE[e.stage]}: ${e.verdict}${e.evidence.length ? `: ${e.evidence.map(mdText).join('; ')}` : ''}${e.hint ? ` (next: ${mdText(e.hint)})` : ''}`;
    case 'connection-lost': case 'connection-restored': return mdText(e.message);
    case 'decided': return `decided by ${mdText(`${e.by.user}@${e.by.host}`)}: ${decisionText(e.decision)}`;
    case 'guard-alarm': return `guard alarm: ${mdText(e.message)} (${e.evidence.map(mdText).join('; ')})`;
    case 'service-unit': return `systemd unit ${mdText(e.unit)} ${e.action} (${mdText(e.command)})`;
  }
}

function outcomeLine(v: { readonly outcome?: StepView['outcome'] }, at: (ts: string) => string): { detail: string; at: string } {
  const o = v.outcome;
  if (!o) return { detail: '', at: '' };
  switch (o.status) {
    case 'passed': case 'failed': case 'warning':
      return { detail: [...o.evidence.map(mdText), ...(o.hint ? [`next: ${mdText(o.hint)}`] : [])].join('<br>'), at: at(o.at) };
    case 'skipped': return { detail: `skipped: ${mdText(o.reason)}`, at: at(o.at) };
    case 'confirmed': return { detail: `confirmed manually: ${mdText(o.note)}`, at: at(o.at) };
    case 'interrupted': return { detail: o.reason ? `interrupted: ${mdText(o.reason)}` : 'interrupted — must be checked again', at: at(o.at) };
    case 'running': return { detail: `${o.kind} running`, at: at(o.at) };
  }
}

/** Step 1's archives and each Roll back, stage by stage, in the order they happened. */
function rollbackSection(events: readonly JournalEvent[], at: (ts: string) => string): string[] {
  const out = ['## Rollback', ''];
  const archives = events.filter((e): e is Extract<JournalEvent, { type: 'backup-archive' }> => e.type === 'backup-archive');
  const stages = events.filter((e): e is Extract<JournalEvent, { type: 'rollback' }> => e.type === 'rollback');
  if (archives.length) {
    out.push('Backups recorded for a rollback (step 1):', '');
    out.push(...table(['At', 'What', 'Where', 'Path', 'Size', 'sha256'], archives.map((e) => [at(e.ts), e.what, mdText(e.where), mdText(e.path), `${e.size} bytes`, e.sha256])), '');
  }
  if (!stages.length) {
    out.push('Not rolled back.');
    return out;
  }
  const last = stages.filter((e) => e.stage === 'end').at(-1);
  out.push(last ? `Outcome: ${last.verdict === 'passed' ? 'rolled back' : 'FAILED'} at ${at(last.ts)}: ${last.evidence.map(mdText).join('; ')}${last.hint ? ` (next: ${mdText(last.hint)})` : ''}` : 'Outcome: not finished (the last stage has no result).', '');
  out.push(...table(['At', 'Stage', 'Result', 'Evidence'], stages.filter((e) => e.verdict !== 'started').map((e) => [
    at(e.ts), ROLLBACK_STAGE[e.stage], e.verdict === 'passed' ? 'passed' : e.verdict === 'failed' ? 'FAILED' : e.verdict, [...e.evidence.map(mdText), ...(e.hint ? [`next: ${mdText(e.hint)}`] : [])].join('<br>'),
  ])));
  return out;
}

export interface StepTiming {
  readonly step: StepView['def']['id'];
  readonly start: string;
  /** The last result; undefined while an action of the step still runs. */
  readonly end?: string;
  readonly actions: number;
}

/** Each step's first start and last result, over every action on it (any node, any attempt). */
export function stepTimings(events: readonly JournalEvent[]): StepTiming[] {
  const by = new Map<string, { start: string; end?: string; actions: number; open: Set<string> }>();
  for (const e of events) {
    if (!targetOf(e).step) continue;
    if (e.type === 'started') {
      const t = by.get(e.step) ?? { start: e.ts, actions: 0, open: new Set<string>() };
      t.actions += 1;
      t.open.add(e.id);
      by.set(e.step, t);
    } else if (e.type === 'finished' || e.type === 'interrupted') {
      const t = by.get(e.step);
      if (!t) continue;
      t.open.delete(e.id);
      if (!t.end || e.ts > t.end) t.end = e.ts;
    }
  }
  return [...by].map(([step, t]) => ({ step: step as StepTiming['step'], start: t.start, ...(t.open.size === 0 && t.end ? { end: t.end } : {}), actions: t.actions }));
}

export type RunTotal =
  | { readonly kind: 'none' }
  | { readonly kind: 'running'; readonly start: string }
  | { readonly kind: 'over'; readonly start: string; readonly end: string };

/** The run's total time: from the first step's start to the last result, once nothing runs. */
export function runTotal(events: readonly JournalEvent[]): RunTotal {
  const timings = stepTimings(events);
  const start = timings.map((t) => t.start).sort()[0];
  if (start === undefined) return { kind: 'none' };
  const end = timings.every((t) => t.end) ? timings.map((t) => t.end!).sort().at(-1) : undefined;
  return end ? { kind: 'over', start, end } : { kind: 'running', start };
}

const DOWN_STEPS: ReadonlySet<string> = new Set(['stop', 'verifyStopped']);
const UP_STEPS: ReadonlySet<string> = new Set(['startFirst', 'startOthers']);

export type Outage =
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'ongoing'; readonly since: string; readonly lastDown: string }
  | { readonly kind: 'over'; readonly since: string; readonly lastDown: string; readonly until: string; readonly firstUp: string };

/**
 * The service outage: from the moment the last server was proven stopped (step 4 or 5), so that
 * none served, until the first was proven back online at the target (step 8 or 10).
 */
export function outageWindow(events: readonly JournalEvent[], nodes: readonly string[]): Outage {
  const down = new Map<string, string>();
  for (const e of events) {
    if (e.type !== 'finished' || e.verdict !== 'passed' || !DOWN_STEPS.has(e.step) || e.node === undefined) continue;
    if (!down.has(e.node)) down.set(e.node, e.ts);
  }
  const missing = nodes.filter((n) => !down.has(n));
  if (missing.length) return { kind: 'none', why: `no outage recorded: ${missing.join(', ')} ${missing.length === 1 ? 'was' : 'were'} never proven stopped` };
  let since = '';
  let lastDown = '';
  for (const [n, ts] of down) if (ts >= since) [since, lastDown] = [ts, n];
  const up = events.find((e): e is Extract<JournalEvent, { type: 'finished' }> => e.type === 'finished' && e.verdict === 'passed' && UP_STEPS.has(e.step) && e.ts >= since);
  if (!up) return { kind: 'ongoing', since, lastDown };
  return { kind: 'over', since, lastDown, until: up.ts, firstUp: up.node ?? 'a node' };
}

/** What ended a manual record's standing: a later result, skip, confirmation or reset of the same target. */
function supersededBy(e: Extract<JournalEvent, { type: 'skipped' | 'confirmed' }>, events: readonly JournalEvent[], at: (ts: string) => string): string | undefined {
  const i = events.indexOf(e);
  const same = (x: JournalEvent) => {
    const t = targetOf(x);
    return t.step === e.step && (t.node === e.node || t.node === undefined || e.node === undefined);
  };
  const later = events.slice(i + 1).find((x) => same(x) && (x.type === 'finished' || x.type === 'skipped' || x.type === 'confirmed' || x.type === 'reset'));
  if (!later) return undefined;
  const what = later.type === 'finished' ? `${later.kind} ${later.verdict}` : later.type === 'confirmed' ? 'a later manual confirmation' : later.type === 'skipped' ? 'a later skip' : 'a reset';
  return `SUPERSEDED by ${what} at ${at(later.ts)}`;
}

export function renderReport(input: ReportInput): string {
  const { cluster, events, views } = input;
  const zone = input.timeZone ?? defaultTimeZone();
  const at = (ts: string | Date) => localTime(ts, zone);
  const out: string[] = [];
  const opened = events.find((e) => e.type === 'run-opened');
  const first = events[0]?.ts;
  const last = events.at(-1)?.ts;
  // Once the installer has started, the steps before it are the record of how it began: their
  // age or a later look at them neither reopens nor fails the run. A complete run stays complete.
  const phase = runPhase(events, cluster);
  const current = views.filter((v) => !v.history);
  const open = current.filter((v) => !DONE.has(v.state));
  const failed = current.filter((v) => v.state === 'failed');
  const final = views.find((v) => v.def.id === 'verifyVersions');
  const rolledBack = events.filter((e): e is Extract<JournalEvent, { type: 'rollback' }> => e.type === 'rollback' && e.stage === 'end').at(-1);
  const outcome = rolledBack?.verdict === 'passed' ? `rolled back to ${mdText(cluster.currentVersion)} at ${at(rolledBack.ts)} (see Rollback)`
    : rolledBack?.verdict === 'failed' ? `ROLLBACK FAILED at ${at(rolledBack.ts)} (see Rollback)`
    : phase.kind === 'complete'
    ? `complete: a probe showed every node on ${mdText(cluster.targetVersion)} at ${at(phase.since)}`
    : failed.length ? `FAILED at ${failed.map((v) => `step ${v.number}`).join(', ')}`
    : open.length === 0 ? `not verified: every step is settled, but no probe has shown every node on ${mdText(cluster.targetVersion)} (step ${final?.number ?? 11} is ${final ? STATE_LABEL[final.state] : 'missing'})`
    : `in progress: ${open.length} step${open.length === 1 ? '' : 's'} open (next: step ${open[0].number}, ${mdText(open[0].def.title)})`;

  const timings = stepTimings(events);
  const run = runTotal(events);
  const total = run.kind === 'none' ? 'no step was run'
    : run.kind === 'over' ? `${duration(Date.parse(run.end) - Date.parse(run.start))} (${at(run.start)} → ${at(run.end)})`
    : `still running since ${at(run.start)}`;
  const outage = outageWindow(events, cluster.nodes.map((n) => n.name));
  const outageText = outage.kind === 'none' ? mdText(outage.why)
    : outage.kind === 'ongoing' ? `ONGOING since ${at(outage.since)} (every server down once ${mdText(outage.lastDown)} was proven stopped); no server is back yet`
    : `${duration(Date.parse(outage.until) - Date.parse(outage.since))}: ${at(outage.since)} → ${at(outage.until)} (every server down once ${mdText(outage.lastDown)} was proven stopped, until ${mdText(outage.firstUp)} was back online at ${mdText(cluster.targetVersion)})`;

  out.push(`# UCD HA upgrade: ${mdText(cluster.name)}, ${mdText(cluster.currentVersion)} → ${mdText(cluster.targetVersion)}`, '');
  const who = [input.operator?.user, input.operator?.machine].filter((x): x is string => !!x);
  out.push(...table(['', ''], [
    ['Cluster', mdText(cluster.name)],
    ['Upgrade', `${mdText(cluster.currentVersion)} → ${mdText(cluster.targetVersion)}`],
    ['Nodes', cluster.nodes.map((n) => `${mdText(n.name)} (${mdText(n.host)}${n.name === cluster.firstNode ? ', first node' : ''})`).join(', ')],
    ['Outcome', outcome],
    ['Run started', opened ? at(opened.ts) : first ? at(first) : '—'],
    ['Last activity', last ? at(last) : '—'],
    ['Total time', total],
    ['Outage', outageText],
    ...(who.length ? [['Report by', mdText(who.join(' on '))]] : []),
    ['Report generated', at(input.generatedAt)],
    ['Times', `local time, ${mdText(zone)} (UTC offset shown with each time)`],
    ...(input.journalFile ? [['Journal', `\`${input.journalFile.replace(/`/g, '')}\``]] : []),
    ...(input.savedTo ? [['This report', `\`${input.savedTo.replace(/`/g, '')}\``]] : []),
  ]), '');

  out.push('## Steps', '');
  const timingOf = new Map(timings.map((t) => [t.step, t]));
  out.push(...table(['#', 'Step', 'Doc step', 'State', 'Start', 'End', 'Duration', 'Summary'], views.map((v) => {
    const t = timingOf.get(v.def.id);
    return [
      String(v.number), mdText(v.def.title), v.def.docSteps.join(', ') || '—', STATE_LABEL[v.state],
      t ? at(t.start) : '—', t?.end ? at(t.end) : t ? 'running' : '—',
      t?.end ? `${duration(Date.parse(t.end) - Date.parse(t.start))}${t.actions > 1 ? ` (${t.actions} actions)` : ''}` : '—',
      mdText(v.summary),
    ];
  })), '');

  const clusterSteps = views.filter((v) => v.def.scope === 'cluster' && v.outcome);
  if (clusterSteps.length) {
    out.push('## Cluster-wide results', '');
    out.push(...table(['Step', 'State', 'Evidence / reason / note', 'At'], clusterSteps.map((v) => {
      const o = outcomeLine(v, at);
      return [mdText(v.def.title), STATE_LABEL[v.state], o.detail, o.at];
    })), '');
  }

  out.push('## Per node', '');
  for (const node of cluster.nodes) {
    const rows = views.flatMap((v) => v.nodes.filter((n) => n.node === node.name).map((n) => {
      const o = outcomeLine(n, at);
      return [String(v.number), mdText(v.def.title), STATE_LABEL[n.state], o.detail || mdText(n.detail), o.at];
    }));
    out.push(`### ${mdText(node.name)} (${mdText(node.host)})`, '');
    out.push(...table(['#', 'Step', 'State', 'Evidence / reason / note', 'At'], rows), '');
  }

  // Only when the run touched it (ucd.maintenanceMode): what was switched, when, and what UCD said.
  const maintenance = events.filter((e): e is Extract<JournalEvent, { type: 'maintenance' }> => e.type === 'maintenance');
  if (maintenance.length) {
    out.push('## Maintenance mode', '');
    out.push(...table(['At', 'Maintenance mode', 'Detail'], maintenance.map((e) => [at(e.ts), e.state, mdText(e.detail)])), '');
  }
  const decisions = events.filter((e): e is Extract<JournalEvent, { type: 'decided' }> => e.type === 'decided');
  out.push('## Decisions', '');
  if (decisions.length) {
    out.push(...table(['At', 'Who', 'Where', 'Decision'], decisions.map((e) => [at(e.ts), mdText(`${e.by.user}@${e.by.host}`), where(e), decisionText(e.decision)])), '');
  } else out.push('No cancellation, kill, accepted host key or certificate, or destructive confirmation was recorded.', '');

  const manual = events.filter((e): e is Extract<JournalEvent, { type: 'skipped' | 'confirmed' | 'noted' }> => e.type === 'skipped' || e.type === 'confirmed' || e.type === 'noted');
  const manualKind = { skipped: 'skipped', confirmed: 'confirmed manually', noted: 'note (a probe proved it)' } as const;
  out.push('## Skips and manual confirmations', '');
  if (manual.length) {
    out.push(...table(['At', 'Target', 'Kind', 'Reason / note', 'Standing'], manual.map((e) => [
      at(e.ts), mdText(targetText(e)), manualKind[e.type], mdText(e.type === 'skipped' ? e.reason : e.note),
      e.type === 'noted' ? 'beside the probe result' : supersededBy(e, events, at) ?? 'in force',
    ])), '');
  } else out.push('None: every step was run or checked by the extension.', '');

  // Everything the window showed as a warning, a refusal, a failure or an interruption, in order,
  // in the words it was shown with.
  const shown: { ts: string; where: string; kind: string; text: string }[] = [];
  for (const e of events) {
    if (e.type === 'finished' && e.verdict !== 'passed') {
      shown.push({ ts: e.ts, where: where(e), kind: e.verdict === 'failed' ? `${e.kind} FAILED` : `${e.kind} warning`, text: [...e.evidence.map(mdText), ...(e.hint ? [`next: ${mdText(e.hint)}`] : [])].join('; ') });
    } else if (e.type === 'refused') {
      shown.push({ ts: e.ts, where: where(e), kind: `${REQUEST[e.request]} refused`, text: e.reasons.map(mdText).join('<br>') });
    } else if (e.type === 'interrupted') {
      shown.push({ ts: e.ts, where: where(e), kind: 'interrupted', text: e.reason ? mdText(e.reason) : 'it was running when its window closed; marked interrupted, to be checked again' });
    } else if (e.type === 'preflight' && e.verdict !== 'passed') {
      shown.push({ ts: e.ts, where: 'pre-flight', kind: `pre-flight ${e.verdict}`, text: e.findings.map(mdText).join('<br>') });
    } else if (e.type === 'decided' && e.decision.kind === 'confirmation' && e.decision.answer === 'no') {
      shown.push({ ts: e.ts, where: where(e), kind: 'declined', text: mdText(e.decision.question) });
    }
  }
  const finalState = new Map<string, DisplayState>();
  for (const v of views) {
    finalState.set(v.def.id, v.state);
    for (const n of v.nodes) finalState.set(`${v.def.id}@${n.node}`, n.state);
  }
  const rows = shown.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)).map((x) => [at(x.ts), x.where, x.kind, x.text]);
  for (const v of views) for (const w of v.warnings) rows.push(['now', `step ${v.number}`, 'open warning', mdText(w)]);
  for (const i of input.readIssues ?? []) {
    rows.push(['—', 'journal', 'unreadable line', `line ${i.line} ${i.problem === 'truncated' ? 'was cut short (a crash mid-write); kept as is' : 'could not be read'}`]);
  }
  out.push('## Warnings, refusals and interruptions', '');
  if (rows.length) out.push(...table(['At', 'Where', 'What', 'As shown'], rows), '');
  else out.push('No warning, failure, refusal or interruption was recorded in this run.', '');

  const interruptions = events.filter((e): e is Extract<JournalEvent, { type: 'interrupted' }> => e.type === 'interrupted');
  if (interruptions.length) {
    out.push('### Interrupted actions, and where they stand now', '');
    out.push(...table(['At', 'Target', 'Now'], interruptions.map((e) => {
      const now = finalState.get(e.node ? `${e.step}@${e.node}` : e.step);
      return [at(e.ts), mdText(targetText(e)), now ? STATE_LABEL[now] : '—'];
    })), '');
  }

  out.push(...rollbackSection(events, at), '');

  const startedAt = new Map<string, string>();
  for (const e of events) if (e.type === 'started') startedAt.set(e.id, e.ts);
  const chronological = events.map((e, i) => ({ e, i })).sort((a, b) => (a.e.ts < b.e.ts ? -1 : a.e.ts > b.e.ts ? 1 : a.i - b.i));
  out.push('## Appendix: every journal event, in order', '');
  out.push(...table(['#', 'At', 'Target', 'Event'], chronological.map(({ e }, k) => [
    String(k + 1), at(e.ts), where(e), eventDetails(e, startedAt),
  ])), '');
  return out.join('\n');
}
