// The editor's answers to the steps' questions (which process to cancel, are you sure, a live
// installer to take over): the core's RunbookDialogs, and nothing else. The step table, its
// transports and its REST client are the core's (steps/table.ts), wired in stepTable.ts.
import * as vscode from 'vscode';
import type { ProcessesChoice } from '../core/steps/processes';
import { LET_IT_RUN, STOP_THE_INSTALLER } from '../core/steps/installerGuard';
import { KILL_ANSWER, LEAVE_ANSWER } from '../core/steps/verifyStopped';
import type { Confirmation, RunbookDialogs } from '../core/steps/table';
import { describeProcess, type RunningProcess } from '../core/ucd/rest/activity';
import { handOverToTerminal } from './installerTerminal';
import { confirmDestructive } from './dialogs';

/**
 * Each confirmation's buttons and, where the core's question does not say it, what each answer
 * does. The kill and stop questions explain their answers themselves (verifyStopped.ts, installerGuard.ts).
 */
const CONFIRM_BUTTONS: Record<Confirmation, { yes: string; no: string; destructive?: string; safe?: string }> = {
  kill: { yes: KILL_ANSWER, no: LEAVE_ANSWER },
  'stop-installer': { yes: STOP_THE_INSTALLER, no: LET_IT_RUN },
  'move-storage': {
    yes: 'Move Storage', no: 'Do Not Move',
    destructive: 'each item listed is moved into the shared appdata folder; nothing there is overwritten, and what is left for you is not touched.',
    safe: 'nothing is moved; step 6 stays open.',
  },
  'cancel-processes': {
    yes: 'Cancel Them in UCD', no: 'Keep Them Running',
    destructive: 'UCD cancels each process listed, as the Dashboard\'s Cancel button does; their deployments stop where they are.',
    safe: 'nothing is cancelled; the processes run on and step 2 stays failed until none runs.',
  },
  'mask-unit': {
    yes: 'Mask for the Upgrade', no: 'Leave It Unmasked',
    destructive: 'each unit listed is masked in /run (systemctl mask --runtime), and stopped if it runs, so systemd cannot start the server during the upgrade; steps 8 and 10 unmask it.',
    safe: 'nothing is masked; systemd may start the server again while it is upgraded.',
  },
  'upgrade-without-backup': {
    yes: 'Upgrade Anyway', no: 'Stop Here',
    destructive: 'the installer goes past the NOTICE and upgrades: the database schema changes and cannot be rolled back.',
    safe: 'the installer ends before the upgrade begins; nothing is changed.',
  },
  rollback: {
    yes: 'Roll Back', no: 'Do Not Roll Back',
    destructive: 'every server is stopped, the database and each install and the shared appdata are put back as the backup had them; whatever was done since the backup is gone.',
    safe: 'nothing is stopped or restored; the run stays where it is.',
  },
};

async function chooseProcesses(running: readonly RunningProcess[]): Promise<ProcessesChoice | undefined> {
  type Item = vscode.QuickPickItem & { process?: RunningProcess; wait?: boolean };
  const items: Item[] = [
    { label: '$(watch) Wait until none remain', description: 'poll the Dashboard until they finish', wait: true },
    { label: 'Cancel:', kind: vscode.QuickPickItemKind.Separator },
    ...running.map((p) => ({ label: p.name, description: p.kind, detail: describeProcess(p), process: p })),
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: `${running.length} process${running.length === 1 ? ' is' : 'es are'} running — pick the ones to cancel, or wait`,
    canPickMany: true,
    ignoreFocusOut: true,
  });
  if (!picked || picked.length === 0) return undefined;
  if (picked.some((i) => i.wait)) return { kind: 'wait' };
  return { kind: 'cancel', processes: picked.flatMap((i) => (i.process ? [i.process] : [])) };
}

export const editorDialogs: RunbookDialogs = {
  confirm: (what, question, detail) => {
    const b = CONFIRM_BUTTONS[what];
    return confirmDestructive(question, detail, b.yes, b.no, b.destructive && b.safe ? { destructive: b.destructive, safe: b.safe } : undefined);
  },
  chooseProcesses,
  handOver: handOverToTerminal,
};
