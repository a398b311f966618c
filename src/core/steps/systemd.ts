// systemd nodes: what the units that manage an install mean for the stopped-proof, whether a stop
// or start goes through systemctl or the service commands (the cluster file's serviceManager),
// and the systemctl commands themselves. Masking and unmasking are in systemdMask.ts.
import type { ClusterNode } from '../cluster/types';
import type { NodeProbe } from '../probes/node';
import { describeUnit, MASK_DROP_IN, unitMasked, unitRestartsByItself, unitRuns, type SystemdUnit } from '../probes/systemd';
import { sh, trustedShell } from '../remote/quote';

type Probed = Extract<NodeProbe, { kind: 'probed' }>;

export interface UnitFindings {
  /** Evidence lines that fail the proof: a unit of this install runs, or the units cannot be read. */
  readonly blocking: readonly string[];
  readonly hints: readonly string[];
  /** Lines that inform without failing. */
  readonly notes: readonly string[];
  /** Enabled with Restart=: step 5 offers to mask them for the upgrade. */
  readonly flagged: readonly SystemdUnit[];
}

export function unitsOf(p: Probed): readonly SystemdUnit[] {
  return p.systemd.kind === 'ok' ? p.systemd.units : [];
}

/** Pure: the units' part of the stopped-proof. */
export function unitFindings(p: Probed): UnitFindings {
  const blocking: string[] = [];
  const hints: string[] = [];
  const notes: string[] = [];
  const flagged: SystemdUnit[] = [];
  if (p.systemd.kind === 'error') {
    blocking.push(`cannot tell which systemd units manage ${p.installDir}: ${p.systemd.message}`);
    hints.push(`Look at the units on ${p.node} (systemctl list-units --all --type=service), then Check again.`);
    return { blocking, hints, notes, flagged };
  }
  for (const u of unitsOf(p)) {
    if (unitRuns(u)) {
      blocking.push(`systemd unit ${describeUnit(u)}: it runs this install's server, or is starting it`);
      hints.push(`Stop it with systemctl stop ${u.name} on ${p.node} (step 4 does, unless serviceManager is "scripts"), then Check again.`);
    } else if (unitRestartsByItself(u)) {
      flagged.push(u);
      notes.push(`note: systemd unit ${describeUnit(u)}: systemd starts the server again at boot or when something starts the unit; Run step 5 to mask it for the upgrade (steps 8 and 10 unmask it)`);
    } else if (unitMasked(u)) {
      notes.push(`systemd unit ${describeUnit(u)}: masked, it cannot start until unmasked (steps 8 and 10 do)`);
    } else {
      notes.push(`systemd unit ${describeUnit(u)}`);
    }
  }
  return { blocking, hints, notes, flagged };
}

/** How a stop or a start is done on a node. */
export type ServiceControl =
  | { readonly kind: 'script'; readonly command: string; readonly why: string }
  | { readonly kind: 'systemctl'; readonly unit: string; readonly why: string }
  | { readonly kind: 'refused'; readonly why: string; readonly hint: string };

/** The unit to use: `name` always, `unit` when the probe saw it. */
function pick(node: ClusterNode, units: readonly SystemdUnit[], action: 'stop' | 'start'): { name?: string; unit?: SystemdUnit; several?: readonly SystemdUnit[] } {
  if (node.service.unit !== undefined) {
    const seen = units.find((u) => u.name === node.service.unit);
    return { name: node.service.unit, ...(seen ? { unit: seen } : {}) };
  }
  // A stop goes to the unit that runs; a start to the one unit there is.
  const candidates = action === 'stop' && units.some(unitRuns) ? units.filter(unitRuns) : units;
  if (candidates.length === 1) return { name: candidates[0]!.name, unit: candidates[0]! };
  return candidates.length > 1 ? { several: candidates } : {};
}

/**
 * Pure: stop or start through systemctl or the service command, as the cluster file's
 * serviceManager and the probe's units say. In "auto", a server that runs while its unit does not
 * was started behind systemd's back: the service command stops it, since `systemctl stop` would not.
 */
