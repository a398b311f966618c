// Read-only collection: each host key as the server presents it to the run (the known key types
// offered first, as the run's connections do) and each certificate as connectTrusted sees it.
// Nothing is authenticated to the scanned server itself and nothing is sent to it.
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { hostKeyAlgorithmsFor } from '../remote/knownHosts';
import type { PresentedCertificate, PresentedHostKey } from './judge';

export class ScanError extends Error {}

/** The host key host:port presents, over `sock` (a forward through a jump host) when given. */
export function scanHostKey(host: string, port: number, knownTypes: readonly string[], timeoutMs: number, sock?: Duplex): Promise<PresentedHostKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let captured: Buffer | undefined;
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.on('error', () => undefined);
      client.destroy();
      if (captured) resolve({ blob: captured });
      else reject(err ?? new ScanError(`${host}:${port} closed the connection before presenting a host key`));
    };
    const timer = setTimeout(() => done(new ScanError(`no SSH host key from ${host}:${port} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    client.on('error', (e: Error & { code?: string }) => done(captured ? undefined : new ScanError(`cannot reach ${host}:${port}: ${e.code ?? e.message}`)));
    client.on('close', () => done());
    const config: ConnectConfig = {
      host,
      port,
      username: 'ucd-upgrade-trust-review',
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: hostKeyAlgorithmsFor(knownTypes) as ServerHostKeyAlgorithm[] },
      // Refusing every key ends the handshake before any authentication.
      hostVerifier: (key: Buffer) => {
        captured = Buffer.from(key);
        setImmediate(() => done());
        return false;
      },
      ...(sock ? { sock: sock as unknown as ConnectConfig['sock'] } : {}),
    };
    client.connect(config);
  });
}

/** A TCP forward through an authenticated jump host, for the next hop's scan. */
export function forwardThrough(jump: Client, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    jump.forwardOut('127.0.0.1', 0, host, port, (err, stream) => (err ? reject(new ScanError(`the jump host cannot open ${host}:${port}: ${err.message}`)) : resolve(stream as unknown as Duplex)));
  });
}

function dn(d: tls.PeerCertificate['subject'] | undefined): string {
  if (!d) return '';
  return Object.entries(d).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(', ');
}

/** The certificate host:port presents, judged for its chain exactly as connectTrusted opens it. */
export function scanCertificate(host: string, port: number, ca: string | undefined, timeoutMs: number): Promise<PresentedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(net.isIP(host) ? {} : { servername: host }),
      ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}),
    });
    let settled = false;
    const done = (r: PresentedCertificate | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.on('error', () => undefined);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const timer = setTimeout(() => done(new ScanError(`no TLS handshake with ${host}:${port} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    socket.on('error', (e: NodeJS.ErrnoException) => done(new ScanError(`cannot reach ${host}:${port}: ${e.code ?? e.message}`)));
    socket.once('secureConnect', () => {
      const c = socket.getPeerCertificate();
      if (!c || !c.fingerprint256) return done(new ScanError(`${host}:${port} presented no certificate`));
      done({
        fingerprint256: c.fingerprint256,
        subject: dn(c.subject),
        issuer: dn(c.issuer),
        validFrom: c.valid_from,
        validTo: c.valid_to,
        authorized: socket.authorized,
        ...(socket.authorizationError ? { reason: String(socket.authorizationError) } : {}),
      });
    });
  });
}
