// The one way the extension asks before something it cannot undo. How VS Code lays out a modal
// showWarningMessage (MainThreadMessageService._showModalMessage and the workbench Dialog, read in
// VS Code 1.139): items marked isCloseAffordance are taken out and the last of them becomes the
// cancel button, which Escape, the close box and a dismissed dialog all answer; the other items
// keep their order, and the first of them gets the focus, so Enter answers it. Without a close
// item VS Code adds its own "Cancel" (answers undefined).
// So no pair of items makes one button both the focused one and the Escape one: the safe answer
// goes first (Enter) and VS Code's Cancel (Escape) does the same; the destructive item comes
// second and only a click on its exact label chooses it.
import * as vscode from 'vscode';

/**
 * Asks `question`; true only when the person clicked `destructiveLabel`. Enter, Escape, Cancel,
 * the close box and `safeLabel` all answer false. `detail` says what will be done; when the core's
 * question does not already say what each answer does, `what` adds one line for each below it
 * (never both: a dialog explains its buttons once).
 */
export async function confirmDestructive(question: string, detail: string, destructiveLabel: string, safeLabel: string, what?: { destructive: string; safe: string }): Promise<boolean> {
  const safe: vscode.MessageItem = { title: safeLabel };
  const destructive: vscode.MessageItem = { title: destructiveLabel };
  const answers = what ? [
    `${destructiveLabel}: ${what.destructive}`,
    `${safeLabel} (Enter) or Cancel (Escape): ${what.safe}`,
  ].join('\n') : '';
  const text = [detail, answers].filter(Boolean).join('\n\n');
  const choice = await vscode.window.showWarningMessage(question, { modal: true, ...(text ? { detail: text } : {}) }, safe, destructive);
  return choice === destructive;
}