export function serviceControl(node: ClusterNode, probe: NodeProbe, action: 'stop' | 'start'): ServiceControl {
  const command = action === 'stop' ? node.stopCommand : node.startCommand;
  const manager = node.service.manager;
  if (manager === 'scripts') return { kind: 'script', command, why: 'serviceManager "scripts"' };
  if (probe.kind !== 'probed') {
    return manager === 'systemd' && node.service.unit !== undefined
      ? { kind: 'systemctl', unit: node.service.unit, why: 'serviceManager "systemd", systemdUnit from the cluster file' }
      : { kind: 'refused', why: `${node.name}: cannot tell its systemd units: ${probe.kind === 'failed' ? probe.message : probe.reason}`, hint: probe.kind === 'failed' ? probe.hint : 'Set serviceManager "scripts" for this node.' };
  }
  if (probe.systemd.kind === 'error' && manager === 'auto') {
    return { kind: 'refused', why: `${node.name}: cannot tell whether systemd manages ${node.installDir}: ${probe.systemd.message}`, hint: 'Set serviceManager to "systemd" (with systemdUnit) or "scripts" for this node, or fix the probe\'s error, then Run again.' };
  }
  const units = unitsOf(probe);
  const { name, unit, several } = pick(node, units, action);
  if (several) {
    return { kind: 'refused', why: `${node.name}: ${several.length} systemd units manage ${node.installDir} (${several.map((u) => u.name).join(', ')}): which one ${action === 'stop' ? 'stops' : 'starts'} the server is not clear`, hint: `Name the unit in the cluster file ("systemdUnit" of ${node.name}), then Run again.` };
  }
  if (name === undefined) {
    if (manager === 'systemd') {
      return { kind: 'refused', why: `${node.name}: serviceManager is "systemd" but no systemd unit manages ${node.installDir}${probe.systemd.kind === 'none' ? ` (${probe.systemd.why})` : ''}`, hint: `Name the unit with "systemdUnit", or set serviceManager to "auto" or "scripts" for ${node.name}.` };
    }
    return { kind: 'script', command, why: probe.systemd.kind === 'none' ? `no systemd (${probe.systemd.why})` : 'no systemd unit manages the install' };
  }
  if (manager === 'auto' && action === 'stop' && unit && !unitRuns(unit)) {
    const serverRuns = probe.processes.kind === 'ok' && probe.processes.servers.length > 0;
    if (serverRuns) return { kind: 'script', command, why: `the server runs but its unit ${name} does not: it was started behind systemd's back` };
  }
  return { kind: 'systemctl', unit: name, why: manager === 'systemd' ? 'serviceManager "systemd"' : `systemd unit ${name} manages the install` };
}

/** The command a control runs: systemctl with the unit quoted, or the user's own service command. */
export function controlCommand(c: Extract<ServiceControl, { kind: 'script' | 'systemctl' }>, action: 'stop' | 'start'): string {
  // --no-ask-password: a missing right is an error now, never a prompt that hangs the step.
  if (c.kind === 'script') return trustedShell(c.command).text;
  return (action === 'stop' ? sh`systemctl --no-ask-password stop -- ${c.unit}` : sh`systemctl --no-ask-password start -- ${c.unit}`).text;
}

export type UnitAction = 'mask' | 'unmask';

/**
 * `--runtime`: everything lives in /run, so a reboot never leaves a unit masked. A unit file in
 * /etc/systemd/system (where HCL's docs copy it) outranks a mask in /run, and a mask in /etc
 * cannot be made beside it: then a runtime drop-in blocks every start instead (a condition that
 * never holds, and Restart=no), which the probe reads back as masked.
 */
export function unitActionCommand(action: UnitAction, unit: string): string {
  const dir = `/run/systemd/system/${unit}.d`;
  if (action === 'mask') {
    return sh`u=${unit}; d=${dir}; f=${MASK_DROP_IN}
systemctl --no-ask-password mask --runtime -- "$u" || exit $?
[ "$(systemctl show -p LoadState --value -- "$u")" = masked ] && exit 0
systemctl --no-ask-password unmask --runtime -- "$u" || exit $?
mkdir -p "$d" && printf '%s\n' '# Masked for the UCD upgrade by the runbook (step 5); steps 8 and 10 remove this.' '[Unit]' 'ConditionPathExists=/run/ucd-upgrade-masked/never' '[Service]' 'Restart=no' > "$d/$f" || exit $?
systemctl --no-ask-password daemon-reload`.text;
  }
  return sh`u=${unit}; d=${dir}; f=${MASK_DROP_IN}
systemctl --no-ask-password unmask --runtime -- "$u" || exit $?
if [ -e "$d/$f" ]; then rm -f "$d/$f" && rmdir "$d" 2>/dev/null; systemctl --no-ask-password daemon-reload; fi`.text;
}

/** Pure: systemctl's failure as one message naming the node and the command, and what to do. */
export function systemctlFailure(node: string, command: string, code: number | null, output: string): { message: string; hint: string } {
  const text = output.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' | ');
  if (/access denied|interactive authentication required|not authorized|permission denied/i.test(output)) {
    return {
      message: `${node}: ${command} was refused (exit ${code ?? '?'}): the SSH user may not manage systemd units: ${text}`,
      hint: `Log in to ${node} as root, or give the SSH user sudo rights for systemctl; or run the command by hand as root, then Check again.`,
    };
  }
  return { message: `${node}: ${command} failed (exit ${code ?? '?'})${text ? `: ${text}` : ''}`, hint: `Look at systemctl status and journalctl -u of the unit on ${node}, then Run again.` };
}
