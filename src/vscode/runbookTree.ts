// The runbook tree: steps in the doc's order, node children, state icons, and contextValue
// tokens that the manifest's when-clauses read to enable Run/Check/Skip/Confirm/Reset.
import * as vscode from 'vscode';
import type { ClusterProblem } from '../core/cluster/types';
import { nodeDescription, offersRun, stepDescription, stepLabel, STATE_WORD } from '../core/runbook/rowText';
import type { Actions, DisplayState, NodeView, StepView } from '../core/runbook/view';

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

export class RunbookTree implements vscode.TreeDataProvider<RunbookItem> {
  private readonly emitter = new vscode.EventEmitter<RunbookItem | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private model: TreeModel = { kind: 'empty' };

  update(model: TreeModel): void {
    this.model = model;
    this.emitter.fire(undefined);
  }

  getChildren(element?: RunbookItem): RunbookItem[] {
    const m = this.model;
    if (!element) {
      if (m.kind === 'problems') return [{ kind: 'problems', problems: m.problems }];
      if (m.kind === 'runbook') return m.steps.map((step) => ({ kind: 'step', step }));
      return [];
    }
    if (element.kind === 'step') return element.step.nodes.map((node) => ({ kind: 'node', step: element.step, node }));
    return [];
  }

  getTreeItem(item: RunbookItem): vscode.TreeItem {
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
