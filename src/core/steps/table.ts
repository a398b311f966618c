// The complete table of the runbook's steps: step id → its Run and Check, built from the core's
// step modules with the front end's dialogs plugged in. The editor and the command line differ only
// in the `RunbookDialogs` they supply (as github/vscode-codeql's `App` does for its commands).
import { withRights, type Rights, type SudoPasswords } from '../remote/privilege';
import type { ClusterNode } from '../cluster/types';
import type { HandlerTable } from '../runbook/actions';
import type { InstallerSession } from './installerInput';
import { targetFromNode, type SshPool } from '../remote/ssh';
import type { Transport } from '../remote/transport';
import type { RunningProcess } from '../ucd/rest/activity';
import { UcdRestClient, type CredentialSource } from '../ucd/rest/client';
import type { TlsTrust } from '../ucd/rest/tls';
import { backupHandlers } from './backup';
import { installerHandlers } from './installer';
import { InstallerGuard } from './installerGuard';
import { startHandlers, verifyVersionsHandlers } from './start';
import { packageHandlers } from './package';
import { processesHandlers, type ProcessesChoice } from './processes';
import { stoppedHandlers } from './stop';
import { rollBack, type RollbackContext, type RollbackOutcome } from './rollback';
import { storageHandlers } from './storage';

/**
 * What a person confirms before something that cannot be undone. The names are the command line's
 * `--confirm` values, so a pipeline says in so many words what it agreed to.
 */
export type Confirmation = 'kill' | 'move-storage' | 'cancel-processes' | 'upgrade-without-backup' | 'rollback' | 'stop-installer' | 'mask-unit';

export const CONFIRMATIONS: readonly Confirmation[] = ['kill', 'move-storage', 'cancel-processes', 'upgrade-without-backup', 'rollback', 'stop-installer', 'mask-unit'];

/** The questions the steps ask a person. Dismissed or unanswerable is always the safe answer. */
export interface RunbookDialogs {
  /** true only when the person said yes to exactly this; `detail` lists what will be done. */
  confirm(what: Confirmation, question: string, detail: string): Promise<boolean>;
  /** Processes run in UCD: cancel which, or wait; undefined = not answered. */
  chooseProcesses(running: readonly RunningProcess[]): Promise<ProcessesChoice | undefined>;
  /** The installer asked what the runbook does not know: give its live session to a person. */
  handOver(node: string, session: InstallerSession, backlog: string, why: string): Promise<void>;
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
  /** The sudo password of a node whose privilege asks for one (SecretStorage, or the CLI's variable). */
  readonly sudoPasswords?: SudoPasswords;
  /** The installers' guard, when the front end keeps it for its Cancel (installerGuard below). */
  readonly guard?: InstallerGuard;
}

/** SSH to each node through the pool (its host-key and secret questions are asked where it was made). */
export function sshTransports(pool: SshPool): (node: ClusterNode) => Promise<Transport> {
  return async (node) => pool.transport(targetFromNode(node));
}

/**
 * The UCD REST client for the cluster as loaded when a step asks: one per URL and credential, so a
 * certificate trusted "once" stays trusted while the front end runs.
 */
export function restClients(current: () => { readonly url: string; readonly credential: string } | undefined, credentials: (name: string) => CredentialSource, trust: TlsTrust): () => UcdRestClient {
  let client: { key: string; client: UcdRestClient } | undefined;
  return () => {
    const c = current();
    if (!c) throw new Error('the cluster file has problems; fix them first');
    const key = `${c.url} ${c.credential}`;
    if (client?.key !== key) {
      client = { key, client: new UcdRestClient({ baseUrl: c.url, credentials: credentials(c.credential), pins: trust.pins, prompt: trust.prompt, ...(trust.ca ? { ca: trust.ca } : {}), ...(trust.onAccepted ? { onAccepted: trust.onAccepted } : {}), credentialName: c.credential }) };
    }
    return client.client;
  };
}

/** The installers' guard probing as root, as step 5's proof does (through sudo where the node says so). */
export function rootGuard(deps: Pick<StepTableDeps, 'dialogs' | 'transportFor' | 'sudoPasswords'>): InstallerGuard {
  return installerGuard({ dialogs: deps.dialogs, transportFor: async (n) => withRights(await deps.transportFor(n), n, 'root', deps.sudoPasswords) });
}

/**
 * The guard that watches every installer while it runs and answers Cancel: the front end makes
 * one, passes it to buildStepTable and sends its Cancel to `guard.cancel(target)`.
 */
export function installerGuard(deps: Pick<StepTableDeps, 'dialogs' | 'transportFor'>): InstallerGuard {
  return new InstallerGuard({ transportFor: deps.transportFor, confirm: (q, d) => deps.dialogs.confirm('stop-installer', q, d) });
}

export function buildStepTable(deps: StepTableDeps): HandlerTable {
  const { dialogs, trust } = deps;
  // Every step asks for the rights its action needs; privilege.ts turns that into sudo, or nothing.
  const transportFor = async (node: ClusterNode, rights: Rights = 'self'): Promise<Transport> => withRights(await deps.transportFor(node), node, rights, deps.sudoPasswords);
  const online = { transportFor, trust };
  // The guard probes other users' servers: as root, like step 5's proof.
  const guard = deps.guard ?? installerGuard({ dialogs, transportFor: (n) => transportFor(n, 'root') });
  const installer = { transportFor, trust, guard, handOver: dialogs.handOver, confirm: (q: string, d: string) => dialogs.confirm('upgrade-without-backup', q, d) };
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
    stop: stopped.stop,
    verifyStopped: stopped.verifyStopped,
    storage: storageHandlers({ transportFor, confirm: (q, d) => dialogs.confirm('move-storage', q, d) }),
    installFirst: installerHandlers('installFirst', installer),
    startFirst: startHandlers('startFirst', online),
    installOthers: installerHandlers('installOthers', installer),
    startOthers: startHandlers('startOthers', online),
    verifyVersions: verifyVersionsHandlers(online, { client: deps.rest }),
  };
}

/** Roll back with the front end's dialogs, for RunnerOptions.rollback. */
export function buildRollback(deps: Pick<StepTableDeps, 'dialogs' | 'transportFor' | 'local' | 'trust' | 'sudoPasswords'>): (ctx: RollbackContext) => Promise<RollbackOutcome> {
  // Stop, restore and start act on the install: as its owner, as the steps do.
  const transportFor = async (node: ClusterNode): Promise<Transport> => withRights(await deps.transportFor(node), node, 'owner', deps.sudoPasswords);
  return (ctx) => rollBack(ctx, { transportFor, local: deps.local, trust: deps.trust, confirm: (q, d) => deps.dialogs.confirm('rollback', q, d) });
}
