// Every endpoint the run will meet, named by what it is to the run: each node's SSH (and the jump
// hosts ~/.ssh/config puts in front of it), each node's HTTPS, the load balancer and the UCD URL.
import type { Cluster } from '../cluster/types';
import type { SshPool } from '../remote/ssh';
import type { EndpointRole, SshEndpoint, TlsEndpoint } from './judge';

/** One SSH hop as the pool resolves it (host, port, user and keys from ~/.ssh/config). */
export type ResolvedHop = ReturnType<SshPool['hop']>['hop'];

export interface SshEndpointPlan extends SshEndpoint {
  /** The jump hosts in front of it, in order; their keys must be trusted to reach this one. */
  readonly via: readonly ResolvedHop[];
}

export function sshEndpoints(cluster: Cluster, pool: Pick<SshPool, 'hop'>): SshEndpointPlan[] {
  const byKey = new Map<string, { host: string; port: number; via: ResolvedHop[]; roles: EndpointRole[] }>();
  const add = (host: string, port: number, via: ResolvedHop[], role: EndpointRole): void => {
    const key = `${host.toLowerCase()}:${port} via ${via.map((v) => `${v.host}:${v.port}`).join(',')}`;
    const e = byKey.get(key) ?? { host, port, via, roles: [] };
    if (!e.roles.some((r) => r.name === role.name)) e.roles.push(role);
    byKey.set(key, e);
  };
  for (const n of cluster.nodes) {
    const { hop, jumps } = pool.hop(n.name, n.sshAlias ?? n.host, {
      ...(n.sshAlias && n.sshPort === 22 ? {} : { port: n.sshPort }),
      ...(n.user !== undefined ? { user: n.user } : {}),
      ...(n.identityFile !== undefined ? { identityFile: n.identityFile } : {}),
    });
    const via = jumps.map((j) => pool.hop(`${n.name} via ${j.host}`, j.host, { ...(j.port !== undefined ? { port: j.port } : {}), ...(j.user !== undefined ? { user: j.user } : {}) }).hop);
    via.forEach((j, i) => add(j.host, j.port, via.slice(0, i), { name: j.host, what: `jump host in front of node ${n.name}` }));
    add(hop.host, hop.port, via, { name: via.length ? `${n.name} via ${via.map((v) => v.host).join(', ')}` : n.name, what: `SSH to node ${n.name} (every step's remote work)` });
  }
  return [...byKey.values()].map((e) => ({ kind: 'ssh', host: e.host, port: e.port, roles: e.roles, via: e.via }));
}

function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 443 };
}

export function tlsEndpoints(cluster: Cluster): TlsEndpoint[] {
  const byKey = new Map<string, { host: string; port: number; roles: EndpointRole[] }>();
  const add = (host: string, port: number, role: EndpointRole): void => {
    const key = `${host.toLowerCase()}:${port}`;
    const e = byKey.get(key) ?? { host, port, roles: [] };
    e.roles.push(role);
    byKey.set(key, e);
  };
  for (const n of cluster.nodes) add(n.host, n.httpsPort, { name: n.name, what: `HTTPS of node ${n.name} (its login page, waited for in steps 8 and 10, read in 9 and 11)` });
  const lb = hostPortOf(cluster.loadBalancerUrl);
  add(lb.host, lb.port, { name: 'load balancer', what: `the load balancer ${cluster.loadBalancerUrl} (step 11 and the pre-flight)` });
  const ucd = hostPortOf(cluster.ucd.url);
  add(ucd.host, ucd.port, { name: 'UCD URL', what: `ucd.url ${cluster.ucd.url}: the REST API (step 2 and the pre-flight)` });
  return [...byKey.values()].map((e) => ({ kind: 'tls', ...e }));
}

/** For a prompt met later: what host:port is to the run ("HTTPS of node ucd2 …"), if the cluster names it. */
export function roleOf(cluster: Cluster, host: string, port: number): string | undefined {
  const e = tlsEndpoints(cluster).find((t) => t.host.toLowerCase() === host.toLowerCase() && t.port === port);
  return e?.roles.map((r) => r.what).join('; ');
}
