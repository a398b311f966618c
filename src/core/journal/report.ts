// The run as a Markdown change record: what was done, proven, skipped or confirmed by hand, on
// which node, when, and by whom if known; then every journal event in order, as the audit trail.
// Only the (already masked) journal and the cluster's names, hosts and versions go in: no command
// lines, URLs or credential names from the cluster file, since those are where a secret could hide.
import type { Cluster } from '../cluster/types';
import { runPhase } from '../runbook/phase';
import type { StepView, DisplayState } from '../runbook/view';
import { stepDef } from '../runbook/steps';
import type { JournalEvent, Target } from './events';
import type { JournalReadIssue } from './journal';

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
}

const STATE_LABEL: Record<DisplayState, string> = {
  pending: 'pending', blocked: 'blocked', ready: 'not started', running: 'running', passed: 'passed',
  warning: 'passed with warning', failed: 'FAILED', skipped: 'skipped', confirmed: 'confirmed manually',
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

function iso(d: string | Date): string {
  return typeof d === 'string' ? d : d.toISOString();
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
    case 'noted': return `note beside the probe result: ${mdText(e.note)}`;
    case 'service-unit': return `systemd unit ${mdText(e.unit)} ${e.action} (${mdText(e.command)})`;
  }
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function outcomeLine(v: { readonly outcome?: StepView['outcome'] }): { detail: string; at: string } {
  const o = v.outcome;
  if (!o) return { detail: '', at: '' };
  switch (o.status) {
    case 'passed': case 'failed': case 'warning':
      return { detail: [...o.evidence.map(mdText), ...(o.hint ? [`next: ${mdText(o.hint)}`] : [])].join('<br>'), at: o.at };
    case 'skipped': return { detail: `skipped: ${mdText(o.reason)}`, at: o.at };
    case 'confirmed': return { detail: `confirmed manually: ${mdText(o.note)}`, at: o.at };
    case 'interrupted': return { detail: o.reason ? `interrupted: ${mdText(o.reason)}` : 'interrupted — must be checked again', at: o.at };
    case 'running': return { detail: `${o.kind} running`, at: o.at };
  }
}

export function renderReport(input: ReportInput): string {
  const { cluster, events, views } = input;
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
  const outcome = phase.kind === 'complete'
    ? `complete: a probe showed every node on ${mdText(cluster.targetVersion)} at ${phase.since}`
    : failed.length ? `FAILED at ${failed.map((v) => `step ${v.number}`).join(', ')}`
    : open.length === 0 ? `not verified: every step is settled, but no probe has shown every node on ${mdText(cluster.targetVersion)} (step ${final?.number ?? 11} is ${final ? STATE_LABEL[final.state] : 'missing'})`
    : `in progress: ${open.length} step${open.length === 1 ? '' : 's'} open (next: step ${open[0].number}, ${mdText(open[0].def.title)})`;

  out.push(`# UCD HA upgrade: ${mdText(cluster.name)}, ${mdText(cluster.currentVersion)} → ${mdText(cluster.targetVersion)}`, '');
  const who = [input.operator?.user, input.operator?.machine].filter((x): x is string => !!x);
  out.push(...table(['', ''], [
    ['Cluster', mdText(cluster.name)],
    ['Upgrade', `${mdText(cluster.currentVersion)} → ${mdText(cluster.targetVersion)}`],
    ['Nodes', cluster.nodes.map((n) => `${mdText(n.name)} (${mdText(n.host)}${n.name === cluster.firstNode ? ', first node' : ''})`).join(', ')],
    ['Run started', opened?.ts ?? first ?? '—'],
    ['Last activity', last ?? '—'],
    ...(who.length ? [['Operator', mdText(who.join(' on '))]] : []),
    ['Report generated', iso(input.generatedAt)],
    ...(input.journalFile ? [['Journal', `\`${input.journalFile.replace(/`/g, '')}\``]] : []),
    ['Outcome', outcome],
  ]), '');

  out.push('## Steps', '');
  out.push(...table(['#', 'Step', 'Doc step', 'State', 'Summary'], views.map((v) => [
    String(v.number), mdText(v.def.title), v.def.docSteps.join(', ') || '—', STATE_LABEL[v.state], mdText(v.summary),
  ])), '');

  const clusterSteps = views.filter((v) => v.def.scope === 'cluster' && v.outcome);
  if (clusterSteps.length) {
    out.push('## Cluster-wide results', '');
    out.push(...table(['Step', 'State', 'Evidence / reason / note', 'At'], clusterSteps.map((v) => {
      const o = outcomeLine(v);
      return [mdText(v.def.title), STATE_LABEL[v.state], o.detail, o.at];
    })), '');
  }

  out.push('## Per node', '');
  for (const node of cluster.nodes) {
    const rows = views.flatMap((v) => v.nodes.filter((n) => n.node === node.name).map((n) => {
      const o = outcomeLine(n);
      return [String(v.number), mdText(v.def.title), STATE_LABEL[n.state], o.detail || mdText(n.detail), o.at];
    }));
    out.push(`### ${mdText(node.name)} (${mdText(node.host)})`, '');
    out.push(...table(['#', 'Step', 'State', 'Evidence / reason / note', 'At'], rows), '');
  }

  const manual = events.filter((e): e is Extract<JournalEvent, { type: 'skipped' | 'confirmed' | 'noted' }> => e.type === 'skipped' || e.type === 'confirmed' || e.type === 'noted');
  const manualKind = { skipped: 'skipped', confirmed: 'confirmed manually', noted: 'note (a probe proved it)' } as const;
  out.push('## Skips and manual confirmations', '');
  if (manual.length) {
    out.push(...table(['At', 'Target', 'Kind', 'Reason / note'], manual.map((e) => [
      e.ts, mdText(targetText(e)), manualKind[e.type], mdText(e.type === 'skipped' ? e.reason : e.note),
    ])), '');
  } else out.push('None.', '');

  const refusals = events.filter((e): e is Extract<JournalEvent, { type: 'refused' }> => e.type === 'refused');
  out.push('## Refused', '');
  if (refusals.length) {
    out.push(...table(['At', 'Target', 'Asked', 'Why nothing was done'], refusals.map((e) => [
      e.ts, mdText(targetText(e)), REQUEST[e.request], e.reasons.map(mdText).join('<br>'),
    ])), '');
  } else out.push('None.', '');

  const warningRows: string[][] = [];
  for (const v of views) for (const w of v.warnings) warningRows.push(['', `step ${v.number}`, mdText(w)]);
  for (const e of events) {
    if (e.type === 'finished' && e.verdict === 'warning') {
      warningRows.push([e.ts, mdText(targetText(e)), [...e.evidence.map(mdText), ...(e.hint ? [`next: ${mdText(e.hint)}`] : [])].join('; ')]);
    }
  }
  for (const i of input.readIssues ?? []) {
    warningRows.push(['', 'journal', `line ${i.line} ${i.problem === 'truncated' ? 'was cut short (a crash mid-write); kept as is' : 'could not be read'}`]);
  }
  out.push('## Warnings', '');
  if (warningRows.length) out.push(...table(['At', 'Where', 'Warning'], warningRows), '');
  else out.push('None.', '');

  const finalState = new Map<string, DisplayState>();
  for (const v of views) {
    finalState.set(v.def.id, v.state);
    for (const n of v.nodes) finalState.set(`${v.def.id}@${n.node}`, n.state);
  }
  const interruptions = events.filter((e): e is Extract<JournalEvent, { type: 'interrupted' }> => e.type === 'interrupted');
  out.push('## Interruptions', '');
  if (interruptions.length) {
    out.push(...table(['At', 'Target', 'Now'], interruptions.map((e) => {
      const now = finalState.get(e.node ? `${e.step}@${e.node}` : e.step);
      return [e.ts, mdText(targetText(e)), now ? STATE_LABEL[now] : '—'];
    })), '');
  } else out.push('None.', '');

  const startedAt = new Map<string, string>();
  for (const e of events) if (e.type === 'started') startedAt.set(e.id, e.ts);
  const chronological = events.map((e, i) => ({ e, i })).sort((a, b) => (a.e.ts < b.e.ts ? -1 : a.e.ts > b.e.ts ? 1 : a.i - b.i));
  out.push('## Appendix: every journal event, in order', '');
  out.push(...table(['#', 'At', 'Target', 'Event'], chronological.map(({ e }, k) => [
    String(k + 1), e.ts, e.type === 'run-opened' || e.type === 'preflight' || e.type === 'preflight-skipped' ? '—' : mdText(targetText(e)), eventDetails(e, startedAt),
  ])), '');
  return out.join('\n');
}
