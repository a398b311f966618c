// Activation: build the parts and wire them. No logic of its own.
import * as vscode from 'vscode';
import type { HandlerTable } from './core/runbook/actions';
import { ClusterFile } from './vscode/clusterFile';
import { Controller } from './vscode/controller';
import { createLog } from './vscode/log';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = createLog();
  context.subscriptions.push(log);
  await vscode.commands.executeCommand('setContext', 'ucdUpgrade.hasClusterFile', false);

  const folder = vscode.workspace.workspaceFolders?.[0];
  const handlers: HandlerTable = {};
  if (!folder) {
    // The welcome view offers to open a folder; commands still need to exist.
    context.subscriptions.push(vscode.window.registerTreeDataProvider('ucdUpgrade.runbook', { getChildren: () => [], getTreeItem: (x: vscode.TreeItem) => x }));
    return;
  }
  const clusterFile = new ClusterFile(folder);
  const controller = new Controller(context.extensionUri, clusterFile, log, handlers);
  context.subscriptions.push(clusterFile, controller, ...controller.registerCommands());
  await clusterFile.reload();
}

export function deactivate(): void {}
