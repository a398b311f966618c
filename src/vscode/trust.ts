// The editor's answers to the core's trust questions: SSH (host keys, passphrases, passwords),
// TLS certificate pins, and UCD credentials. Every dialog is modal and explicit; dismissing one
// is always the safe answer. Secrets go to SecretStorage only; fingerprints (public) to globalState.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Decision } from '../core/journal/events';
import { HostKeyPolicy } from '../core/remote/hostKeys';
import type { AuthPrompt } from '../core/remote/interaction';
import { SshPool } from '../core/remote/ssh';
import type { SudoPasswords } from '../core/remote/privilege';
import { sudoPasswordsFrom } from '../core/remote/sudoPasswords';
import type { BoundCredentials, CredentialOriginAnswer, CredentialOriginQuestion, CredentialSource, UcdCredentials } from '../core/ucd/rest/client';
import type { CertDecision, TlsPinStore, TlsTrust, UnknownCertificate } from '../core/ucd/rest/tls';
import { maskingAuthPrompt, maskingCredentials, maskingSecretSource } from '../core/journal/secrets';
import { askUnknownHostKey, EditorSecrets } from './prompts';
import { secretsInUse } from './secretsInUse';

const PIN_KEY = 'ucdUpgrade.tlsPins';

function sshSetting(name: 'knownHostsFile' | 'configFile', fallback: string): string {
  const v = vscode.workspace.getConfiguration('ucdUpgrade.ssh').get<string>(name) || fallback;
  return v.startsWith('~/') ? path.join(os.homedir(), v.slice(2)) : v;
}

const authPrompt: AuthPrompt = {
  password: async (q) => vscode.window.showInputBox({
    title: `SSH password for ${q.user}@${q.host}:${q.port} (node ${q.node})`,
    prompt: 'Used for this connection only; never stored or logged.',
    password: true,
    ignoreFocusOut: true,
  }),
  keyboardInteractive: async (q) => {
    const answers: string[] = [];
    for (const p of q.prompts) {
      const a = await vscode.window.showInputBox({ title: `${q.node}: ${q.name || 'SSH login'}`, prompt: [q.instructions, p.prompt].filter(Boolean).join(' — '), password: !p.echo, ignoreFocusOut: true });
      if (a === undefined) return undefined;
      answers.push(a);
    }
    return answers;
  },
};

/** Sudo passwords: SecretStorage by name, asked in a password box once per node and user; masked in the journal. */
export function createSudoPasswords(context: vscode.ExtensionContext): SudoPasswords {
  return sudoPasswordsFrom(maskingSecretSource(new EditorSecrets(context.secrets), secretsInUse));
}

/** Where an accepted host key or certificate is recorded: the run's journal, with who accepted it. */
export type DecisionRecorder = (d: Decision) => void;

export function createSshPool(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, decided: DecisionRecorder = () => undefined): SshPool {
  return new SshPool({
    hostKeys: new HostKeyPolicy({
      knownHostsFiles: [sshSetting('knownHostsFile', '~/.ssh/known_hosts')],
      storeFile: path.join(context.globalStorageUri.fsPath, 'known_hosts'),
      prompt: askUnknownHostKey,
      log: (l) => log.info(`[ssh] ${l}`),
      onAccepted: (k) => decided({ kind: 'host-key', node: k.node, endpoint: `${k.host}:${k.port}`, keyType: k.keyType, fingerprint: k.fingerprintSha256, remembered: k.remembered }),
    }),
    secrets: maskingSecretSource(new EditorSecrets(context.secrets), secretsInUse),
    authPrompt: maskingAuthPrompt(authPrompt, secretsInUse),
    sshConfigFile: sshSetting('configFile', '~/.ssh/config'),
    log: (l) => log.info(`[ssh] ${l}`),
  });
}

class MementoPins implements TlsPinStore {
  constructor(private readonly memento: vscode.Memento) {}
  async get(hostPort: string): Promise<string | undefined> {
    return this.memento.get<Record<string, string>>(PIN_KEY, {})[hostPort];
  }
  async set(hostPort: string, fingerprint256: string): Promise<void> {
    await this.memento.update(PIN_KEY, { ...this.memento.get<Record<string, string>>(PIN_KEY, {}), [hostPort]: fingerprint256 });
  }
}

