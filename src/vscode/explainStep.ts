// Explain Step: a row's whole story in a dialog. Every row's context menu has it, so no row opens
// an empty menu (step 6 when not needed, a running step, an untrusted workspace).
import * as vscode from 'vscode';
import { explainStep, nodeDescription } from '../core/runbook/rowText';
import type { RunbookItem } from './runbookTree';

export async function showStepExplanation(item: RunbookItem | undefined): Promise<void> {
  if (!item || item.kind === 'problems') return;
  const e = explainStep(item.step);
  const detail = item.kind === 'node' ? `${item.node.node}: ${nodeDescription(item.node)}\n\n${e.detail}` : e.detail;
  await vscode.window.showInformationMessage(e.message, { modal: true, detail });
}
