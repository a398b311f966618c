// Activation: build the parts and wire them. No logic of its own.
import * as vscode from 'vscode';
import { ClusterFile } from './vscode/clusterFile';
import { Controller } from './vscode/controller';
import { LocalTransport } from './core/remote/local';
import { probeNode } from './core/probes/node';
import type { ProbeFn } from './core/status/look';
import { buildRollback, sshTransports } from './core/steps/table';
import { editorDialogs } from './vscode/handlers';
import { buildHandlers, editorGuard } from './vscode/stepTable';
import type { Decision } from './core/journal/events';
import { RunLog } from './core/journal/transcript';
import { channelSink, createLog, teeChannel } from './vscode/log';
import { registerPreflight } from './vscode/preflight';
import { registerRollback } from './vscode/rollback';
import { secretsInUse } from './vscode/secretsInUse';
import { roleOf } from './core/trust';
import { createSshPool, createSudoPasswords, createTlsTrust, offerTrustReview, registerTrustReview, type MetDuring } from './vscode/trust';

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
  const loaded = () => (clusterFile.state.kind === 'loaded' && clusterFile.state.result.ok ? clusterFile.state.result.cluster : undefined);
  // A prompt after the trust pass says which step met it and what the endpoint is to the run.
  const met: MetDuring = {
    during: () => {
      const running = controller?.runSession?.view().filter((v) => v.state === 'running') ?? [];
      return running.length ? `during ${running.map((v) => `step ${v.number} “${v.def.title}”`).join(' and ')}` : undefined;
    },
    role: (host, port) => {
      const c = loaded();
      return c ? roleOf(c, host, port) : undefined;
    },
  };
  const pool = createSshPool(context, log, decided, met);
  context.subscriptions.push({ dispose: () => void pool.closeAll() });
  const tls = createTlsTrust(context, decided, met);
  const sudoPasswords = createSudoPasswords(context);
  const guard = editorGuard(pool, sudoPasswords);
  const handlers = buildHandlers({ context, pool, tls, cluster: loaded, sudoPasswords, guard });
  const rollback = buildRollback({ dialogs: editorDialogs, transportFor: sshTransports(pool), local: () => new LocalTransport(), trust: tls, sudoPasswords });
  // The status view's look: the SSH user's own rights (no sudo prompt), read-only, one round trip.
  const statusProbe: ProbeFn = (n, signal) => probeNode(() => sshTransports(pool)(n), n, { signal }).then((r) => r.probe);
  const ctl = new Controller(context.extensionUri, clusterFile, log, handlers, runLog, rollback, guard, { probe: statusProbe, memory: context.workspaceState }, () => pool.options.hostKeys.userFiles);
  controller = ctl;
  context.subscriptions.push(clusterFile, ctl, ...ctl.registerCommands());
  context.subscriptions.push(...registerRollback({ log, runner: () => ctl.runbookRunner, session: () => ctl.runSession }));
  const trustReview = { pool, tls, log, cluster: loaded };
  context.subscriptions.push(...registerTrustReview(trustReview));
  context.subscriptions.push(...registerPreflight({ context, pool, tls, log, cluster: loaded, session: () => ctl.runSession, reviewTrustFirst: (c) => offerTrustReview(trustReview, c) }));
  await clusterFile.reload();
}

export function deactivate(): void {}
