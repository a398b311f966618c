// The "UCD Upgrade" log channel. The run's logger (core/journal/transcript.ts) writes every line to
// the transcripts on disk beside the journal and shows it here; Show Log on a node opens that
// node's transcript, so what it says survives a reload.
import * as vscode from 'vscode';
import type { LogSink, RunLog } from '../core/journal/transcript';

export function createLog(): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel('UCD Upgrade', { log: true });
}

/** The channel as the run's logger shows its (already masked) lines. */
export function channelSink(channel: vscode.LogOutputChannel): LogSink {
  return (level, line) => channel[level](line);
}

/**
 * The channel as the rest of the glue writes to it: every line goes through the run's logger, so
 * it is masked, on disk and then shown; the channel's own controls are the channel's.
 */
export function teeChannel(channel: vscode.LogOutputChannel, runLog: RunLog): vscode.LogOutputChannel {
  return {
    get name() {
      return channel.name;
    },
    get logLevel() {
      return channel.logLevel;
    },
    onDidChangeLogLevel: channel.onDidChangeLogLevel,
    trace: (message: string) => runLog.debug(message),
    debug: (message: string) => runLog.debug(message),
    info: (message: string) => runLog.info(message),
    warn: (message: string) => runLog.warn(message),
    error: (e: string | Error) => runLog.error(typeof e === 'string' ? e : e.stack ?? e.message),
    append: (value: string) => channel.append(value),
    appendLine: (value: string) => channel.appendLine(value),
    replace: (value: string) => channel.replace(value),
    clear: () => channel.clear(),
    show: (...args: unknown[]) => (channel.show as (...a: unknown[]) => void)(...args),
    hide: () => channel.hide(),
    dispose: () => channel.dispose(),
  };
}

/** A node's transcript in an editor tab of its own, in the main area, kept open (not a preview). */
export async function showTranscript(file: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  if (doc.languageId !== 'log') await vscode.languages.setTextDocumentLanguage(doc, 'log');
  await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.Active });
}
