// The core's step table with the editor's parts plugged in: its dialogs, the window's SSH pool,
// credentials from SecretStorage. Glue only; the table and its pieces are the core's.
import type * as vscode from 'vscode';
import type { HandlerTable } from '../core/runbook/actions';
import { LocalTransport } from '../core/remote/local';
import type { SudoPasswords } from '../core/remote/privilege';
import type { SshPool } from '../core/remote/ssh';
import type { InstallerGuard } from '../core/steps/installerGuard';
import { buildStepTable, restClients, rootGuard, sshTransports } from '../core/steps/table';
import type { TlsTrust } from '../core/ucd/rest/tls';
import { editorDialogs } from './handlers';
import { credentialSource, forgetCredential } from './trust';

export interface HandlerDeps {
  readonly context: vscode.ExtensionContext;
  readonly pool: SshPool;
  readonly tls: TlsTrust;
  /** The cluster as loaded now; handlers read it when they run, so edits apply at once. */
  readonly cluster: () => { ucd: { url: string; credential: string } } | undefined;
  /** Sudo passwords, kept by name in SecretStorage (masked in the journal). */
  readonly sudoPasswords?: SudoPasswords;
  /** The installers' guard, shared with the controller's Cancel (editorGuard). */
  readonly guard?: InstallerGuard;
}

/** The guard whose stop question is the editor's modal dialog. */
export function editorGuard(pool: SshPool, sudoPasswords?: SudoPasswords): InstallerGuard {
  return rootGuard({ dialogs: editorDialogs, transportFor: sshTransports(pool), ...(sudoPasswords ? { sudoPasswords } : {}) });
}

export function buildHandlers(deps: HandlerDeps): HandlerTable {
  const local = new LocalTransport();
  return buildStepTable({
    dialogs: editorDialogs,
    transportFor: sshTransports(deps.pool),
    local: () => local,
    rest: restClients(() => deps.cluster()?.ucd, (name) => credentialSource(deps.context, name), deps.tls),
    trust: deps.tls,
    ...(deps.sudoPasswords ? { sudoPasswords: deps.sudoPasswords } : {}),
    ...(deps.guard ? { guard: deps.guard } : {}),
    onAuthRejected: async () => {
      const c = deps.cluster();
      if (c) await forgetCredential(deps.context, c.ucd.credential);
    },
  });
}
