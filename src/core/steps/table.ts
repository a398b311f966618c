// The complete table of the runbook's steps: step id → its Run and Check, built from the core's
// step modules with the front end's dialogs plugged in. The editor and the command line differ only
// in the `RunbookDialogs` they supply (as github/vscode-codeql's `App` does for its commands).
import type { ClusterNode } from '../cluster/types';
import type { StepHandlers } from '../runbook/actions';
import type { StepId } from '../runbook/steps';
import type { PtySession } from '../remote/ssh';
import type { Transport } from '../remote/transport';
import type { RunningProcess } from '../ucd/rest/activity';
import type { UcdRestClient } from '../ucd/rest/client';
import type { TlsTrust } from '../ucd/rest/tls';
import { backupHandlers } from './backup';
import { installerHandlers } from './installer';
import { startHandlers, verifyVersionsHandlers } from './online';
import { packageHandlers } from './package';
import { processesHandlers, type ProcessesChoice } from './processes';
import { stoppedHandlers } from './shutdown';
import { storageHandlers } from './storage';

/**
 * What a person confirms before something that cannot be undone. The names are the command line's
 * `--confirm` values, so a pipeline says in so many words what it agreed to.
 */
export type Confirmation = 'kill' | 'move-storage' | 'cancel-processes' | 'upgrade-without-backup' | 'mask-unit';

export const CONFIRMATIONS: readonly Confirmation[] = ['kill', 'move-storage', 'cancel-processes', 'upgrade-without-backup', 'mask-unit'];

/** The questions the steps ask a person. Dismissed or unanswerable is always the safe answer. */
export interface RunbookDialogs {
  /** true only when the person said yes to exactly this; `detail` lists what will be done. */
  confirm(what: Confirmation, question: string, detail: string): Promise<boolean>;
  /** Processes run in UCD: cancel which, or wait; undefined = not answered. */
  chooseProcesses(running: readonly RunningProcess[]): Promise<ProcessesChoice | undefined>;
  /** The installer asked what the runbook does not know: give its live session to a person. */
  handOver(node: string, session: PtySession, backlog: string, why: string): Promise<void>;
}

export interface StepTableDeps {
  readonly dialogs: RunbookDialogs;
  /** SSH to a node (host keys and secrets are the pool's questions, asked where it was made). */
  transportFor(node: ClusterNode): Promise<Transport>;
  /** This machine, for a backup command that runs locally. */
  local(): Transport;
  /** The UCD REST client for the cluster as loaded now. */
  rest(): UcdRestClient;
  readonly trust: TlsTrust;
  /** The server refused the credentials: the front end forgets what it stored. */
  onAuthRejected?(): Promise<void>;
}

export function buildStepTable(deps: StepTableDeps): Record<StepId, StepHandlers> {
  const { dialogs, transportFor, trust } = deps;
  const online = { transportFor, trust };
  const installer = { transportFor, trust, handOver: dialogs.handOver, confirm: (q: string, d: string) => dialogs.confirm('upgrade-without-backup', q, d) };
  const stopped = stoppedHandlers({ transportFor, confirm: (q, d) => dialogs.confirm('kill', q, d), confirmMask: (q, d) => dialogs.confirm('mask-unit', q, d) });
  return {
    backup: backupHandlers({ local: deps.local, transportFor }),
    processes: processesHandlers({
      client: deps.rest,
      choose: (running) => dialogs.chooseProcesses(running),
      confirm: (q, d) => dialogs.confirm('cancel-processes', q, d),
      ...(deps.onAuthRejected ? { onAuthRejected: deps.onAuthRejected } : {}),
    }),
    package: packageHandlers({ transportFor }),
    stop: stopped.stop ?? {},
    verifyStopped: stopped.verifyStopped ?? {},
    storage: storageHandlers({ transportFor, confirm: (q, d) => dialogs.confirm('move-storage', q, d) }),
    installFirst: installerHandlers('installFirst', installer),
    startFirst: startHandlers('startFirst', online),
    installOthers: installerHandlers('installOthers', installer),
    startOthers: startHandlers('startOthers', online),
    verifyVersions: verifyVersionsHandlers(online),
  };
}
