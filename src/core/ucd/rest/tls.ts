// TLS to a UCD server, trusted the way SSH trusts host keys. UCD usually runs with a self-signed
// certificate, so a chain that does not verify is normal: the user is shown the certificate's
// SHA-256 fingerprint once and chooses; a pinned certificate is then accepted for that host:port
// only if it is exactly the same one, and a different one is refused loudly.
//
// Verification is per connection, never global (no NODE_TLS_REJECT_UNAUTHORIZED): the socket is
// opened with rejectUnauthorized:false and judged in its 'secureConnect' handler, and only a socket
// that passed is handed to the HTTP layer — so nothing, credentials least of all, is written to a
// server that was not accepted.
// A pin wins over CA validation: once the user pinned a certificate for host:port, only that
// certificate is accepted there, even if another one would chain to a trusted CA (as with SSH).
import * as net from 'node:net';
import * as tls from 'node:tls';
import { UcdRestError } from './errors';

/** Persistent "always" decisions, keyed by host:port (lower-case host). */
export interface TlsPinStore {
  get(hostPort: string): Promise<string | undefined>;
  set(hostPort: string, fingerprint256: string): Promise<void>;
}

export type CertDecision = 'once' | 'always' | 'cancel';

export interface UnknownCertificate {
  readonly host: string;
  readonly port: number;
  /** Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** Why the chain did not verify, as OpenSSL names it (e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  readonly reason: string;
}

export type CertPrompt = (cert: UnknownCertificate) => Promise<CertDecision>;

export class MemoryPinStore implements TlsPinStore {
  private readonly pins = new Map<string, string>();
  async get(hostPort: string): Promise<string | undefined> {
    return this.pins.get(hostPort);
  }
  async set(hostPort: string, fingerprint256: string): Promise<void> {
    this.pins.set(hostPort, fingerprint256);
  }
}

export interface TlsTarget {
  readonly host: string;
  readonly port: number;
  /** scheme://host:port, for messages. */
  readonly origin: string;
}

export interface TlsTrust {
  readonly pins: TlsPinStore;
  readonly prompt: CertPrompt;
  /** Extra CA certificates (PEM) to trust besides the system's, e.g. a company CA. */
  readonly ca?: string;
  /** Fingerprints accepted 'once' in this client's lifetime, by host:port. */
  readonly sessionPins: Map<string, string>;
  /** A person accepted a certificate that did not verify: for the run's journal (who, when, which). */
  readonly onAccepted?: (cert: UnknownCertificate, remembered: boolean) => void;
}

export function pinKey(host: string, port: number): string {
  return `${host.toLowerCase()}:${port}`;
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/^.*=/, '').replace(/[^0-9a-fA-F]/g, '').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/**
 * Opens a TLS connection and returns it only once the server is trusted: a pinned certificate that
 * matches, a chain that verifies (for an unpinned host), or the user's choice after a prompt.
 */
export async function connectTrusted(target: TlsTarget, trust: TlsTrust, signal: AbortSignal | undefined, timeoutMs: number): Promise<tls.TLSSocket> {
  const key = pinKey(target.host, target.port);
  // Two rounds at most: the first may end in a prompt; the second must present what was accepted.
  for (let round = 0; round < 2; round++) {
    const socket = await openTls(target, trust.ca, signal, timeoutMs);
    const presented = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
    const pinned = (await trust.pins.get(key)) ?? trust.sessionPins.get(key);
    if (pinned !== undefined) {
      if (normalizeFingerprint(pinned) === presented) return socket;
      socket.destroy();
      throw new UcdRestError(
        'tls-changed', target.origin,
        `The TLS certificate of ${target.origin} has CHANGED. Pinned SHA-256 ${normalizeFingerprint(pinned)}, presented SHA-256 ${presented}. Nothing was sent to the server.`,
        'If the UCD administrators replaced the certificate, compare the new fingerprint with them and remove the old pin; otherwise treat this as an attack and stop.',
        { pinned: normalizeFingerprint(pinned), presented },
      );
    }
    if (socket.authorized) return socket;
    if (round === 1) {
      // The user accepted a certificate and the server now shows another one that is not pinned
      // (an 'always' store that did not keep it): refuse rather than ask in a loop.
      socket.destroy();
      throw new UcdRestError('tls-changed', target.origin, `The TLS certificate of ${target.origin} changed while it was being accepted (now SHA-256 ${presented}). Nothing was sent to the server.`, 'Try again and compare the fingerprint with the UCD administrators.');
    }
    const cert = socket.getPeerCertificate();
    const info: UnknownCertificate = {
      host: target.host, port: target.port, fingerprint256: presented,
      subject: dn(cert.subject), issuer: dn(cert.issuer), validFrom: cert.valid_from, validTo: cert.valid_to,
      reason: String(socket.authorizationError ?? 'unverified'),
    };
    // Never keep a connection open while a person decides.
    socket.destroy();
    const decision = await trust.prompt(info);
    if (decision === 'cancel') {
      throw new UcdRestError('tls-declined', target.origin, `The TLS certificate of ${target.origin} (SHA-256 ${presented}) was not accepted; nothing was sent to the server.`, 'Compare the fingerprint with the UCD administrators, then try again and accept it, or configure a CA the certificate chains to.');
    }
    if (decision === 'always') await trust.pins.set(key, presented);
    else trust.sessionPins.set(key, presented);
    trust.onAccepted?.(info, decision === 'always');
  }
  throw new Error('unreachable');
}

function dn(d: tls.PeerCertificate['subject'] | undefined): string {
  if (!d) return '';
  return Object.entries(d).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(', ');
}

function openTls(target: TlsTarget, ca: string | undefined, signal: AbortSignal | undefined, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new UcdRestError('cancelled', target.origin, `Connecting to ${target.origin} was cancelled.`, 'Run the step again when ready.'));
      return;
    }
    const options: tls.ConnectionOptions = {
      host: target.host,
      port: target.port,
      // Judged below, per connection; see the file comment.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(net.isIP(target.host) ? {} : { servername: target.host }),
      ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}),
    };
    const socket = tls.connect(options);
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        // A late error (peer reset while a person reads the prompt) must not crash the host; the
        // HTTP layer attaches its own listener and reports it.
        socket.on('error', () => undefined);
        resolve(socket);
      }
    };
    const onAbort = () => done(new UcdRestError('cancelled', target.origin, `Connecting to ${target.origin} was cancelled.`, 'Run the step again when ready.'));
    const onError = (e: NodeJS.ErrnoException) =>
      done(new UcdRestError('unreachable', target.origin, `Cannot connect to ${target.origin}: ${e.code ?? e.message}.`, 'Check the UCD URL in the cluster file and that the server or load balancer is up and reachable from here.'));
    const timer = setTimeout(() => done(new UcdRestError('timeout', target.origin, `No TLS connection to ${target.origin} within ${Math.round(timeoutMs / 1000)} s.`, 'Check the URL, the port and any firewall between here and the server.')), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.once('secureConnect', () => done());
  });
}
