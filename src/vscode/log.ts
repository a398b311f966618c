import * as vscode from 'vscode';
import type { ActionLog } from '../core/runbook/actions';

/** The "UCD Upgrade" log channel; every action logs node, command, exit code, duration, output. */
export function createLog(): vscode.LogOutputChannel & ActionLog {
  return vscode.window.createOutputChannel('UCD Upgrade', { log: true });
}
