// The runbook tree: steps in the doc's order, node children, state icons, and contextValue
// tokens that the manifest's when-clauses read to enable Run/Check/Skip/Confirm/Reset.
import * as vscode from 'vscode';
import type { ClusterProblem } from '../core/cluster/types';
import { nodeDescription, offersRun, stepDescription, stepLabel, STATE_WORD } from '../core/runbook/rowText';
import type { Actions, DisplayState, NodeView, StepView } from '../core/runbook/view';
import { changedRows, type RowShape } from './rowChanges';

export type RunbookItem =
  | { readonly kind: 'problems'; readonly problems: readonly ClusterProblem[] }
  | { readonly kind: 'step'; readonly step: StepView }
  | { readonly kind: 'node'; readonly step: StepView; readonly node: NodeView };

export type TreeModel =
  | { readonly kind: 'empty' }
  | { readonly kind: 'problems'; readonly problems: readonly ClusterProblem[] }
  | { readonly kind: 'runbook'; readonly steps: readonly StepView[]; readonly hasLog: ReadonlySet<string> };

const ICON: Record<DisplayState, [string, string | undefined]> = {
  pending: ['circle-large-outline', 'disabledForeground'],
  blocked: ['lock', 'list.warningForeground'],
  ready: ['circle-large-outline', undefined],
  running: ['sync~spin', 'progressBar.background'],
  passed: ['pass-filled', 'testing.iconPassed'],
  warning: ['warning', 'list.warningForeground'],
  failed: ['error', 'testing.iconFailed'],
  waitingForTrust: ['workspace-untrusted', 'list.warningForeground'],
  skipped: ['debug-step-over', 'disabledForeground'],
  confirmed: ['check-all', 'testing.iconPassed'],
  interrupted: ['debug-disconnect', 'list.warningForeground'],
  stale: ['history', 'list.warningForeground'],
  notNeeded: ['circle-slash', 'disabledForeground'],
};

const WORD = STATE_WORD;

