// The pure part of the trust pass: what was collected, compared with what is stored. A changed or
// revoked key and a changed certificate are never offered; only an unknown one can be accepted.
import { judgeHostKey } from '../remote/hostKeys';
import { fingerprintSha256, keyTypeOfBlob, type KnownHostsLookup } from '../remote/knownHosts';
import { normalizeFingerprint } from '../ucd/rest/tls';

/** What one endpoint is to the run, in the words a person checks against (node names first). */
export interface EndpointRole {
  /** "ucd2", "ucd1 via bastion", "load balancer", "UCD URL". */
  readonly name: string;
  /** "SSH to node ucd2", "HTTPS of node ucd2 (its login page, steps 8-11)". */
  readonly what: string;
}

export interface SshEndpoint {
  readonly kind: 'ssh';
  readonly host: string;
  readonly port: number;
  readonly roles: readonly EndpointRole[];
}

export interface TlsEndpoint {
  readonly kind: 'tls';
  readonly host: string;
  readonly port: number;
  readonly roles: readonly EndpointRole[];
}

export type Endpoint = SshEndpoint | TlsEndpoint;

/** An SSH key as the server presented it. */
export interface PresentedHostKey {
  readonly blob: Buffer;
}

/** A certificate as the server presented it (fields as tls.PeerCertificate names them). */
export interface PresentedCertificate {
  /** Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** The chain verified against the system's (and the configured) CAs. */
  readonly authorized: boolean;
  /** Why it did not, as OpenSSL names it. */
  readonly reason?: string;
}

export type TrustStatus =
  /** Stored before (known_hosts, the extension's store, a pin) or, for TLS, a chain that verifies. */
  | 'known'
  /** Not known: may be accepted. */
  | 'unknown'
  /** A different key or certificate than the stored one: refused, never offered. */
  | 'changed'
  | 'revoked'
  /** Nothing was collected (not reachable, or behind a jump host not yet trusted). */
  | 'unreachable';

interface ItemBase {
  readonly host: string;
  readonly port: number;
  readonly roles: readonly EndpointRole[];
  readonly status: TrustStatus;
  /** One line: why this status ("in ~/.ssh/known_hosts line 3", "chain verifies", the refusal). */
  readonly why: string;
  /** What to do next, for changed, revoked and unreachable. */
  readonly hint?: string;
}

export interface SshItem extends ItemBase {
  readonly kind: 'ssh';
  readonly keyType?: string;
  /** `SHA256:…` as ssh-keygen -lf prints it. */
  readonly fingerprint?: string;
  readonly blob?: Buffer;
}

export interface TlsItem extends ItemBase {
  readonly kind: 'tls';
  readonly certificate?: PresentedCertificate;
}

export type TrustItem = SshItem | TlsItem;

export function endpointLabel(i: Pick<TrustItem, 'host' | 'port' | 'roles'>): string {
  return `${i.roles.map((r) => r.name).join(', ')} (${i.host}:${i.port})`;
}

/** A host key against what the known_hosts files and the extension's store say. */
export function judgeSshKey(ep: SshEndpoint, lookup: KnownHostsLookup, key: PresentedHostKey): SshItem {
  const fp = fingerprintSha256(key.blob);
  const keyType = keyTypeOfBlob(key.blob) ?? 'unknown';
  const base = { kind: 'ssh' as const, host: ep.host, port: ep.port, roles: ep.roles, keyType, fingerprint: fp, blob: key.blob };
  const j = judgeHostKey(lookup, key.blob);
  switch (j.kind) {
    case 'known':
      return { ...base, status: 'known', why: `known: ${j.entry.source} line ${j.entry.line}` };
    case 'revoked':
      return {
        ...base, status: 'revoked',
        why: `REVOKED: line ${j.entry.line} of ${j.entry.source} marks this key @revoked; never accepted`,
        hint: 'Ask the node\'s administrator for its current host key; a revoked key must never be accepted.',
      };
    case 'changed': {
      const listed = j.expected.map((e) => `${e.keyType} ${fingerprintSha256(e.keyBlob)} (${e.source} line ${e.line})`).join('; ');
      return {
        ...base, status: 'changed',
        why: `HOST KEY CHANGED: it presents ${keyType} ${fp}, but the known key is ${listed}. Someone may be intercepting the connection, or the server was reinstalled. Not offered for acceptance.`,
        hint: `Verify ${fp} with the node's administrator; only if it is genuine, remove the old key (ssh-keygen -R) and review again.`,
      };
    }
    case 'unknown':
      return { ...base, status: 'unknown', why: 'not known: compare the fingerprint with the node\'s own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)' };
  }
}

/** A certificate against the pin stored for host:port (a pin wins over a CA, as in connectTrusted). */
export function judgeCertificate(ep: TlsEndpoint, pinned: string | undefined, cert: PresentedCertificate): TlsItem {
  const presented = normalizeFingerprint(cert.fingerprint256);
  const base = { kind: 'tls' as const, host: ep.host, port: ep.port, roles: ep.roles, certificate: { ...cert, fingerprint256: presented } };
  if (pinned !== undefined) {
    const pin = normalizeFingerprint(pinned);
    if (pin === presented) return { ...base, status: 'known', why: 'pinned: the same certificate was accepted before' };
    return {
      ...base, status: 'changed',
      why: `The TLS certificate has CHANGED. Pinned SHA-256 ${pin}, presented SHA-256 ${presented}. Not offered for acceptance.`,
      hint: 'If the UCD administrators replaced the certificate, compare the new fingerprint with them and remove the old pin; otherwise treat this as an attack and stop.',
    };
  }
  if (cert.authorized) return { ...base, status: 'known', why: 'the chain verifies against a trusted CA' };
  return { ...base, status: 'unknown', why: `not trusted (${cert.reason ?? 'unverified'}): compare the fingerprint with openssl x509 -fingerprint -sha256 on the server` };
}

export function unreachable(ep: Endpoint, why: string, hint: string): TrustItem {
  return { kind: ep.kind, host: ep.host, port: ep.port, roles: ep.roles, status: 'unreachable', why, hint };
}

export interface TrustSummary {
  readonly known: number;
  readonly unknown: number;
  readonly refused: number;
  readonly unreachable: number;
}

export function summarize(items: readonly TrustItem[]): TrustSummary {
  const n = (f: (i: TrustItem) => boolean) => items.filter(f).length;
  return {
    known: n((i) => i.status === 'known'),
    unknown: n((i) => i.status === 'unknown'),
    refused: n((i) => i.status === 'changed' || i.status === 'revoked'),
    unreachable: n((i) => i.status === 'unreachable'),
  };
}

/** One line per item, the same in the CLI and the editor's log. */
export function describeItem(i: TrustItem): string {
  const status = i.status === 'changed' || i.status === 'revoked' ? i.status.toUpperCase() : i.status;
  const what = i.kind === 'ssh'
    ? (i.fingerprint ? `SSH host key ${i.keyType} ${i.fingerprint}` : 'SSH host key')
    : (i.certificate ? `TLS certificate SHA-256 ${i.certificate.fingerprint256}; subject ${i.certificate.subject}; issuer ${i.certificate.issuer}; valid ${i.certificate.validFrom} – ${i.certificate.validTo}` : 'TLS certificate');
  return `${status}: ${endpointLabel(i)}: ${what} — ${i.why}${i.hint ? ` Next: ${i.hint}` : ''}`;
}
