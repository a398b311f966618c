// Activation: build the parts and wire them. No logic of its own.
import * as vscode from 'vscode';
import { ClusterFile } from './vscode/clusterFile';
import { Controller } from './vscode/controller';
import { LocalTransport } from './core/remote/local';
import { buildRollback, sshTransports } from './core/steps/table';
import { editorDialogs } from './vscode/handlers';
import { buildHandlers, editorGuard } from './vscode/stepTable';
import type { Decision } from './core/journal/events';
import { RunLog } from './core/journal/transcript';
import { channelSink, createLog, teeChannel } from './vscode/log';
import { registerPreflight } from './vscode/preflight';
import { registerRollback } from './vscode/rollback';
import { secretsInUse } from './vscode/secretsInUse';
import { createSshPool, createSudoPasswords, createTlsTrust } from './vscode/trust';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const channel = createLog();
  context.subscriptions.push(channel);
  // Every line, from the steps or the glue, is masked and kept on disk beside the journal.
  const runLog = new RunLog(secretsInUse.mask, channelSink(channel));
  const log = teeChannel(channel, runLog);
  await vscode.commands.executeCommand('setContext', 'ucdUpgrade.hasClusterFile', false);

  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    // The welcome view offers to open a folder; commands still need to exist.
    context.subscriptions.push(vscode.window.registerTreeDataProvider('ucdUpgrade.runbook', { getChildren: () => [], getTreeItem: (x: vscode.TreeItem) => x }));
    return;
  }
  const clusterFile = new ClusterFile(folder);
  // Accepted host keys and certificates go to the run's journal, once the controller has a run.
  let controller: Controller | undefined;
  const decided = (d: Decision) => controller?.recordDecision(d);
  const pool = createSshPool(context, log, decided);
  context.subscriptions.push({ dispose: () => void pool.closeAll() });
  const tls = createTlsTrust(context, decided);
  const loaded = () => (clusterFile.state.kind === 'loaded' && clusterFile.state.result.ok ? clusterFile.state.result.cluster : undefined);
  const sudoPasswords = createSudoPasswords(context);
  const guard = editorGuard(pool, sudoPasswords);
  const handlers = buildHandlers({ context, pool, tls, cluster: loaded, sudoPasswords, guard });
  const rollback = buildRollback({ dialogs: editorDialogs, transportFor: sshTransports(pool), local: () => new LocalTransport(), trust: tls, sudoPasswords });
  const ctl = new Controller(context.extensionUri, clusterFile, log, handlers, runLog, rollback, guard);
  controller = ctl;
  context.subscriptions.push(clusterFile, ctl, ...ctl.registerCommands());
  context.subscriptions.push(...registerRollback({ log, runner: () => ctl.runbookRunner, session: () => ctl.runSession }));
  context.subscriptions.push(...registerPreflight({ context, pool, tls, log, cluster: loaded, session: () => ctl.runSession }));
  await clusterFile.reload();
}

export function deactivate(): void {}