export function stateIcon(state: DisplayState): vscode.ThemeIcon {
  const [id, color] = ICON[state];
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

function contextValue(kind: string, state: DisplayState, actions: Actions, hasLog: boolean): string {
  const tokens = [kind];
  if (offersRun(state, actions.run)) tokens.push('canRun');
  if (actions.check) tokens.push('canCheck');
  if (actions.skip) tokens.push('canSkip');
  if (actions.confirm) tokens.push('canConfirm');
  if (actions.reset) tokens.push('canReset');
  if (hasLog) tokens.push('hasLog');
  return tokens.join(' ');
}

/**
 * The tree keeps one object per row for as long as the row exists and tells VS Code only about
 * rows whose rendering changed. A full refresh re-renders every row, and VS Code then rebuilds each
 * row's inline buttons: a Run clicked as the view refreshes for an unrelated reason (another
 * step's result, the freshness tick) reaches a button that is already gone and does nothing.
 */
export class RunbookTree implements vscode.TreeDataProvider<RunbookItem> {
  private readonly emitter = new vscode.EventEmitter<RunbookItem | RunbookItem[] | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private model: TreeModel = { kind: 'empty' };
  /** Row key → the row's object (handed to VS Code, so kept) and its rendering. */
  private rows = new Map<string, { item: RunbookItem; rendered: vscode.TreeItem }>();
  private shape: RowShape = [];
  private signatures = new Map<string, string>();

  update(model: TreeModel): void {
    this.model = model;
    const next = new Map<string, { item: RunbookItem; rendered: vscode.TreeItem }>();
    const shape: [string, string | undefined][] = [];
    const signatures = new Map<string, string>();
    const add = (key: string, parent: string | undefined, fresh: RunbookItem) => {
      // The old object, given the new content: VS Code knows rows by object, the commands read it.
      const item = Object.assign(this.rows.get(key)?.item ?? {}, fresh) as RunbookItem;
      const rendered = this.render(item);
      next.set(key, { item, rendered });
      shape.push([key, parent]);
      signatures.set(key, signature(rendered));
    };
    for (const top of this.topItems()) {
      const key = rowKey(top);
      add(key, undefined, top);
      if (top.kind === 'step') for (const node of top.step.nodes) add(rowKey({ kind: 'node', step: top.step, node }), key, { kind: 'node', step: top.step, node });
    }
    const change = changedRows(this.shape, this.signatures, shape, signatures);
    this.rows = next;
    this.shape = shape;
    this.signatures = signatures;
    if (change === 'all') this.emitter.fire(undefined);
    else if (change.length) this.emitter.fire(change.map((k) => next.get(k)!.item));
  }

  private topItems(): RunbookItem[] {
    const m = this.model;
    if (m.kind === 'problems') return [{ kind: 'problems', problems: m.problems }];
    if (m.kind === 'runbook') return m.steps.map((step) => ({ kind: 'step', step }));
    return [];
  }

  getChildren(element?: RunbookItem): RunbookItem[] {
    const parent = element ? rowKey(element) : undefined;
    return this.shape.filter(([, p]) => p === parent).flatMap(([k]) => {
      const row = this.rows.get(k);
      return row ? [row.item] : [];
    });
  }

  getTreeItem(item: RunbookItem): vscode.TreeItem {
    return this.rows.get(rowKey(item))?.rendered ?? this.render(item);
  }

  private render(item: RunbookItem): vscode.TreeItem {
    const hasLog = this.model.kind === 'runbook' ? this.model.hasLog : new Set<string>();
    if (item.kind === 'problems') {
      const n = item.problems.length;
      const t = new vscode.TreeItem(`ucd-cluster.json has ${n} problem${n === 1 ? '' : 's'}`);
      t.id = 'problems';
      t.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
      t.description = item.problems[0] ? `line ${item.problems[0].range.startLine + 1}: ${item.problems[0].message}` : '';
      t.tooltip = new vscode.MarkdownString(item.problems.map((p) => `- line ${p.range.startLine + 1}: ${escape(p.message)}`).join('\n'));
      t.command = { command: 'ucdUpgrade.showProblems', title: 'Show Problems' };
      t.contextValue = 'problems';
      return t;
    }
    if (item.kind === 'step') {
      const s = item.step;
      const t = new vscode.TreeItem(
        stepLabel(s),
        s.nodes.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
      );
      t.id = s.def.id;
      t.iconPath = stateIcon(s.state);
      const description = stepDescription(s);
      t.description = description;
      t.tooltip = stepTooltip(s);
      t.contextValue = contextValue('step', s.state, s.actions, hasLog.has(s.def.id));
      t.accessibilityInformation = { label: `Step ${s.number}, ${s.def.title}, ${description}` };
      return t;
    }
    const { step, node } = item;
    const t = new vscode.TreeItem(node.node, vscode.TreeItemCollapsibleState.None);
    t.id = `${step.def.id}@${node.node}`;
    t.iconPath = stateIcon(node.state);
    const description = nodeDescription(node);
    t.description = description;
    const md = new vscode.MarkdownString(`**${escape(node.node)}** — ${escape(`${step.number}. ${step.def.title}`)}\n\nState: **${WORD[node.state]}**`);
    if (node.detail) md.appendMarkdown(`\n\n${escape(description)}`);
    if (node.outcome && 'hint' in node.outcome && node.outcome.hint) md.appendMarkdown(`\n\nNext: ${escape(node.outcome.hint)}`);
    if (node.outcome) md.appendMarkdown(`\n\n_${new Date(node.outcome.at).toLocaleString()}_`);
    t.tooltip = md;
    t.contextValue = contextValue('node', node.state, node.actions, hasLog.has(t.id));
    t.accessibilityInformation = { label: `${node.node}, ${step.def.title}, ${description}` };
    return t;
  }

  getParent(item: RunbookItem): RunbookItem | undefined {
    return item.kind === 'node' ? { kind: 'step', step: item.step } : undefined;
  }
}

function rowKey(item: RunbookItem): string {
  if (item.kind === 'problems') return 'problems';
  return item.kind === 'step' ? item.step.def.id : `${item.step.def.id}@${item.node.node}`;
}

/** Everything VS Code draws of a row; equal signatures draw the same row. */
function signature(t: vscode.TreeItem): string {
  // ThemeIcon and ThemeColor are plain objects underneath: their JSON names icon and colour.
  const icon = JSON.stringify(t.iconPath);
  const tooltip = t.tooltip instanceof vscode.MarkdownString ? t.tooltip.value : t.tooltip;
  const label = typeof t.label === 'string' ? t.label : t.label?.label;
  return JSON.stringify([label, t.description, icon, tooltip, t.contextValue, t.collapsibleState, t.command?.command, t.accessibilityInformation?.label]);
}

function stepTooltip(s: StepView): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${s.number}. ${escape(s.def.title)}** — ${escape(stepDescription(s))}\n\n`);
  md.appendMarkdown(`> ${escape(s.def.doc)}\n\n`);
  if (s.outcome?.status === 'skipped') md.appendMarkdown(`Skipped: ${escape(s.outcome.reason)}\n\n`);
  if (s.outcome?.status === 'confirmed') md.appendMarkdown(`Confirmed manually: ${escape(s.outcome.note)}\n\n`);
  for (const n of s.nodes) {
    const o = n.outcome;
    if (o?.status === 'skipped') md.appendMarkdown(`${escape(n.node)} skipped: ${escape(o.reason)}\n\n`);
    if (o?.status === 'confirmed') md.appendMarkdown(`${escape(n.node)} confirmed: ${escape(o.note)}\n\n`);
  }
  if (s.reasons.length) md.appendMarkdown(`**Blocked by:**\n${s.reasons.map((r) => `- ${escape(r)}`).join('\n')}\n\n`);
  if (s.warnings.length) md.appendMarkdown(`**Warnings:**\n${s.warnings.map((r) => `- ${escape(r)}`).join('\n')}\n\n`);
  md.appendMarkdown(`**Run:** ${escape(s.def.action)}\n\n**Check:** ${escape(s.def.check)}`);
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}
