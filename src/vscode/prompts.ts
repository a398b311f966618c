// The editor's side of the core's questions: unknown host keys, secrets. Modal, explicit, and the
// safe answer is always the one a dismissed dialog gives.
import * as vscode from 'vscode';
import type { HostKeyAnswer, HostKeyQuestion, SecretSource } from '../core/remote/interaction';

export async function askUnknownHostKey(q: HostKeyQuestion): Promise<HostKeyAnswer> {
  const once = 'Accept Once';
  const always = 'Accept and Remember';
  const choice = await vscode.window.showWarningMessage(
    `The SSH host key of node ${q.node} (${q.host}:${q.port}) is not known.`,
    {
      modal: true,
      detail: `${q.keyType} key fingerprint is\n${q.fingerprintSha256}\n\nCompare it with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_${q.keyType.replace(/^ssh-/, '')}_key.pub on the node, or ask its administrator) before you accept. Cancel connects to nothing.`,
    },
    once,
    always,
  );
  return choice === always ? 'always' : choice === once ? 'once' : 'cancel';
}

/** Secrets live in the editor's SecretStorage (the OS keychain), never in a file or the log. */
export class EditorSecrets implements SecretSource {
  constructor(private readonly storage: vscode.SecretStorage) {}

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.storage.get(key));
  }

  store(key: string, value: string): Promise<void> {
    return Promise.resolve(this.storage.store(key, value));
  }

  delete(key: string): Promise<void> {
    return Promise.resolve(this.storage.delete(key));
  }

  ask(prompt: string): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showInputBox({ prompt, password: true, ignoreFocusOut: true }));
  }
}
