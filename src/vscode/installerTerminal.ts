// Hands a live installer to the engineer: an editor terminal showing the installer's log on the
// node as it grows (with what it printed so far) and sending each line typed to its input, so
// they answer the prompt the runbook did not know and the run goes on exactly where it stopped.
// The installer runs detached on the node: closing this terminal (or reloading the window) lets
// go of it, it does not end it; the runbook hands it over again if it still waits.
import * as vscode from 'vscode';
import type { InstallerSession } from '../core/steps/installerInput';
import { asksForSecret, LineInput } from '../core/ucd/installer/lineInput';

const toTerminal = (s: string) => s.replace(/\r?\n/g, '\r\n');

export function handOverToTerminal(node: string, session: InstallerSession, backlog: string, why: string): Promise<void> {
  const write = new vscode.EventEmitter<string>();
  const close = new vscode.EventEmitter<number | void>();
  let open = false;
  let pending = '';
  let lastOutput = backlog.slice(-2000);
  const input = new LineInput(() => asksForSecret(lastOutput));
  session.onData((chunk) => {
    lastOutput = (lastOutput + chunk).slice(-2000);
    if (open) write.fire(toTerminal(chunk));
    else pending += chunk;
  });
  void session.exit.then((e) => {
    const said = e.code !== null
      ? `[installer on ${node} ended with exit ${e.code}; the runbook records the result]`
      : `[this window no longer follows the installer on ${node}; it keeps running there. Check the step to follow it again]`;
    write.fire(`\r\n\x1b[2m${said}\x1b[0m\r\n`);
    close.fire(e.code ?? undefined);
  });
  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    onDidClose: close.event,
    open: () => {
      open = true;
      write.fire(`\x1b[33m[UCD Upgrade] ${why}\r\nYou now have the installer on ${node}. Type the answer and press Enter; closing this terminal leaves it running.\x1b[0m\r\n\r\n`);
      write.fire(toTerminal(backlog.slice(-8000) + pending));
      pending = '';
    },
    handleInput: (data) => {
      const fed = input.feed(data);
      if (fed.echo) write.fire(fed.echo);
      for (const line of fed.lines) session.write(`${line}\n`);
    },
    close: () => session.close(),
  };
  const terminal = vscode.window.createTerminal({ name: `UCD installer: ${node}`, pty, iconPath: new vscode.ThemeIcon('tools') });
  terminal.show();
  void vscode.window.showWarningMessage(`UCD Upgrade: the installer on ${node} asked something the runbook does not know. It is yours in the terminal "UCD installer: ${node}".`);
  return Promise.resolve();
}
