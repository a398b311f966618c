// All probes of one node in one round trip: build the composed script, run it with `/bin/sh -s`
// (the script travels on standard input, so the user's login shell never parses it and it never
// shows up in a process list), and hand each parser its own section.
import type { ClusterNode } from '../cluster/types';
import { RemoteError, type ExecResult, type RemoteErrorKind, type Transport } from '../remote/transport';
import { effectiveInstallDir, identityFragment, parseIdentity, type IdentityResult } from './identity';
import { parsePidFile, pidFileFragment, type PidFileResult } from './pidFile';
import { parsePorts, portsFragment, type PortsResult } from './ports';
import { parseProcesses, processesFragment, type ProcessesResult } from './processes';
import { composeScript, splitSections, type ComposedScript } from './sections';
import { parseSystemd, systemdFragment, type SystemdResult } from './systemd';
import { parseVersion, versionFragment, type VersionResult } from './version';

/** How every probe and action script is started: a POSIX shell reading the script from stdin. */
export const SH_STDIN_COMMAND = '/bin/sh -s';

export const WINDOWS_UNSUPPORTED = 'not supported on Windows nodes yet';

export interface ProbeOptions {
  /** The shared appdata folder, to read its installed.version too. */
  readonly appdataDir?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Fixed nonce, for tests that compare scripts. */
  readonly nonce?: string;
  /** systemd units to show besides those found (one this run masked no longer names the install). */
  readonly extraUnits?: readonly string[];
}

export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/** What was run and what came back, for the output channel. */
export interface ExecRecord {
  readonly command: string;
  readonly script: string;
  readonly result?: ExecResult;
}

export interface NodeFindings {
  /** Which machine answered, and the install dir as it resolved there. */
  readonly identity: IdentityResult;
  readonly pidFile: PidFileResult;
  readonly ports: PortsResult;
  readonly processes: ProcessesResult;
  readonly version: VersionResult;
  /** The systemd units that manage this install. */
  readonly systemd: SystemdResult;
}

export type NodeProbe =
  | ({ readonly kind: 'probed'; readonly node: string; readonly installDir: string; readonly httpsPort: number; readonly jmsPort: number } & NodeFindings)
  | { readonly kind: 'unsupported'; readonly node: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly node: string; readonly message: string; readonly hint: string; readonly remoteKind?: RemoteErrorKind };

export interface BuiltProbe extends ComposedScript {
  readonly command: string;
  readonly appdata: boolean;
  readonly extraUnits?: readonly string[];
}

export function buildNodeProbe(node: Pick<ClusterNode, 'installDir' | 'httpsPort' | 'jmsPort'>, opts: Pick<ProbeOptions, 'appdataDir' | 'nonce' | 'extraUnits'> = {}): BuiltProbe {
  const ports = [...new Set([node.httpsPort, node.jmsPort])];
  const composed = composeScript(
    [identityFragment(node.installDir), pidFileFragment(node.installDir), portsFragment(ports), processesFragment(), versionFragment(node.installDir, opts.appdataDir), systemdFragment(opts.extraUnits)],
    opts.nonce,
  );
  return { ...composed, command: SH_STDIN_COMMAND, appdata: opts.appdataDir !== undefined, extraUnits: opts.extraUnits ?? [] };
}

/** Pure: the exec result of a built probe → findings, or the reason there are none. */
export function parseNodeProbe(node: Pick<ClusterNode, 'name' | 'installDir' | 'httpsPort' | 'jmsPort'>, built: BuiltProbe, result: ExecResult): NodeProbe {
  const split = splitSections(result.stdout, built.nonce, built.names);
  if (!split.ok) {
    if (result.code === 127) {
      return { kind: 'failed', node: node.name, remoteKind: 'command-not-found', message: `${node.name}: /bin/sh not found (exit 127)`, hint: 'The node needs a POSIX shell at /bin/sh; check the node\'s OS setting in the cluster file.' };
    }
    const tail = result.stderr.trim().split('\n').slice(-3).join(' | ');
    return {
      kind: 'failed',
      node: node.name,
      remoteKind: 'protocol',
      message: `${node.name}: ${split.reason} (exit ${result.code ?? result.signal ?? '?'})${tail ? `: ${tail}` : ''}`,
      hint: 'See the UCD Upgrade log for the full output, then Check again.',
    };
  }
  const s = (name: string) => split.sections.get(name) ?? { body: '', status: -1 };
  const ports = [...new Set([node.httpsPort, node.jmsPort])];
  // Captured outputs from before the identity probe existed have no such section.
  const identity = built.names.includes('identity') ? parseIdentity(s('identity'), node.installDir) : { kind: 'error' as const, message: 'the probe did not ask which machine this is' };
  return {
    kind: 'probed',
    node: node.name,
    installDir: node.installDir,
    httpsPort: node.httpsPort,
    jmsPort: node.jmsPort,
    identity,
    pidFile: parsePidFile(s('pidfile')),
    ports: parsePorts(s('ports'), ports),
    processes: parseProcesses(s('processes'), node.installDir, identity.kind === 'ok' && identity.installResolved ? effectiveInstallDir(node.installDir, identity) : undefined),
    version: parseVersion(s('version'), built.appdata),
    systemd: built.names.includes('systemd')
      ? parseSystemd(s('systemd'), identity.kind === 'ok' && identity.installResolved ? [node.installDir, effectiveInstallDir(node.installDir, identity)] : [node.installDir], built.extraUnits ?? [])
      : { kind: 'none', why: 'the probe did not ask systemd' },
  };
}

/** A thrown error as the node's result: RemoteErrors keep their message and hint. */
export function failureOf(node: string, err: unknown): Extract<NodeProbe, { kind: 'failed' }> {
  if (err instanceof RemoteError) return { kind: 'failed', node, remoteKind: err.kind, message: err.message, hint: err.hint };
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'failed', node, message: `${node}: ${message}`, hint: 'See the UCD Upgrade log, fix the cause, then Check again.' };
}

/** Runs all probes of one node in one exec. Never throws: a failure is the node's result. */
export async function probeNode(
  transportFor: () => Promise<Transport>,
  node: ClusterNode,
  opts: ProbeOptions = {},
): Promise<{ probe: NodeProbe; record?: ExecRecord }> {
  if (node.os === 'windows') return { probe: { kind: 'unsupported', node: node.name, reason: WINDOWS_UNSUPPORTED } };
  const built = buildNodeProbe(node, opts);
  const record: { command: string; script: string; result?: ExecResult } = { command: built.command, script: built.script };
  try {
    const transport = await transportFor();
    record.result = await transport.exec(built.command, {
      stdin: built.script,
      timeoutMs: opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { probe: parseNodeProbe(node, built, record.result), record };
  } catch (err) {
    return { probe: failureOf(node.name, err), record };
  }
}
