// Activation: build the parts and wire them. No logic of its own.
import * as vscode from 'vscode';
import { ClusterFile } from './vscode/clusterFile';
import { Controller } from './vscode/controller';
import { LocalTransport } from './core/remote/local';
import { buildRollback } from './core/steps/table';
import { buildHandlers, editorDialogs, transportFor } from './vscode/handlers';
import { createLog } from './vscode/log';
import { registerPreflight } from './vscode/preflight';
import { registerRollback } from './vscode/rollback';
import { createSshPool, createSudoPasswords, createTlsTrust } from './vscode/trust';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = createLog();
  context.subscriptions.push(log);
  await vscode.commands.executeCommand('setContext', 'ucdUpgrade.hasClusterFile', false);

  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    // The welcome view offers to open a folder; commands still need to exist.
    context.subscriptions.push(vscode.window.registerTreeDataProvider('ucdUpgrade.runbook', { getChildren: () => [], getTreeItem: (x: vscode.TreeItem) => x }));
    return;
  }
  const clusterFile = new ClusterFile(folder);
  const pool = createSshPool(context, log);
  context.subscriptions.push({ dispose: () => void pool.closeAll() });
  const tls = createTlsTrust(context);
  const loaded = () => (clusterFile.state.kind === 'loaded' && clusterFile.state.result.ok ? clusterFile.state.result.cluster : undefined);
  const sudoPasswords = createSudoPasswords(context);
  const handlers = buildHandlers({ context, pool, tls, cluster: loaded, sudoPasswords });
  const rollback = buildRollback({ dialogs: editorDialogs, transportFor: transportFor(pool), local: () => new LocalTransport(), trust: tls, sudoPasswords });
  const controller = new Controller(context.extensionUri, clusterFile, log, handlers, rollback);
  context.subscriptions.push(clusterFile, controller, ...controller.registerCommands());
  context.subscriptions.push(...registerRollback({ log, runner: () => controller.runbookRunner, session: () => controller.runSession }));
  context.subscriptions.push(...registerPreflight({ context, pool, tls, log, cluster: loaded, session: () => controller.runSession }));
  await clusterFile.reload();
}

export function deactivate(): void {}
