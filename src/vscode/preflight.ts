// The pre-flight command: runs the core's read-only pre-flight with the editor's SSH pool, TLS trust
// and credential, records its result in the run journal (a failed one blocks step 1, gates.ts),
// writes the Markdown report beside the journal and opens it. And the skip, with a reason.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { clusterToContact } from './contactGuard';
import type { Cluster } from '../core/cluster/types';
import { renderPreflightReport } from '../core/preflight/report';
import { findingsOf, runPreflight } from '../core/preflight/run';
import { LocalTransport } from '../core/remote/local';
import type { SshPool } from '../core/remote/ssh';
import type { RunSession } from '../core/runbook/session';
import { fetchLoginPage } from '../core/ucd/loginPage';
import { UcdRestClient } from '../core/ucd/rest/client';
import type { TlsTrust } from '../core/ucd/rest/tls';
import { sshTransports } from '../core/steps/table';
import { credentialSource } from './trust';

export interface PreflightCommandDeps {
  readonly context: vscode.ExtensionContext;
  readonly pool: SshPool;
  readonly tls: TlsTrust;
  readonly log: vscode.LogOutputChannel;
  readonly cluster: () => Cluster | undefined;
  readonly session: () => RunSession | undefined;
  /** Offers the one trust review before anything is contacted (trust.ts offerTrustReview). */
  readonly reviewTrustFirst?: (cluster: Cluster) => Promise<void>;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-');
}

async function run(deps: PreflightCommandDeps): Promise<void> {
  const cluster = clusterToContact(deps.cluster(), 'run the pre-flight');
  if (!cluster) return;
  await deps.reviewTrustFirst?.(cluster);
  const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialSource(deps.context, cluster.ucd.credential), pins: deps.tls.pins, prompt: deps.tls.prompt, ...(deps.tls.onAccepted ? { onAccepted: deps.tls.onAccepted } : {}), credentialName: cluster.ucd.credential });
  const packageBytes = cluster.package.kind === 'local' && fs.existsSync(cluster.package.file) ? fs.statSync(cluster.package.file).size : undefined;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `UCD Upgrade: pre-flight of ${cluster.name} (read-only)`, cancellable: true }, (_p, token) => {
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    return runPreflight(cluster, {
      transportFor: sshTransports(deps.pool),
      // A backup that runs on this machine: its database check runs here too.
      local: () => new LocalTransport(),
      servers: (signal) => rest.servers(signal),
      loginPage: (url, signal) => fetchLoginPage(url, deps.tls, signal ? { signal } : {}),
      ...(packageBytes !== undefined ? { packageBytes } : {}),
      onExec: (node, _script, stdout, stderr, code) => deps.log.info(`[${node}] pre-flight probe exit ${code}\n${stdout}${stderr ? `\nstderr:\n${stderr}` : ''}`),
    }, abort.signal);
  });
  const findings = findingsOf(result);
  const session = deps.session();
  let recorded = 'not recorded (no run session)';
  if (session && session.cluster.name === cluster.name) {
    try {
      session.recordPreflight(result.verdict, findings);
      recorded = `recorded in ${path.basename(session.journalFile)}`;
    } catch (e) {
      recorded = `not recorded: ${(e as Error).message}`;
    }
  }
  const dir = session ? path.dirname(session.journalFile) : path.join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '.', '.ucd-upgrade');
  const file = vscode.Uri.file(path.join(dir, `${cluster.name}-preflight-${stamp(new Date(result.at))}.md`));
  await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(renderPreflightReport(result)));
  deps.log.info(`pre-flight ${result.verdict}: ${findings.join(' | ')}; ${recorded}; report ${file.fsPath}`);
  await vscode.window.showTextDocument(file);
  const say = `UCD Upgrade: pre-flight ${result.verdict === 'failed' ? 'FAILED' : result.verdict === 'warning' ? 'passed with warnings' : 'passed'} (${recorded}).`;
  if (result.verdict === 'failed') void vscode.window.showErrorMessage(`${say} Step 1 is blocked until a pre-flight passes or is skipped with a reason.`);
  else void vscode.window.showInformationMessage(say);
}

async function skip(deps: PreflightCommandDeps): Promise<void> {
  const session = deps.session();
  if (!session) {
    void vscode.window.showWarningMessage('UCD Upgrade: there is no run to record the skip in (the cluster file is missing or has problems).');
    return;
  }
  const reason = await vscode.window.showInputBox({
    title: 'Skip the pre-flight',
    prompt: 'Give the reason for going on without a passed pre-flight (it is recorded in the run journal and the report).',
    placeHolder: 'e.g. ucd3 is a cold standby, checked by hand, ticket CHG-1234',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'A reason is required.'),
  });
  if (reason === undefined) return;
  try {
    session.skipPreflight(reason);
    void vscode.window.showInformationMessage('UCD Upgrade: pre-flight skipped; the reason is recorded.');
  } catch (e) {
    void vscode.window.showErrorMessage(`UCD Upgrade: the skip was not recorded: ${(e as Error).message}`);
  }
}

export function registerPreflight(deps: PreflightCommandDeps): vscode.Disposable[] {
  const guarded = (fn: () => Promise<void>) => () => fn().catch((e: Error) => {
    deps.log.error(`pre-flight: ${e.stack ?? e.message}`);
    void vscode.window.showErrorMessage(`UCD Upgrade: the pre-flight did not complete: ${e.message}`);
  });
  return [
    vscode.commands.registerCommand('ucdUpgrade.preflight', guarded(() => run(deps))),
    vscode.commands.registerCommand('ucdUpgrade.skipPreflight', guarded(() => skip(deps))),
  ];
}
