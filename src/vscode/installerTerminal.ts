// Hands a live installer session to the engineer: an editor terminal (Pseudoterminal) over the
// very same SSH channel, with what the installer printed so far, so they answer the prompt the
// runbook did not know and the run goes on exactly where it stopped.
import * as vscode from 'vscode';
import type { PtySession } from '../core/remote/ssh';

const toTerminal = (s: string) => s.replace(/\r?\n/g, '\r\n');

export function handOverToTerminal(node: string, session: PtySession, backlog: string, why: string): Promise<void> {
  const write = new vscode.EventEmitter<string>();
  const close = new vscode.EventEmitter<number | void>();
  let open = false;
  let pending = '';
  session.onData((chunk) => {
    if (open) write.fire(toTerminal(chunk));
    else pending += chunk;
  });
  void session.exit.then((e) => {
    write.fire(`\r\n\x1b[2m[installer on ${node} ended${e.code !== null ? ` with exit ${e.code}` : ''}; the runbook records the result]\x1b[0m\r\n`);
    close.fire(e.code ?? undefined);
  });
  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    onDidClose: close.event,
    open: (dims) => {
      open = true;
      if (dims) session.resize(dims.rows, dims.columns);
      write.fire(`\x1b[33m[UCD Upgrade] ${why}\r\nYou now have the installer on ${node}. Answer it here.\x1b[0m\r\n\r\n`);
      write.fire(toTerminal(backlog.slice(-8000) + pending));
      pending = '';
    },
    handleInput: (data) => session.write(data),
    setDimensions: (d) => session.resize(d.rows, d.columns),
    // Closing the terminal hangs up, as closing any terminal would.
    close: () => session.close(),
  };
  const terminal = vscode.window.createTerminal({ name: `UCD installer: ${node}`, pty, iconPath: new vscode.ThemeIcon('tools') });
  terminal.show();
  void vscode.window.showWarningMessage(`UCD Upgrade: the installer on ${node} asked something the runbook does not know. It is yours in the terminal "UCD installer: ${node}".`);
  return Promise.resolve();
}
