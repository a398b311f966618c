// The "UCD Upgrade" log channel; every action logs node, command, exit code, duration, output.
// Lines about a node start with "[node]"; the tee keeps the recent ones per node, so "Show Log"
// on a node (tree or status view) opens just that node's record.
import * as vscode from 'vscode';
import type { ActionLog } from '../core/runbook/actions';

const KEEP_PER_NODE = 5_000;

export function createLog(): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel('UCD Upgrade', { log: true });
}

export const NODE_LOG_SCHEME = 'ucd-upgrade-log';

/** Also a read-only document provider (ucd-upgrade-log:/<node>.log): no save prompt on close, live while open. */
export class NodeLog implements ActionLog, vscode.TextDocumentContentProvider {
  private readonly lines = new Map<string, string[]>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(readonly channel: vscode.LogOutputChannel) {}

  static uri(node: string): vscode.Uri {
    return vscode.Uri.from({ scheme: NODE_LOG_SCHEME, path: `/${node}.log` });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const node = uri.path.replace(/^\//, '').replace(/\.log$/, '');
    const lines = this.of(node);
    return lines.length ? `${lines.join('\n')}\n` : `Nothing has been logged about ${node} in this window yet.\n`;
  }

  info(message: string): void {
    this.channel.info(message);
    this.keep('INFO', message);
  }

  warn(message: string): void {
    this.channel.warn(message);
    this.keep('WARN', message);
  }

  error(message: string): void {
    this.channel.error(message);
    this.keep('ERROR', message);
  }

  /** This window's lines about `node`, oldest first. */
  of(node: string): readonly string[] {
    return this.lines.get(node) ?? [];
  }

  private keep(level: string, message: string): void {
    const m = /^\[([^\]\s]+)\]/.exec(message);
    if (!m) return;
    const list = this.lines.get(m[1]) ?? [];
    list.push(`${new Date().toISOString()} [${level}] ${message}`);
    if (list.length > KEEP_PER_NODE) list.splice(0, list.length - KEEP_PER_NODE);
    this.lines.set(m[1], list);
    this.changed.fire(NodeLog.uri(m[1]));
  }
}
