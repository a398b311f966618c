// Activation: build the parts and wire them. No logic of its own.
import * as vscode from 'vscode';
import { ClusterFile } from './vscode/clusterFile';
import { Controller } from './vscode/controller';
import { buildHandlers, editorGuard } from './vscode/handlers';
import { createLog } from './vscode/log';
import { registerPreflight } from './vscode/preflight';
import { createSshPool, createTlsTrust } from './vscode/trust';

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
  const guard = editorGuard(pool);
  const handlers = buildHandlers({ context, pool, tls, cluster: loaded, guard });
  const controller = new Controller(context.extensionUri, clusterFile, log, handlers, guard);
  context.subscriptions.push(clusterFile, controller, ...controller.registerCommands());
  context.subscriptions.push(...registerPreflight({ context, pool, tls, log, cluster: loaded, session: () => controller.runSession }));
  await clusterFile.reload();
}

export function deactivate(): void {}
