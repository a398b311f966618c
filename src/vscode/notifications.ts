// The core's notices (runbook/notices.ts) as editor notifications, each with the one button that
// helps next: a failure or refusal opens the log of the node it names; the upgrade's end offers
// the report for the change record.
import * as vscode from 'vscode';
import type { Notice } from '../core/runbook/notices';

export interface NoticeActions {
  showLog(node: string): void;
  exportReport(): void;
}

const SHOW_LOG = 'Show Log';
const EXPORT_REPORT = 'Export Run Report';

export async function showNotice(n: Notice, actions: NoticeActions): Promise<void> {
  const message = `UCD Upgrade: ${n.message}`;
  if (n.severity === 'info') {
    if ((await vscode.window.showInformationMessage(message, EXPORT_REPORT)) === EXPORT_REPORT) actions.exportReport();
    return;
  }
  const node = n.nodes[0];
  const buttons = node !== undefined ? [SHOW_LOG] : [];
  const pick = n.severity === 'error' ? await vscode.window.showErrorMessage(message, ...buttons) : await vscode.window.showWarningMessage(message, ...buttons);
  if (pick === SHOW_LOG && node !== undefined) actions.showLog(node);
}
