// How a command that reaches the cluster starts: with a cluster file that loaded and a trusted
// workspace, or with a warning that names what was about to be done and what to fix first.
import * as vscode from 'vscode';
import type { Cluster } from '../core/cluster/types';

/** The cluster to contact for `doing` ("run the pre-flight"), or undefined once the user is told why not. */
export function clusterToContact(cluster: Cluster | undefined, doing: string): Cluster | undefined {
  if (!cluster) {
    void vscode.window.showWarningMessage(`UCD Upgrade: the cluster file is missing or has problems; fix them, then ${doing}.`);
    return undefined;
  }
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage(`UCD Upgrade: this workspace is not trusted, so nothing is contacted. Trust the workspace first, then ${doing}.`);
    return undefined;
  }
  return cluster;
}