async function askCertificate(c: UnknownCertificate): Promise<CertDecision> {
  const once = 'Trust Once';
  const always = 'Trust and Remember';
  const choice = await vscode.window.showWarningMessage(
    `The TLS certificate of ${c.host}:${c.port} is not trusted (${c.reason}).`,
    {
      modal: true,
      detail: `SHA-256 fingerprint:\n${c.fingerprint256}\n\nSubject: ${c.subject}\nIssuer: ${c.issuer}\nValid ${c.validFrom} – ${c.validTo}\n\nUCD servers often use a self-signed certificate. Compare the fingerprint with the server's (openssl x509 -fingerprint -sha256) before you trust it. Cancel sends nothing.`,
    },
    once,
    always,
  );
  return choice === always ? 'always' : choice === once ? 'once' : 'cancel';
}

/** One trust for the whole window: a certificate accepted once is not asked again until reload. */
export function createTlsTrust(context: vscode.ExtensionContext, decided: DecisionRecorder = () => undefined): TlsTrust {
  return {
    pins: new MementoPins(context.globalState),
    prompt: askCertificate,
    sessionPins: new Map(),
    onAccepted: (c, remembered) => decided({ kind: 'tls-certificate', endpoint: `${c.host}:${c.port}`, fingerprint: c.fingerprint256, subject: c.subject, remembered }),
  };
}

/** What SecretStorage holds per credential: the secret and the origins it may be sent to. */
interface StoredCredential {
  readonly v: 2;
  readonly credentials: UcdCredentials;
  readonly origins: readonly string[];
}

function readStored(saved: string): BoundCredentials {
  const parsed = JSON.parse(saved) as StoredCredential | UcdCredentials;
  // A credential stored before origins were kept is bound to nothing: its first use is asked.
  if ('kind' in parsed) return { credentials: parsed, origins: [] };
  return { credentials: parsed.credentials, origins: parsed.origins };
}

async function askCredentialOrigin(name: string, q: CredentialOriginQuestion): Promise<CredentialOriginAnswer> {
  const once = 'Send Once';
  const always = 'Send and Remember';
  const where = q.boundTo.length
    ? `It was given for ${q.boundTo.join(', ')}; ucd.url in the cluster file now names ${q.origin}.`
    : `It was stored before the extension kept which server a credential belongs to; ucd.url names ${q.origin}.`;
  const choice = await vscode.window.showWarningMessage(
    `Send the UCD credential "${name}" to ${q.origin}?`,
    {
      modal: true,
      detail: `${where}\n\nA cluster file edited by someone else can point ucd.url at a server that collects passwords. Send it only if ${q.origin} is your UCD server or its load balancer. Cancel sends nothing.`,
    },
    once,
    always,
  );
  return choice === always ? 'always' : choice === once ? 'once' : 'cancel';
}

/**
 * UCD credentials by name from SecretStorage, bound to the origin they were entered for; asked once
 * and stored there (never in a file). Sending one elsewhere is the core's question, asked here.
 */
export function credentialSource(context: vscode.ExtensionContext, name: string): CredentialSource {
  const key = `ucdUpgrade.credential.${name}`;
  const store = (c: BoundCredentials): Thenable<void> => context.secrets.store(key, JSON.stringify({ v: 2, credentials: c.credentials, origins: c.origins } satisfies StoredCredential));
  return maskingCredentials({
    get: async (origin) => {
      const saved = await context.secrets.get(key);
      if (saved) return readStored(saved);
      const user = await vscode.window.showInputBox({
        title: `UCD credential "${name}" for ${origin}`,
        prompt: 'UCD user name (or leave empty to use an auth token). Kept in the editor\'s secret storage, for this server only.',
        ignoreFocusOut: true,
      });
      if (user === undefined) return undefined;
      const secret = await vscode.window.showInputBox({ title: `UCD credential "${name}" for ${origin}`, prompt: user ? `Password of ${user}` : 'Auth token', password: true, ignoreFocusOut: true });
      if (!secret) return undefined;
      const bound: BoundCredentials = { credentials: user ? { kind: 'basic', user, password: secret } : { kind: 'token', token: secret }, origins: [origin] };
      await store(bound);
      return bound;
    },
    allow: async (origin) => {
      const saved = await context.secrets.get(key);
      if (!saved) return;
      const now = readStored(saved);
      if (!now.origins.includes(origin)) await store({ credentials: now.credentials, origins: [...now.origins, origin] });
    },
    confirmOrigin: (q) => askCredentialOrigin(name, q),
  }, secretsInUse);
}

export async function forgetCredential(context: vscode.ExtensionContext, name: string): Promise<void> {
  await context.secrets.delete(`ucdUpgrade.credential.${name}`);
}
