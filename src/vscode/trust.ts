// The editor's answers to the core's trust questions: SSH (host keys, passphrases, passwords),
// TLS certificate pins, and UCD credentials. Every dialog is modal and explicit; dismissing one
// is always the safe answer. Secrets go to SecretStorage only; fingerprints (public) to globalState.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { clusterToContact } from './contactGuard';
import type { Cluster } from '../core/cluster/types';
import type { Decision } from '../core/journal/events';
import { HostKeyPolicy } from '../core/remote/hostKeys';
import type { AuthPrompt, HostKeyAnswer, HostKeyQuestion } from '../core/remote/interaction';
import { SshPool } from '../core/remote/ssh';
import type { SudoPasswords } from '../core/remote/privilege';
import { sudoPasswordsFrom } from '../core/remote/sudoPasswords';
import type { BoundCredentials, CredentialOriginAnswer, CredentialOriginQuestion, CredentialSource, UcdCredentials } from '../core/ucd/rest/client';
import type { CertDecision, TlsPinStore, TlsTrust, UnknownCertificate } from '../core/ucd/rest/tls';
import { maskingAuthPrompt, maskingCredentials, maskingSecretSource } from '../core/journal/secrets';
import { acceptTrust, collectTrust, describeItem, endpointLabel, summarize, type TrustItem } from '../core/trust';
import { EditorSecrets } from './prompts';
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

/**
 * Where a prompt after the trust pass was met, for its text: "during step 8 “Restart the first
 * node”", and what host:port is to the run. Either may be unknown.
 */
export interface MetDuring {
  readonly during: () => string | undefined;
  readonly role: (host: string, port: number) => string | undefined;
}

const NOWHERE: MetDuring = { during: () => undefined, role: () => undefined };

const REVIEW_HINT = 'UCD Upgrade: Review Host Keys and Certificates… checks them all at once before the window.';

/** The exception after the trust pass: names the node and why, and a dismissal only postpones. */
function askHostKeyMet(met: MetDuring) {
  return async (q: HostKeyQuestion): Promise<HostKeyAnswer> => {
    const once = 'Accept Once';
    const always = 'Accept and Remember';
    const during = met.during();
    const choice = await vscode.window.showWarningMessage(
      `The SSH host key of node ${q.node} (${q.host}:${q.port}) is not known${during ? `; met while connecting to it ${during}` : ''}.`,
      {
        modal: true,
        detail: `${q.keyType} key fingerprint is\n${q.fingerprintSha256}\n\nCompare it with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_${q.keyType.replace(/^ssh-/, '')}_key.pub on the node, or ask its administrator) before you accept. Cancel connects to nothing; the step waits for trust and the next Run asks again.\n\n${REVIEW_HINT}`,
      },
      once,
      always,
    );
    return choice === always ? 'always' : choice === once ? 'once' : 'cancel';
  };
}

