// A node probe as status facts: the structured part of what a check records in the journal.
import type { NodeProbe } from '../probes/node';
import type { MachineFact, NodeFacts } from './facts';

export function factsFromProbe(p: NodeProbe): NodeFacts {
  if (p.kind === 'unsupported') return {};
  if (p.kind === 'failed') {
    const unreachable = p.remoteKind !== undefined && p.remoteKind !== 'command-not-found' && p.remoteKind !== 'protocol';
    return {
      ...(unreachable ? { reachable: false, unreachableReason: p.message } : {}),
      ...(p.remoteKind === 'hostkey-changed' ? { hostKeyChanged: true } : {}),
    };
  }
  const facts: { -readonly [K in keyof NodeFacts]: NodeFacts[K] } = { reachable: true, hostKeyChanged: false };
  if (p.pidFile.kind === 'absent') facts.pidFile = { state: 'absent' };
  else if (p.pidFile.kind === 'live') facts.pidFile = { state: 'live', pid: p.pidFile.pid };
  else if (p.pidFile.kind === 'stale') facts.pidFile = { state: 'stale', pid: p.pidFile.pid };
  if (p.ports.kind === 'ok') facts.listening = [...new Set(p.ports.listeners.map((l) => l.port))].sort((a, b) => a - b);
  if (p.processes.kind === 'ok') facts.serverPid = p.processes.servers[0]?.pid ?? null;
  if (p.version.kind === 'ok' && p.version.install.kind === 'found') facts.version = p.version.install.version;
  if (p.systemd.kind !== 'error') facts.units = p.systemd.kind === 'ok' ? p.systemd.units.map((u) => ({ name: u.name, active: u.active, unitFile: u.unitFile || u.load, restart: u.restart })) : [];

  return facts;
}

/**
 * The machine a probe reached, tagged with the entry it was reached through (`via`), so a record
 * made before the cluster file changed is not held against the new entry.
 */
export function machineFact(p: NodeProbe, via: string): MachineFact | undefined {
  if (p.kind !== 'probed' || p.identity.kind !== 'ok') return undefined;
  const { machineId, bootId, hostname, install } = p.identity;
  return { ...(machineId ? { machineId } : {}), ...(bootId ? { bootId } : {}), ...(hostname ? { hostname } : {}), install, via };
}
