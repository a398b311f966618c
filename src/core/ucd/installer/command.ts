// The command that runs the installer on a node, guided or silent, with every value quoted.
import type { ClusterNode } from '../../cluster/types';
import { ps, sh, type PowerShellScript, type ShellScript } from '../../remote/quote';
import { PROMPTS } from './prompts';

export interface InstallerCommandInput {
  readonly node: Pick<ClusterNode, 'name' | 'installDir' | 'os'>;
  /** The extracted package folder on the node (the one holding install-server.sh). */
  readonly packageDir: string;
  readonly fips: boolean;
  readonly mode: 'guided' | 'silent';
}

export type InstallerCommand =
  | {
      readonly os: 'linux';
      readonly script: ShellScript;
      /** Guided: run it in a pty (the installer reads a terminal). Silent: a plain exec. */
      readonly pty: boolean;
      /** Give this as the exec's stdin so the transport closes it; the script feeds its own input. */
      readonly stdin: '';
    }
  | { readonly os: 'windows'; readonly script: PowerShellScript; readonly pty: boolean; readonly stdin: '' };

export class InstallerInputError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'InstallerInputError';
  }
}

/**
 * The lines fed to a silent install: the shell's directory prompt gets the install directory (so
 * the shell sources its bin/set_env and runs on the server's own JRE), then blank lines for a JRE
 * prompt, then end of input. The 7.0.4.2 defect: silent mode still stops at the shell's prompt,
 * so input must always be fed and closed. Blank lines alone would also pass that prompt, but then
 * the shell asks for the JRE and, with JAVA_HOME unset in the SSH session, loops forever.
 */
export function silentInputLines(node: InstallerCommandInput['node']): string[] {
  const decision = PROMPTS[0].decide({}, { node, cluster: { currentVersion: '', targetVersion: '' } });
  if (decision.kind === 'decline') throw new InstallerInputError(decision.message, decision.hint);
  if (decision.kind !== 'answer') throw new Error('the directory prompt is never one for a person to confirm');
  return [decision.value, '', ''];
}

/**
 * `cd <package> && ./install-server.sh [-fips]` (PowerShell and install-server.bat on Windows).
 * Silent: the input lines are piped in by the command itself, so standard input is closed by
 * construction, whatever the transport does.
 */
export function installerCommand(input: InstallerCommandInput): InstallerCommand {
  const args = input.fips ? ['-fips'] : [];
  const silent = input.mode === 'silent';
  if (input.node.os === 'windows') {
    const script = silent
      ? ps`Set-Location -LiteralPath ${input.packageDir}; @(${silentInputLines(input.node)}) | & .\\install-server.bat ${args}`
      : ps`Set-Location -LiteralPath ${input.packageDir}; & .\\install-server.bat ${args}`;
    return { os: 'windows', script, pty: !silent, stdin: '' };
  }
  const script = silent
    ? sh`cd ${input.packageDir} && printf '%s\\n' ${silentInputLines(input.node)} | ./install-server.sh ${args}`
    : sh`cd ${input.packageDir} && ./install-server.sh ${args}`;
  return { os: 'linux', script, pty: !silent, stdin: '' };
}

/** Where the package keeps install.properties. */
export function installPropertiesPath(packageDir: string, os: 'linux' | 'windows'): string {
  const sep = os === 'windows' ? '\\' : '/';
  return packageDir.replace(/[\\/]+$/, '') + sep + 'install.properties';
}
