// Finds, watches and loads ucd-cluster.json; publishes its problems to the Problems panel.
// The open editor's text wins over the disk, so the tree follows what the user is typing.
import * as vscode from 'vscode';
import { CLUSTER_FILE_NAME, loadCluster } from '../core/cluster/load';
import type { ClusterLoadResult, ClusterProblem } from '../core/cluster/types';

export const DIAGNOSTIC_SOURCE = 'UCD cluster file';

export type ClusterFileState =
  | { readonly kind: 'none' }
  | { readonly kind: 'loaded'; readonly uri: vscode.Uri; readonly result: ClusterLoadResult };

export class ClusterFile implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ClusterFileState>();
  readonly onDidChange = this.emitter.event;
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('ucd-cluster');
  private readonly disposables: vscode.Disposable[] = [this.emitter, this.diagnostics];
  private timer: NodeJS.Timeout | undefined;
  private current: ClusterFileState = { kind: 'none' };

  constructor(readonly folder: vscode.WorkspaceFolder) {
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, CLUSTER_FILE_NAME));
    this.disposables.push(
      watcher,
      watcher.onDidCreate(() => this.schedule(0)),
      watcher.onDidChange(() => this.schedule(0)),
      watcher.onDidDelete(() => this.schedule(0)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.isOurs(e.document.uri)) this.schedule(250);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (this.isOurs(d.uri)) this.schedule(0);
      }),
    );
  }

  get uri(): vscode.Uri {
    return vscode.Uri.joinPath(this.folder.uri, CLUSTER_FILE_NAME);
  }

  get state(): ClusterFileState {
    return this.current;
  }

  async reload(): Promise<ClusterFileState> {
    const text = await this.readText();
    if (text === undefined) {
      this.current = { kind: 'none' };
      this.diagnostics.clear();
    } else {
      const result = loadSafely(text);
      this.current = { kind: 'loaded', uri: this.uri, result };
      this.diagnostics.set(this.uri, result.problems.map(toDiagnostic));
    }
    await vscode.commands.executeCommand('setContext', 'ucdUpgrade.hasClusterFile', this.current.kind === 'loaded');
    this.emitter.fire(this.current);
    return this.current;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), ms);
  }

  private isOurs(uri: vscode.Uri): boolean {
    return uri.toString() === this.uri.toString();
  }

  private async readText(): Promise<string | undefined> {
    const open = vscode.workspace.textDocuments.find((d) => this.isOurs(d.uri));
    if (open) return open.getText();
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(this.uri));
    } catch {
      return undefined;
    }
  }
}

/** Whatever goes wrong, the previous cluster must not stay current: a failed load is a broken file. */
function loadSafely(text: string): ClusterLoadResult {
  try {
    return loadCluster(text);
  } catch (e) {
    const range = { startLine: 0, startCharacter: 0, endLine: 0, endCharacter: 1 };
    return { ok: false, problems: [{ message: `The cluster file could not be read: ${(e as Error).message}`, range, severity: 'error', path: [] }] };
  }
}

function toDiagnostic(p: ClusterProblem): vscode.Diagnostic {
  const d = new vscode.Diagnostic(
    new vscode.Range(p.range.startLine, p.range.startCharacter, p.range.endLine, p.range.endCharacter),
    p.message,
    p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
  );
  d.source = DIAGNOSTIC_SOURCE;
  return d;
}
