// The editor's side of the core's secrets: SecretStorage, and a password box when one is missing.
// (Unknown host keys are asked in trust.ts, which names the step that met them.)
import * as vscode from 'vscode';
import type { SecretSource } from '../core/remote/interaction';

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
