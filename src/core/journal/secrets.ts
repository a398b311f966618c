// The secrets in use, collected where they enter the process, so the journal can mask them. Each
// source of a secret (keychain, prompt, stored credential) is wrapped once; whatever it hands out
// is added before the caller sees it, so no record can be written between reading and masking.
import type { AuthPrompt, SecretSource } from '../remote/interaction';
import type { CredentialSource } from '../ucd/rest/client';
import type { SecretMask } from './journal';

export class SecretValues {
  private readonly values = new Set<string>();
  /** Asked at every append, so a secret added after the journal opened is masked too. */
  readonly mask: SecretMask = () => [...this.values];

  add(value: string | undefined): void {
    if (value) this.values.add(value);
  }
}

/** Key passphrases and the like, from the keychain or asked. */
export function maskingSecretSource(source: SecretSource, into: SecretValues): SecretSource {
  return {
    get: async (key) => {
      const v = await source.get(key);
      into.add(v);
      return v;
    },
    store: async (key, value) => {
      into.add(value);
      await source.store(key, value);
    },
    delete: (key) => source.delete(key),
    ask: async (prompt) => {
      const v = await source.ask(prompt);
      into.add(v);
      return v;
    },
  };
}

/** SSH passwords and hidden keyboard-interactive answers (echoed answers are not secrets). */
export function maskingAuthPrompt(prompt: AuthPrompt, into: SecretValues): AuthPrompt {
  return {
    password: async (q) => {
      const v = await prompt.password(q);
      into.add(v);
      return v;
    },
    keyboardInteractive: async (q) => {
      const answers = await prompt.keyboardInteractive(q);
      answers?.forEach((a, i) => {
        if (!q.prompts[i]?.echo) into.add(a);
      });
      return answers;
    },
  };
}

/** The UCD password or token, and the Basic header value made from it. */
export function maskingCredentials(source: CredentialSource, into: SecretValues): CredentialSource {
  return {
    get: async (origin) => {
      const bound = await source.get(origin);
      const c = bound?.credentials;
      if (c?.kind === 'basic') {
        into.add(c.password);
        into.add(Buffer.from(`${c.user}:${c.password}`, 'utf8').toString('base64'));
      } else if (c?.kind === 'token') {
        into.add(c.token);
        into.add(Buffer.from(`PasswordIsAuthToken:${c.token}`, 'utf8').toString('base64'));
      }
      return bound;
    },
    allow: (origin) => source.allow(origin),
    confirmOrigin: (q) => source.confirmOrigin(q),
  };
}
