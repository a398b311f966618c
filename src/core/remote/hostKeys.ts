// Host key policy, applied during the handshake and before any credential is sent:
// known and equal → go on; known but different → refuse loudly; revoked → refuse; unknown → ask.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RemoteError } from './transport';
import { ASKED_AGAIN, WAITING_FOR_TRUST } from '../trust/words';
import type { HostKeyPrompt, RemoteLog } from './interaction';
import {
  fingerprintSha256,
  formatKnownHostsLine,
  keyTypeOfBlob,
  knownHostsName,
  lookupKnownHosts,
  parseKnownHosts,
  type KnownHostEntry,
  type KnownHostsLookup,
} from './knownHosts';
import { shQuote } from './quote';

export type HostKeyJudgement =
  | { readonly kind: 'known'; readonly entry: KnownHostEntry }
  | { readonly kind: 'revoked'; readonly entry: KnownHostEntry }
  | { readonly kind: 'changed'; readonly expected: readonly KnownHostEntry[] }
  | { readonly kind: 'unknown' };

/** The pure part of the policy. A revoked key loses even if some file also lists it as known. */
export function judgeHostKey(lookup: KnownHostsLookup, presented: Buffer): HostKeyJudgement {
  const revoked = lookup.revoked.find((e) => e.keyBlob.equals(presented));
  if (revoked) return { kind: 'revoked', entry: revoked };
  const match = lookup.known.find((e) => e.keyBlob.equals(presented));
  if (match) return { kind: 'known', entry: match };
  // We offer known key types first (hostKeyAlgorithmsFor), so a server that presents another
  // key while we know one for it no longer has the key we trust: that is a changed key.
  if (lookup.known.length > 0) return { kind: 'changed', expected: lookup.known };
  return { kind: 'unknown' };
}

/** A refused changed key, with both fingerprints so the message and any UI can show them. */
export class HostKeyChangedError extends RemoteError {
  constructor(
    node: string,
    message: string,
    hint: string,
    readonly presentedFingerprint: string,
    readonly knownFingerprints: readonly string[],
  ) {
    super('hostkey-changed', node, message, hint);
  }
}

export type HostKeyVerdict = 'known' | 'accepted-once' | 'accepted-stored';

/** OpenSSH's GlobalKnownHostsFile default: the machine-wide keys (and @revoked lines) every user trusts. */
export const GLOBAL_KNOWN_HOSTS_FILES: readonly string[] = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

export interface HostKeyPolicyOptions {
  /** OpenSSH files to trust, e.g. ~/.ssh/known_hosts. Missing files are simply empty. */
  readonly knownHostsFiles: readonly string[];
  /** Read as well, as ssh does; default GLOBAL_KNOWN_HOSTS_FILES. A revoked key there is refused like one in the user's file. */
  readonly globalKnownHostsFiles?: readonly string[];
  /** The extension's own store (known_hosts format); 'always' answers are appended here. */
  readonly storeFile: string;
  readonly prompt: HostKeyPrompt;
  readonly log?: RemoteLog;
  /** A person accepted an unknown key: for the run's journal (who, when, which key). */
  readonly onAccepted?: (accepted: AcceptedHostKey) => void;
}

export interface AcceptedHostKey {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly keyType: string;
  readonly fingerprintSha256: string;
  /** true: stored in the extension's known hosts; false: for this connection only. */
  readonly remembered: boolean;
}

export class HostKeyPolicy {
  private readonly asking = new Map<string, Promise<HostKeyVerdict>>();

  constructor(private readonly opts: HostKeyPolicyOptions) {}

  get storeFile(): string {
    return this.opts.storeFile;
  }

  /** The files this policy trusts besides the machine-wide ones: for an ssh that must trust the same keys (the node terminal). */
  get userFiles(): readonly string[] {
    return [...this.opts.knownHostsFiles, this.opts.storeFile];
  }

