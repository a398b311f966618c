// The editor's answers to the steps' questions (which process to cancel, are you sure, a live
// installer to take over), plugged into the core's step table. No step logic lives here.
import * as vscode from 'vscode';
import type { ClusterNode } from '../core/cluster/types';
import type { HandlerTable } from '../core/runbook/actions';
import { LocalTransport } from '../core/remote/local';
import { targetFromNode, type SshPool } from '../core/remote/ssh';
import type { Transport } from '../core/remote/transport';
import type { ProcessesChoice } from '../core/steps/processes';
import { buildStepTable, type Confirmation, type RunbookDialogs } from '../core/steps/table';
import { describeProcess, type RunningProcess } from '../core/ucd/rest/activity';
import { UcdRestClient } from '../core/ucd/rest/client';
import type { TlsTrust } from '../core/ucd/rest/tls';
import { handOverToTerminal } from './installerTerminal';
import { confirmDestructive } from './dialogs';
import { credentialSource, forgetCredential } from './trust';

export interface HandlerDeps {
  readonly context: vscode.ExtensionContext;
  readonly pool: SshPool;
  readonly tls: TlsTrust;
  /** The cluster as loaded now; handlers read it when they run, so edits apply at once. */
  readonly cluster: () => { ucd: { url: string; credential: string } } | undefined;
}

/** Each confirmation's buttons and what each answer does, in the words of its dialog. */
const CONFIRM_BUTTONS: Record<Confirmation, { yes: string; no: string; destructive: string; safe: string }> = {
  kill: {
    yes: 'Kill Them', no: 'Leave Them Running',
    destructive: 'each process listed gets TERM, then KILL if it is still running after the grace time; a pid file is removed only as listed.',
    safe: 'nothing is signalled and no file is removed; step 5 stays failed and names what still runs.',
  },
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

const editorDialogs: RunbookDialogs = {
  confirm: (what, question, detail) => {
    const b = CONFIRM_BUTTONS[what];
    return confirmDestructive(question, detail, b.yes, b.no, { destructive: b.destructive, safe: b.safe });
  },
  chooseProcesses,
  handOver: handOverToTerminal,
};

export function transportFor(pool: SshPool): (node: ClusterNode) => Promise<Transport> {
  return async (node) => pool.transport(targetFromNode(node));
}

export function buildHandlers(deps: HandlerDeps): HandlerTable {
  const local = new LocalTransport();
  // One client per URL and credential, so a certificate trusted "once" stays trusted for the window.
  let client: { key: string; client: UcdRestClient } | undefined;
  const rest = () => {
    const c = deps.cluster();
    if (!c) throw new Error('the cluster file has problems; fix them first');
    const key = `${c.ucd.url} ${c.ucd.credential}`;
    if (client?.key !== key) {
      client = { key, client: new UcdRestClient({ baseUrl: c.ucd.url, credentials: credentialSource(deps.context, c.ucd.credential), pins: deps.tls.pins, prompt: deps.tls.prompt, credentialName: c.ucd.credential }) };
    }
    return client.client;
  };
  return buildStepTable({
    dialogs: editorDialogs,
    transportFor: transportFor(deps.pool),
    local: () => local,
    rest,
    trust: deps.tls,
    onAuthRejected: async () => {
      const c = deps.cluster();
      if (c) await forgetCredential(deps.context, c.ucd.credential);
    },
  });
}
