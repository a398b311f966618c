// The Roll back command: offered once the first installer has started (the context key
// ucdUpgrade.rollbackOffered, set from the journal's phase); it asks the core's runner, which
// refuses, asks and does the work, and says the outcome in the runner's own words.
import * as vscode from 'vscode';
import type { Runner } from '../core/runbook/runner';
import type { RunSession } from '../core/runbook/session';

export interface RollbackCommandDeps {
  readonly log: vscode.LogOutputChannel;
  readonly runner: () => Runner | undefined;
  readonly session: () => RunSession | undefined;
}

let offered: boolean | undefined;

/** Keeps the tree's and the palette's Roll back in step with the run: shown from the first installer on. */
export function updateRollbackContext(session: RunSession | undefined): void {
  const now = session !== undefined && session.phase().kind !== 'preparing';
  if (now === offered) return;
  offered = now;
  void vscode.commands.executeCommand('setContext', 'ucdUpgrade.rollbackOffered', now);
}

async function rollback(deps: RollbackCommandDeps): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('UCD Upgrade: this workspace is not trusted, so nothing runs. Trust the workspace to roll back.');
    return;
  }
  const runner = deps.runner();
  const session = deps.session();
  if (!runner || !session) {
    void vscode.window.showWarningMessage('UCD Upgrade: there is no run to roll back (the cluster file is missing or has problems).');
    return;
  }
  if (session.role.kind !== 'owner') {
    void vscode.window.showWarningMessage('UCD Upgrade: this run is owned by another window; roll back from there.');
    return;
  }
  const c = session.cluster;
  // Not cancellable: stopped halfway, a restore leaves the database or an install half-written.
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `UCD Upgrade: rolling back ${c.name} to ${c.currentVersion}` },
    () => runner.rollback(),
  );
  switch (result.kind) {
    case 'declined':
      return;
    case 'refused':
      void vscode.window.showWarningMessage(`UCD Upgrade: Roll back refused, nothing was done: ${result.reasons.join('; ')}`);
      return;
    case 'done':
      if (result.verdict === 'passed') void vscode.window.showInformationMessage(`UCD Upgrade: ${result.evidence.join('; ')}.`);
      else void vscode.window.showErrorMessage(`UCD Upgrade: Roll back FAILED: ${result.evidence.join('; ')}. The journal and Export Run Report say what each stage did and what to do next.`);
      return;
    case 'busy':
      void vscode.window.showInformationMessage(`UCD Upgrade: Roll back not started: ${result.running}.`);
      return;
    case 'unavailable':
      void vscode.window.showInformationMessage(result.reason);
      return;
    case 'error':
      void vscode.window.showErrorMessage(`UCD Upgrade: Roll back: ${result.message}`);
      return;
  }
}

export function registerRollback(deps: RollbackCommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('ucdUpgrade.rollback', () => rollback(deps).catch((e: Error) => {
      deps.log.error(`rollback: ${e.stack ?? e.message}`);
      void vscode.window.showErrorMessage(`UCD Upgrade: Roll back did not complete: ${e.message}`);
    })),
  ];
}
