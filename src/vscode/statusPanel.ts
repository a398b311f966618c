// Hosts the cluster status webview: computes the core's ClusterStatus from what the controller
// hands it and the view's own looks at the nodes, posts it, and turns the view's buttons into
// commands. One panel at a time; on opening (and when a reload brings it back) it probes every
// node once (core/status/look.ts decides which may be probed). It keeps its DOM while hidden; the
// page keeps its last state (setState) and the serializer brings the panel back after a reload.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { Cluster } from '../core/cluster/types';
import type { JournalEvent } from '../core/journal/events';
import type { Following } from '../core/runbook/following';
import type { RunState } from '../core/runbook/state';
import type { StepView } from '../core/runbook/view';
import { clusterStatus } from '../core/status/clusterStatus';
import { lookAtCluster, lookPlan, type Look, type ProbeFn } from '../core/status/look';

type ViewMessage = { type: 'ready' } | { type: 'checkNode' | 'openTerminal' | 'showLog'; node: string };

export interface StatusPanelActions {
  checkNode(node: string): void;
  openTerminal(node: string): void;
  showLog(node: string): void;
  /** One read-only round trip to a node (probes/node.ts); without it the view only shows the journal. */
  readonly probe?: ProbeFn;
  /**
   * Where the last looks are kept across a reload (the workspace's state: facts a probe saw, with
   * their times; no secret is in them), so the restored page is not blanked while it looks again.
   */
  readonly memory?: vscode.Memento;
}

const LOOKS_KEY = 'ucdUpgrade.statusLooks';
interface SavedLooks {
  readonly cluster: string;
  readonly looks: readonly (readonly [string, Look])[];
}

/** What the status is computed from: the loaded run as the tree shows it. */
export interface StatusInput {
  readonly cluster: Cluster;
  readonly events: readonly JournalEvent[];
  readonly state: RunState;
  readonly following: ReadonlyMap<string, Following>;
  readonly views: readonly StepView[];
  /** Nodes an action of the run is working on: their Check waits. */
  readonly running: readonly string[];
}

export class StatusPanel implements vscode.Disposable {
  static readonly viewType = 'ucdUpgrade.status';
  private panel: vscode.WebviewPanel | undefined;
  private input: StatusInput | undefined;
  private clusterKey = '';
  private readonly looks = new Map<string, Look>();
  private readonly probing = new Map<string, string>();
  /** Set when the panel opened (or came back) before there was a run to look at. */
  private lookWanted = false;
  private lookAbort: AbortController | undefined;
  private readonly serializer: vscode.Disposable;

  constructor(private readonly extensionUri: vscode.Uri, private readonly actions: StatusPanelActions) {
    // A reload brings the panel back with its page's saved state; the look then starts afresh.
    this.serializer = vscode.window.registerWebviewPanelSerializer(StatusPanel.viewType, {
      deserializeWebviewPanel: async (panel) => {
        if (this.panel) {
          panel.dispose();
          return;
        }
        this.adopt(panel);
      },
    });
  }

  show(): void {
    if (this.panel) {
      this.panel.reveal();
      this.look();
      return;
    }
    const panel = vscode.window.createWebviewPanel(StatusPanel.viewType, 'UCD Cluster Status', vscode.ViewColumn.Beside, {
      ...this.webviewOptions(),
      retainContextWhenHidden: true,
    });
    this.adopt(panel);
  }

  update(input: StatusInput): void {
    const key = JSON.stringify(input.cluster);
    // Another cluster file (or an edited entry): what was seen through the old entries says nothing now.
    if (key !== this.clusterKey) {
      this.clusterKey = key;
      this.lookAbort?.abort();
      this.probing.clear();
      this.looks.clear();
      const saved = this.actions.memory?.get<SavedLooks>(LOOKS_KEY);
      if (saved?.cluster === key) for (const [node, look] of saved.looks) this.looks.set(node, look);
    }
    this.input = input;
    if (this.lookWanted) this.look();
    this.post();
  }

  dispose(): void {
    this.lookAbort?.abort();
    this.panel?.dispose();
    this.serializer.dispose();
  }

  private webviewOptions(): vscode.WebviewOptions {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist', 'media'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
  }

  private adopt(panel: vscode.WebviewPanel): void {
    panel.webview.options = this.webviewOptions();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'ucd.svg');
    panel.webview.html = this.html(panel.webview);
    panel.webview.onDidReceiveMessage((m: ViewMessage) => this.onMessage(m));
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.lookAbort?.abort();
      this.lookAbort = undefined;
      this.probing.clear();
    });
    this.panel = panel;
    this.look();
  }

  /** Probes every node the core allows, in parallel; a node still being probed is not asked twice. */
  private look(): void {
    const input = this.input;
    const probe = this.actions.probe;
    if (!this.panel || !probe) return;
    if (!input) {
      this.lookWanted = true;
      return;
    }
    this.lookWanted = false;
    const plan = lookPlan(input.cluster, input.state, { trusted: vscode.workspace.isTrusted })
      .filter((p) => !this.probing.has(p.node.name));
    if (!plan.length) return;
    const abort = this.lookAbort && !this.lookAbort.signal.aborted ? this.lookAbort : (this.lookAbort = new AbortController());
    const key = this.clusterKey;
    void lookAtCluster(plan, probe, {
      started: (node, since) => {
        this.probing.set(node, since);
        this.post();
      },
      answered: (node, look) => {
        if (abort.signal.aborted) return;
        this.probing.delete(node);
        this.looks.set(node, look);
        void this.actions.memory?.update(LOOKS_KEY, { cluster: key, looks: [...this.looks] } satisfies SavedLooks);
        this.post();
      },
    }, abort.signal);
  }

  private post(): void {
    const input = this.input;
    if (!this.panel || !input) return;
    const status = clusterStatus(input.cluster, input.events, input.state, input.following, { views: input.views, looks: this.looks, probing: this.probing });
    void this.panel.webview.postMessage({ type: 'status', status, running: input.running });
  }

  private onMessage(m: ViewMessage): void {
    switch (m.type) {
      case 'ready': this.post(); break;
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
