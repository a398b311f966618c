// Hosts the cluster status webview: posts the core's ClusterStatus, turns the view's buttons into
// commands. One panel at a time; it keeps its DOM while hidden and its last state across reloads.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { ClusterStatus } from '../core/status/clusterStatus';

type ViewMessage = { type: 'ready' } | { type: 'checkNode' | 'openTerminal' | 'showLog'; node: string };

export interface StatusPanelActions {
  checkNode(node: string): void;
  openTerminal(node: string): void;
  showLog(node: string): void;
}

export class StatusPanel implements vscode.Disposable {
  static readonly viewType = 'ucdUpgrade.status';
  private panel: vscode.WebviewPanel | undefined;
  private last: { status: ClusterStatus; running: readonly string[] } | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly actions: StatusPanelActions) {}

  show(): void {
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(StatusPanel.viewType, 'UCD Cluster Status', vscode.ViewColumn.Beside, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist', 'media'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    });
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'ucd.svg');
    panel.webview.html = this.html(panel.webview);
    panel.webview.onDidReceiveMessage((m: ViewMessage) => this.onMessage(m));
    panel.onDidDispose(() => (this.panel = undefined));
    this.panel = panel;
  }

  update(status: ClusterStatus, running: readonly string[]): void {
    this.last = { status, running };
    void this.panel?.webview.postMessage({ type: 'status', status, running });
  }

  dispose(): void {
    this.panel?.dispose();
  }

  private onMessage(m: ViewMessage): void {
    switch (m.type) {
      case 'ready':
        if (this.last) void this.panel?.webview.postMessage({ type: 'status', ...this.last });
        break;
      case 'checkNode': this.actions.checkNode(m.node); break;
      case 'openTerminal': this.actions.openTerminal(m.node); break;
      case 'showLog': this.actions.showLog(m.node); break;
    }
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'media', 'status.js'));
    const css = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'status', 'status.css'));
    const csp = [`default-src 'none'`, `style-src ${webview.cspSource}`, `font-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>UCD Cluster Status</title>
</head>
<body>
<main id="root" aria-live="polite"><p>Waiting for the first status…</p></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}