export function createSshPool(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, decided: DecisionRecorder = () => undefined, met: MetDuring = NOWHERE): SshPool {
  return new SshPool({
    hostKeys: new HostKeyPolicy({
      knownHostsFiles: [sshSetting('knownHostsFile', '~/.ssh/known_hosts')],
      storeFile: path.join(context.globalStorageUri.fsPath, 'known_hosts'),
      prompt: askHostKeyMet(met),
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

function askCertificate(met: MetDuring) {
  return async (c: UnknownCertificate): Promise<CertDecision> => {
    const once = 'Trust Once';
    const always = 'Trust and Remember';
    const role = met.role(c.host, c.port);
    const during = met.during();
    const choice = await vscode.window.showWarningMessage(
      `The TLS certificate of ${c.host}:${c.port}${role ? ` (${role})` : ''} is not trusted (${c.reason})${during ? `; met ${during}` : ''}.`,
      {
        modal: true,
        detail: `SHA-256 fingerprint:\n${c.fingerprint256}\n\nSubject: ${c.subject}\nIssuer: ${c.issuer}\nValid ${c.validFrom} – ${c.validTo}\n\nUCD servers often use a self-signed certificate. Compare the fingerprint with the server's (openssl x509 -fingerprint -sha256) before you trust it. Cancel sends nothing; the step waits for trust and the next Run asks again.\n\n${REVIEW_HINT}`,
      },
      once,
      always,
    );
    return choice === always ? 'always' : choice === once ? 'once' : 'cancel';
  };
}

/** One trust for the whole window: a certificate accepted once is not asked again until reload. */
export function createTlsTrust(context: vscode.ExtensionContext, decided: DecisionRecorder = () => undefined, met: MetDuring = NOWHERE): TlsTrust {
  return {
    pins: new MementoPins(context.globalState),
    prompt: askCertificate(met),
    sessionPins: new Map(),
    onAccepted: (c, remembered) => decided({ kind: 'tls-certificate', endpoint: `${c.host}:${c.port}`, fingerprint: c.fingerprint256, subject: c.subject, remembered }),
  };
}

interface TrustPick extends vscode.QuickPickItem {
  readonly item?: TrustItem;
}

const STATUS_WORDS: Record<TrustItem['status'], string> = {
  unknown: 'not known: select it once you compared it',
  known: 'known',
  changed: 'CHANGED: refused, not offered',
  revoked: 'REVOKED: refused, not offered',
  unreachable: 'nothing collected',
};

function pickOf(i: TrustItem): TrustPick {
  const icon = i.status === 'unknown' ? '$(question)' : i.status === 'known' ? '$(pass)' : i.status === 'unreachable' ? '$(debug-disconnect)' : '$(error)';
  const kind = i.kind === 'ssh' ? 'SSH host key' : 'TLS certificate';
  const what = i.kind === 'ssh'
    ? (i.fingerprint ? `${i.keyType} ${i.fingerprint}` : i.why)
    : (i.certificate ? `SHA-256 ${i.certificate.fingerprint256} · subject ${i.certificate.subject} · issuer ${i.certificate.issuer} · valid ${i.certificate.validFrom} – ${i.certificate.validTo}` : i.why);
  return {
    label: `${icon} ${endpointLabel(i)} — ${kind}`,
    description: STATUS_WORDS[i.status],
    detail: i.status === 'unknown' || i.status === 'known' ? `${what} · ${i.roles.map((r) => r.what).join('; ')}` : `${what} · ${i.why}`,
    item: i,
  };
}

const GROUPS: readonly { readonly title: string; readonly has: (i: TrustItem) => boolean }[] = [
  { title: 'To review', has: (i) => i.status === 'unknown' },
  { title: 'Refused', has: (i) => i.status === 'changed' || i.status === 'revoked' },
  { title: 'Not reachable now', has: (i) => i.status === 'unreachable' },
  { title: 'Already trusted', has: (i) => i.status === 'known' },
];

/** Every item in one list; only the unknown ones can stay selected (acceptTrust refuses the rest too). */
function pickTrust(cluster: Cluster, items: readonly TrustItem[]): Promise<readonly TrustItem[] | undefined> {
  const qp = vscode.window.createQuickPick<TrustPick>();
  const sum = summarize(items);
  qp.title = `Host keys and certificates of ${cluster.name}: ${sum.unknown} to review, ${sum.known} known${sum.refused ? `, ${sum.refused} REFUSED` : ''}${sum.unreachable ? `, ${sum.unreachable} not reachable` : ''}`;
  qp.placeholder = sum.unknown ? 'Select the ones whose fingerprint you compared, then press Enter to accept and remember them' : 'Nothing to accept: press Enter or Escape';
  qp.canSelectMany = true;
  qp.ignoreFocusOut = true;
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  qp.items = GROUPS.flatMap((g) => {
    const of = items.filter(g.has);
    return of.length ? [{ label: `${g.title} (${of.length})`, kind: vscode.QuickPickItemKind.Separator }, ...of.map(pickOf)] : [];
  });
  const selectable = (p: TrustPick) => p.item?.status === 'unknown';
  return new Promise((resolve) => {
    let accepted = false;
    qp.onDidChangeSelection((sel) => {
      if (sel.some((p) => !selectable(p))) qp.selectedItems = sel.filter(selectable);
    });
    qp.onDidAccept(() => {
      accepted = true;
      const chosen = qp.selectedItems.filter(selectable).flatMap((p) => (p.item ? [p.item] : []));
      qp.hide();
      resolve(chosen);
    });
    qp.onDidHide(() => {
      qp.dispose();
      if (!accepted) resolve(undefined);
    });
    qp.show();
  });
}

export interface TrustReviewCommandDeps {
  readonly pool: SshPool;
  readonly tls: TlsTrust;
  readonly log: vscode.LogOutputChannel;
  readonly cluster: () => Cluster | undefined;
}

/** The trust pass: collect everything at once (read-only), show it in one list, store what is accepted. */
export async function reviewTrust(deps: TrustReviewCommandDeps): Promise<void> {
  const cluster = clusterToContact(deps.cluster(), 'review the host keys and certificates');
  if (!cluster) return;
  const items = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `UCD Upgrade: collecting the host keys and certificates of ${cluster.name} (read-only)` },
    () => collectTrust(cluster, { pool: deps.pool, tls: deps.tls }),
  );
  for (const i of items) deps.log.info(`[trust] ${describeItem(i)}`);
  const chosen = await pickTrust(cluster, items);
  if (chosen === undefined) {
    deps.log.info('[trust] review dismissed; nothing accepted');
    return;
  }
  await acceptTrust(chosen, { pool: deps.pool, tls: deps.tls });
  const left = summarize(items).unknown - chosen.length;
  const refused = summarize(items).refused;
  deps.log.info(`[trust] accepted ${chosen.length}: ${chosen.map((i) => endpointLabel(i)).join('; ') || 'none'}`);
  const known = summarize(items).known;
  const say = `UCD Upgrade: accepted and remembered ${chosen.length} of the ${items.length} host keys and certificates collected; ${known} ${known === 1 ? 'was' : 'were'} already trusted${left ? `; ${left} not accepted ${left === 1 ? 'is' : 'are'} asked when met` : ''}.`;
  if (refused) void vscode.window.showErrorMessage(`${say} ${refused} CHANGED or revoked: the run refuses ${refused === 1 ? 'it' : 'them'}; see the log.`);
  else void vscode.window.showInformationMessage(say);
}

export function registerTrustReview(deps: TrustReviewCommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('ucdUpgrade.reviewTrust', () => reviewTrust(deps).catch((e: Error) => {
      deps.log.error(`trust review: ${e.stack ?? e.message}`);
      void vscode.window.showErrorMessage(`UCD Upgrade: the review of host keys and certificates did not complete: ${e.message}`);
    })),
  ];
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

/** "1 host key and 3 certificates", "3 certificates", "nothing". */
function counted(items: readonly TrustItem[]): string {
  const keys = items.filter((i) => i.kind === 'ssh').length;
  const certs = items.length - keys;
  const parts = [keys ? `${keys} host key${keys === 1 ? '' : 's'}` : '', certs ? `${certs} certificate${certs === 1 ? '' : 's'}` : ''].filter(Boolean);
  return parts.join(' and ') || 'nothing';
}

/**
 * Before the pre-flight connects anywhere: if anything it will meet is not trusted yet, offer the
 * one review instead of one prompt per endpoint in the middle of it.
 */
export async function offerTrustReview(deps: TrustReviewCommandDeps, cluster: Cluster): Promise<void> {
  const items = await collectTrust(cluster, { pool: deps.pool, tls: deps.tls });
  const sum = summarize(items);
  if (sum.unknown === 0 && sum.refused === 0) return;
  const review = 'Review Host Keys and Certificates…';
  const choice = await vscode.window.showWarningMessage(
    `${counted(items.filter((i) => i.status === 'unknown'))} of ${cluster.name} ${sum.unknown === 1 ? 'is' : 'are'} not known yet${sum.refused ? `, and ${sum.refused} CHANGED or revoked` : ''}.`,
    { modal: true, detail: `Review them together, with node names, before the pre-flight connects; otherwise each is asked when it is met.\n\n${items.filter((i) => i.status !== 'known').map((i) => `• ${endpointLabel(i)}: ${STATUS_WORDS[i.status]}`).join('\n')}` },
    review,
    'Go On Without',
  );
  if (choice === review) await reviewTrust(deps);
}
