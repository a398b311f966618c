// The order we authenticate in: ssh-agent, key files, password, keyboard-interactive; the same
// order OpenSSH uses. Secrets pass through memory for one connect call and are never logged.
import * as fs from 'node:fs/promises';
import { utils, type AnyAuthMethod, type AuthHandlerMiddleware, type ParsedKey } from 'ssh2';
import type { AuthPrompt, RemoteLog, SecretSource } from './interaction';

export interface AuthPlan {
  readonly node: string;
  readonly user: string;
  readonly host: string;
  readonly port: number;
  /** Path of the agent's socket; undefined when there is no agent. */
  readonly agentSocket?: string;
  readonly identityFiles: readonly string[];
  /** Files the user named (cluster file / ssh config): a missing one is worth a line in "tried". */
  readonly explicitIdentityFiles: ReadonlySet<string>;
  readonly keys: KeyLoader;
  readonly prompt?: AuthPrompt;
  /** Runs a human interaction with the connect timeout paused. */
  readonly whileAsking: <T>(ask: () => Promise<T>) => Promise<T>;
  readonly log?: RemoteLog;
}

/** Key used in SecretStorage for a key file's passphrase. Names the file, never the secret. */
export function passphraseSecretKey(keyFile: string): string {
  return `ssh-key-passphrase:${keyFile}`;
}

/**
 * Loads private keys, asking for a passphrase at most once per file across all nodes connecting
 * at the same time, and remembering a correct one in the SecretSource.
 */
export class KeyLoader {
  private readonly inFlight = new Map<string, Promise<LoadedKey>>();

  constructor(private readonly secrets?: SecretSource) {}

  load(file: string, node: string, whileAsking: <T>(ask: () => Promise<T>) => Promise<T>): Promise<LoadedKey> {
    const pending = this.inFlight.get(file);
    if (pending) return pending;
    const p = this.loadOnce(file, node, whileAsking);
    this.inFlight.set(file, p);
    const forget = (): void => void this.inFlight.delete(file);
    p.then(forget, forget);
    return p;
  }

  private async loadOnce(file: string, node: string, whileAsking: <T>(ask: () => Promise<T>) => Promise<T>): Promise<LoadedKey> {
    let data: Buffer;
    try {
      data = await fs.readFile(file);
    } catch (e) {
      return { ok: false, why: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable' };
    }
    const plain = pick(utils.parseKey(data));
    if (!(plain instanceof Error)) return { ok: true, key: plain };
    if (!/no passphrase given/i.test(plain.message)) return { ok: false, why: 'not a private key ssh2 can read' };
    const secrets = this.secrets;
    if (!secrets) return { ok: false, why: 'encrypted, and no way to ask for its passphrase' };

    const secretKey = passphraseSecretKey(file);
    const stored = await secrets.get(secretKey);
    if (stored !== undefined) {
      const k = pick(utils.parseKey(data, stored));
      if (!(k instanceof Error)) return { ok: true, key: k };
      await secrets.delete(secretKey);
    }
    let prompt = `Passphrase for SSH key ${file} (connecting to ${node})`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const given = await whileAsking(() => secrets.ask(prompt));
      if (given === undefined) return { ok: false, why: 'passphrase not given' };
      const k = pick(utils.parseKey(data, given));
      if (!(k instanceof Error)) {
        await secrets.store(secretKey, given);
        return { ok: true, key: k };
      }
      prompt = `Wrong passphrase. Passphrase for SSH key ${file} (connecting to ${node})`;
    }
    return { ok: false, why: 'wrong passphrase three times' };
  }
}

export type LoadedKey = { readonly ok: true; readonly key: ParsedKey } | { readonly ok: false; readonly why: string };

function pick(k: ParsedKey | ParsedKey[] | Error): ParsedKey | Error {
  if (Array.isArray(k)) return k[0] ?? new Error('no key in file');
  return k;
}

/** An ssh2 authHandler plus the list of what it tried, for the "auth failed" message. */
export function makeAuthHandler(plan: AuthPlan): { readonly handler: AuthHandlerMiddleware; readonly tried: string[] } {
  const tried: string[] = [];
  let stage: 'agent' | 'keys' | 'password' | 'keyboard' | 'done' = 'agent';
  let keyIndex = 0;
  let passwordAttempts = 0;
  const username = plan.user;

  const nextMethod = async (left: readonly string[] | null): Promise<AnyAuthMethod | false> => {
    const allows = (m: string): boolean => left === null || left.includes(m);
    if (stage === 'agent') {
      stage = 'keys';
      if (plan.agentSocket && allows('publickey')) {
        tried.push('ssh-agent');
        return { type: 'agent', username, agent: plan.agentSocket };
      }
    }
    while (stage === 'keys' && keyIndex < plan.identityFiles.length) {
      const file = plan.identityFiles[keyIndex++] as string;
      if (!allows('publickey')) continue;
      const loaded = await plan.keys.load(file, plan.node, plan.whileAsking);
      if (loaded.ok) {
        tried.push(`key ${file}`);
        return { type: 'publickey', username, key: loaded.key };
      }
      if (loaded.why !== 'missing' || plan.explicitIdentityFiles.has(file)) tried.push(`key ${file} (skipped: ${loaded.why})`);
    }
    if (stage === 'keys') stage = 'password';
    if (stage === 'password') {
      if (plan.prompt && allows('password') && passwordAttempts < 3) {
        passwordAttempts++;
        const prompt = plan.prompt;
        const password = await plan.whileAsking(() => prompt.password({ node: plan.node, user: username, host: plan.host, port: plan.port }));
        if (password !== undefined) {
          if (!tried.includes('password')) tried.push('password');
          return { type: 'password', username, password };
        }
      }
      stage = 'keyboard';
    }
    if (stage === 'keyboard') {
      stage = 'done';
      if (plan.prompt && allows('keyboard-interactive')) {
        const prompt = plan.prompt;
        tried.push('keyboard-interactive');
        return {
          type: 'keyboard-interactive',
          username,
          prompt: (name, instructions, _lang, prompts, finish) => {
            // Servers may send an empty round (no questions); answer it without bothering anyone.
            if (prompts.length === 0) return finish([]);
            plan
              .whileAsking(() => prompt.keyboardInteractive({ node: plan.node, name, instructions, prompts: prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true })) }))
              .then(
                (answers) => finish(answers ?? []),
                () => finish([]),
              );
          },
        };
      }
    }
    return false;
  };

  // ssh2 accepts `false` for "no more methods"; its typings omit it.
  const handler: AuthHandlerMiddleware = (left, _partial, next) => {
    const give = next as (m: AnyAuthMethod | false) => void;
    nextMethod(left ?? null).then(give, (e: unknown) => {
      plan.log?.(`${plan.node}: authentication setup failed: ${e instanceof Error ? e.message : String(e)}`);
      give(false);
    });
  };
  return { handler, tried };
}
