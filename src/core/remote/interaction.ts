// What the SSH layer needs to ask a human. The editor implements these (src/vscode/prompts.ts);
// tests implement them with scripted answers. Shapes follow what prompts.ts already offers, so
// the editor's host-key prompt (vscode/trust.ts) and EditorSecrets fit without adapters.

export interface HostKeyQuestion {
  /** Node name from the cluster file (or "<node> via <jump>" for a ProxyJump hop). */
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly keyType: string;
  /** `SHA256:...`, the same text `ssh-keygen -lf` prints, so the user can compare. */
  readonly fingerprintSha256: string;
}

/** 'once' trusts for this connection only; 'always' stores the key; 'cancel' connects to nothing. */
export type HostKeyAnswer = 'once' | 'always' | 'cancel';

export type HostKeyPrompt = (question: HostKeyQuestion) => Promise<HostKeyAnswer>;

/**
 * Secrets come from the editor's SecretStorage (the OS keychain) or a prompt; never a file.
 * EditorSecrets in src/vscode/prompts.ts has exactly this shape.
 */
export interface SecretSource {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Ask the user; undefined when they dismiss the prompt. */
  ask(prompt: string): Promise<string | undefined>;
}

export interface KeyboardInteractiveQuestion {
  readonly node: string;
  readonly name: string;
  readonly instructions: string;
  readonly prompts: readonly { readonly prompt: string; readonly echo: boolean }[];
}

/** Password and keyboard-interactive answers: used for one connect call, then dropped. */
export interface AuthPrompt {
  password(question: { readonly node: string; readonly user: string; readonly host: string; readonly port: number }): Promise<string | undefined>;
  /** One answer per prompt, in order; undefined when the user cancels. */
  keyboardInteractive(question: KeyboardInteractiveQuestion): Promise<string[] | undefined>;
}

/** Where the SSH layer reports what it did (never secrets); the editor routes it to the output channel. */
export type RemoteLog = (line: string) => void;
