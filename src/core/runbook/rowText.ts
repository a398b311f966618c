// What a runbook row says, for a sidebar about 300 px wide: a short label, then the state first
// (and how long a finished step took), then the detail. The doc's title and words stay in the
// tooltip. Pure, so the words are tested without an editor.
import { duration } from '../journal/localTime';
import { inPlainWords } from '../remote/errorWords';
import type { Outcome } from './state';
import type { DisplayState, NodeView, StepView } from './view';

export const STATE_WORD: Record<DisplayState, string> = {
  pending: 'pending', blocked: 'blocked', ready: 'ready', running: 'running', passed: 'passed',
  warning: 'warning', failed: 'failed', waitingForTrust: 'waiting for trust', skipped: 'skipped', confirmed: 'confirmed manually',
  interrupted: 'interrupted', stale: 'stale', notNeeded: 'not needed',
};

/** "7. Install first": the row's label. */
export function stepLabel(s: Pick<StepView, 'number' | 'def'>): string {
  return `${s.number}. ${s.def.short}`;
}

/** How long the actions that gave these results took, first start to last end; undefined when none recorded its start. */
export function tookMs(outcomes: readonly (Outcome | undefined)[]): number | undefined {
  let start = Infinity;
  let end = -Infinity;
  for (const o of outcomes) {
    if (!o || (o.status !== 'passed' && o.status !== 'failed' && o.status !== 'warning') || !o.startedAt) continue;
    start = Math.min(start, Date.parse(o.startedAt));
    end = Math.max(end, Date.parse(o.at));
  }
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? end - start : undefined;
}

/** "passed 1 min 12 s", "failed after 3 s", or the state word alone. */
export function stateText(state: DisplayState, took: number | undefined): string {
  if (took === undefined) return STATE_WORD[state];
  if (state === 'passed' || state === 'warning') return `${STATE_WORD[state]} ${duration(took)}`;
  if (state === 'failed') return `failed after ${duration(took)}`;
  return STATE_WORD[state];
}

/** The state first, then its detail: "skipped: why" once, not "skipped — skipped: why". */
export function stateAndDetail(state: DisplayState, detail: string, took?: number): string {
  const m = /^(skipped|confirmed|blocked|not needed|waiting for trust): (.*)$/s.exec(detail);
  if (m) return `${STATE_WORD[state]}: ${m[2]}`;
  if (detail.startsWith(`${STATE_WORD[state]} `)) return detail; // "running on ucd1 (detached; followed)"
  return [stateText(state, took), detail].filter(Boolean).join(' — ');
}

/** The step row's description: state and duration, the summary, then each warning. */
export function stepDescription(s: StepView): string {
  const outcomes = s.nodes.length ? s.nodes.map((n) => n.outcome) : [s.outcome];
  const took = s.state === 'passed' || s.state === 'warning' || s.state === 'failed' ? tookMs(outcomes) : undefined;
  return [stateAndDetail(s.state, inPlainWords(s.summary), took), ...s.warnings.map((w) => `⚠ ${w}`)].join(' — ');
}

/** A node row's description: its state and duration first, then the evidence. */
export function nodeDescription(n: NodeView): string {
  return stateAndDetail(n.state, inPlainWords(n.detail, n.node), tookMs([n.outcome]));
}

/**
 * Whether the row offers Run. A blocked step offers it too: the runner refuses it in the gates'
 * own words, which is how a person learns what blocks it. Everything else follows the view.
 */
export function offersRun(state: DisplayState, run: boolean): boolean {
  return run || state === 'blocked';
}

/** Explain Step: the row's whole story, for a step whose row has nothing else to offer (step 6 not needed). */
export function explainStep(s: StepView): { readonly message: string; readonly detail: string } {
  const lines: string[] = [`State: ${stepDescription(s)}`];
  if (s.reasons.length && s.state !== 'notNeeded') lines.push('', 'Blocked by:', ...s.reasons.map((r) => `• ${r}`));
  if (s.state === 'notNeeded') lines.push('', `Nothing to do: ${s.summary.replace(/^not needed: /, '')}.`);
  lines.push('', `The doc: ${s.def.doc}`, '', `Run: ${s.def.action}`, `Check: ${s.def.check}`);
  return { message: `${s.number}. ${s.def.title}`, detail: lines.join('\n') };
}
