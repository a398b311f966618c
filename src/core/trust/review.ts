// The trust pass: every host key and certificate the run will meet, collected in parallel and
// compared with what is stored; accepting stores them exactly as the in-step prompts' "remember"
// answer does (the extension's known_hosts, the TLS pins) and reports each for the journal.
import type { Client } from 'ssh2';
import type { Cluster } from '../cluster/types';
import { RemoteError } from '../remote/transport';
import type { SshPool } from '../remote/ssh';
import { pinKey, type TlsTrust } from '../ucd/rest/tls';
import { sshEndpoints, tlsEndpoints, type SshEndpointPlan } from './endpoints';
import { judgeCertificate, judgeSshKey, unreachable, type TlsEndpoint, type TrustItem } from './judge';
import { forwardThrough, scanCertificate, scanHostKey } from './scan';

export interface TrustReviewDeps {
  readonly pool: SshPool;
  readonly tls: TlsTrust;
  /** Per endpoint; default 10 s. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

async function sshItem(ep: SshEndpointPlan, deps: TrustReviewDeps): Promise<TrustItem> {
  const policy = deps.pool.options.hostKeys;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let lookup: Awaited<ReturnType<typeof policy.lookup>>;
  try {
    lookup = await policy.lookup(ep.host, ep.port);
  } catch (e) {
    // An unreadable known_hosts file: nothing can be judged, so nothing is offered.
    return unreachable(ep, `cannot be checked: ${(e as Error).message}`, e instanceof RemoteError ? e.hint : 'Make the known hosts files readable, then review again.');
  }
  if (ep.via.length === 0) {
    try {
      return judgeSshKey(ep, lookup, await scanHostKey(ep.host, ep.port, lookup.known.map((k) => k.keyType), timeoutMs));
    } catch (e) {
      return unreachable(ep, `no host key collected: ${(e as Error).message}`, `Check that ${ep.host}:${ep.port} is reachable from here and sshd runs, then review again.`);
    }
  }
  // Behind jump hosts: reached only through them, so only once each of their keys is known.
  const jumps: Client[] = [];
  try {
    for (const [i, hop] of ep.via.entries()) {
      const l = await policy.lookup(hop.host, hop.port);
      const sock = i > 0 ? await forwardThrough(jumps[i - 1]!, hop.host, hop.port) : undefined;
      const item = judgeSshKey({ kind: 'ssh', host: hop.host, port: hop.port, roles: [] }, l, await scanHostKey(hop.host, hop.port, l.known.map((k) => k.keyType), timeoutMs, sock));
      if (item.status !== 'known') {
        return unreachable(ep, `reached through the jump host ${hop.host}:${hop.port}, whose host key is ${item.status}`, `Accept the jump host's key first (it is listed too), then review again to see this node's key.`);
      }
      const sock2 = i > 0 ? await forwardThrough(jumps[i - 1]!, hop.host, hop.port) : undefined;
      jumps.push(await deps.pool.connectHop(hop, '', sock2));
    }
    const sock = await forwardThrough(jumps[jumps.length - 1]!, ep.host, ep.port);
    return judgeSshKey(ep, lookup, await scanHostKey(ep.host, ep.port, lookup.known.map((k) => k.keyType), timeoutMs, sock));
  } catch (e) {
    const hint = e instanceof RemoteError ? e.hint : `Check the jump hosts in ~/.ssh/config and that they can reach ${ep.host}:${ep.port}, then review again.`;
    return unreachable(ep, `no host key collected through ${ep.via.map((v) => v.host).join(', ')}: ${(e as Error).message}`, hint);
  } finally {
    for (const j of jumps) j.end();
  }
}

async function tlsItem(ep: TlsEndpoint, deps: TrustReviewDeps): Promise<TrustItem> {
  const key = pinKey(ep.host, ep.port);
  const pinned = (await deps.tls.pins.get(key)) ?? deps.tls.sessionPins.get(key);
  try {
    return judgeCertificate(ep, pinned, await scanCertificate(ep.host, ep.port, deps.tls.ca, deps.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  } catch (e) {
    return unreachable(ep, `no certificate collected: ${(e as Error).message}`, `Check that ${ep.host}:${ep.port} is up and reachable from here (a stopped UCD server has no certificate to show), then review again.`);
  }
}

/** Every endpoint at once, read-only; in the cluster's order: SSH first, then HTTPS. */
export async function collectTrust(cluster: Cluster, deps: TrustReviewDeps): Promise<TrustItem[]> {
  return Promise.all([...sshEndpoints(cluster, deps.pool).map((ep) => sshItem(ep, deps)), ...tlsEndpoints(cluster).map((ep) => tlsItem(ep, deps))]);
}

/**
 * Stores the chosen items. Safety is here, not in the dialog: only an unknown item with what was
 * collected can be accepted; a changed, revoked or unreachable one throws.
 */
export async function acceptTrust(items: readonly TrustItem[], deps: Pick<TrustReviewDeps, 'pool' | 'tls'>): Promise<void> {
  for (const i of items) {
    if (i.status !== 'unknown') throw new Error(`${i.host}:${i.port} is ${i.status}, not unknown: it cannot be accepted.`);
  }
  for (const i of items) {
    const name = i.roles.map((r) => r.name).join(', ');
    if (i.kind === 'ssh') {
      if (!i.blob) throw new Error(`${name}: no host key was collected`);
      await deps.pool.options.hostKeys.remember(name, i.host, i.port, i.blob);
    } else {
      const c = i.certificate;
      if (!c) throw new Error(`${name}: no certificate was collected`);
      const key = pinKey(i.host, i.port);
      const pinned = await deps.tls.pins.get(key);
      if (pinned !== undefined) throw new Error(`${name} (${key}) was pinned meanwhile; review again.`);
      await deps.tls.pins.set(key, c.fingerprint256);
      deps.tls.onAccepted?.({ host: i.host, port: i.port, fingerprint256: c.fingerprint256, subject: c.subject, issuer: c.issuer, validFrom: c.validFrom, validTo: c.validTo, reason: c.reason ?? 'unverified' }, true);
    }
  }
}