  async lookup(host: string, port: number, node = host): Promise<KnownHostsLookup> {
    const files = [...this.opts.knownHostsFiles, ...(this.opts.globalKnownHostsFiles ?? GLOBAL_KNOWN_HOSTS_FILES), this.opts.storeFile];
    const entries: KnownHostEntry[] = [];
    let ignoredCertAuthorities = 0;
    for (const file of files) {
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        // Fail closed: the file may hold this host's key, or a @revoked line for the one presented.
        throw new RemoteError(
          'protocol',
          node,
          `Cannot read the known hosts file ${file} (${code ?? (e as Error).message}), so the host key of ${node} (${host}:${port}) cannot be checked against it. Nothing was sent to ${node}.`,
          `Make ${file} a file readable by the user running this (ls -l ${shQuote(file)}), or take it out of the known hosts files (UserKnownHostsFile in ~/.ssh/config); then run the step again.`,
        );
      }
      const parsed = parseKnownHosts(text, file);
      for (const bad of parsed.badLines) this.opts.log?.(`known hosts: ${file} line ${bad.line} ignored: ${bad.reason}`);
      entries.push(...parsed.entries);
    }
    const result = lookupKnownHosts(entries, host, port);
    ignoredCertAuthorities += result.ignoredCertAuthorities;
    if (ignoredCertAuthorities > 0) {
      this.opts.log?.(
        `known hosts: ${ignoredCertAuthorities} @cert-authority line(s) cover ${knownHostsName(host, port)}; host certificates are not checked, the plain host key must be known or accepted`,
      );
    }
    return result;
  }

  /** Resolves when the key may be used; throws a RemoteError when it must not. */
  async verify(node: string, host: string, port: number, presented: Buffer): Promise<HostKeyVerdict> {
    const lookup = await this.lookup(host, port, node);
    const judgement = judgeHostKey(lookup, presented);
    const fp = fingerprintSha256(presented);
    const type = keyTypeOfBlob(presented) ?? 'unknown';
    const where = `${host}:${port}`;
    switch (judgement.kind) {
      case 'known':
        return 'known';
      case 'revoked':
        throw new RemoteError(
          'hostkey-revoked',
          node,
          `Node ${node} (${where}) presented the ${type} host key ${fp}, which line ${judgement.entry.line} of ${judgement.entry.source} marks @revoked. Not connecting.`,
          `Ask the node's administrator for its current host key; a revoked key must never be accepted.`,
        );
      case 'changed': {
        const known = judgement.expected.map((e) => fingerprintSha256(e.keyBlob));
        const listed = judgement.expected.map((e) => `${e.keyType} ${fingerprintSha256(e.keyBlob)} (${e.source} line ${e.line})`).join('; ');
        const name = knownHostsName(host, port);
        const sources = [...new Set(judgement.expected.map((e) => e.source))];
        throw new HostKeyChangedError(
          node,
          `HOST KEY CHANGED for node ${node} (${where}): it presents ${type} ${fp}, but the known key is ${listed}. Someone may be intercepting the connection, or the server was reinstalled. Not connecting.`,
          `Verify ${fp} with the node's administrator (ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-/, '').replace(/-.*$/, '')}_key.pub on the node); only if it is genuine, remove the old key with ${sources.map((s) => `ssh-keygen -R ${shQuote(name)} -f ${shQuote(s)}`).join(' and ')} and connect again.`,
          fp,
          known,
        );
      }
      case 'unknown':
        return this.ask(node, host, port, presented, type, fp);
    }
  }

  private ask(node: string, host: string, port: number, presented: Buffer, keyType: string, fp: string): Promise<HostKeyVerdict> {
    // Nodes connect in parallel; one question per host:port:key, however many connections wait on it.
    const id = `${knownHostsName(host, port)} ${fp}`;
    const pending = this.asking.get(id);
    if (pending) return pending;
    const p = (async (): Promise<HostKeyVerdict> => {
      const answer = await this.opts.prompt({ node, host, port, keyType, fingerprintSha256: fp });
      if (answer === 'once') {
        this.opts.log?.(`${node}: accepted ${keyType} host key ${fp} of ${host}:${port} for this connection only`);
        this.opts.onAccepted?.({ node, host, port, keyType, fingerprintSha256: fp, remembered: false });
        return 'accepted-once';
      }
      if (answer === 'always') {
        await this.store(host, port, presented);
        this.opts.log?.(`${node}: accepted ${keyType} host key ${fp} of ${host}:${port} and stored it in ${this.opts.storeFile}`);
        this.opts.onAccepted?.({ node, host, port, keyType, fingerprintSha256: fp, remembered: true });
        return 'accepted-stored';
      }
      throw new RemoteError(
        'hostkey-unknown-declined',
        node,
        // Dismissed is not refused for good: the step says it waits for trust, and the next Run asks again.
        `${WAITING_FOR_TRUST}: the host key of node ${node} (${host}:${port}, ${keyType} ${fp}) is not known and was not accepted; nothing was sent to it.`,
        `Compare ${fp} with the node's own key (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the node), or add it to ~/.ssh/known_hosts. ${ASKED_AGAIN}`,
      );
    })();
    this.asking.set(id, p);
    const forget = (): void => void this.asking.delete(id);
    p.then(forget, forget);
    return p;
  }

  /**
   * An unknown key accepted ahead of time (the trust pass), stored and reported exactly as an
   * 'always' answer to the in-step prompt is. Refuses a key that is not unknown right now.
   */
  async remember(node: string, host: string, port: number, presented: Buffer): Promise<void> {
    const judgement = judgeHostKey(await this.lookup(host, port), presented);
    const fp = fingerprintSha256(presented);
    if (judgement.kind === 'known') return;
    if (judgement.kind !== 'unknown') {
      throw new RemoteError('hostkey-changed', node, `The host key ${fp} of ${node} (${host}:${port}) is ${judgement.kind === 'revoked' ? 'revoked' : 'not the known one'}; it is never stored.`, 'Review the host keys again and compare with the node\'s administrator.');
    }
    const keyType = keyTypeOfBlob(presented) ?? 'unknown';
    await this.store(host, port, presented);
    this.opts.log?.(`${node}: accepted ${keyType} host key ${fp} of ${host}:${port} in the trust review and stored it in ${this.opts.storeFile}`);
    this.opts.onAccepted?.({ node, host, port, keyType, fingerprintSha256: fp, remembered: true });
  }

  private async store(host: string, port: number, key: Buffer): Promise<void> {
    await fs.mkdir(path.dirname(this.opts.storeFile), { recursive: true });
    await fs.appendFile(this.opts.storeFile, formatKnownHostsLine(host, port, key) + '\n', { mode: 0o644 });
  }
}
