// The interactive ssh behind "Open Terminal on Node": it trusts exactly the host keys the
// extension verified (the same known_hosts files and the extension's own store) and never asks
// again, and when it ends with ssh's own failure (255) the person is told what happened and what
// to do, not just the exit code.
import type { ClusterNode } from '../cluster/types';

/** A value of an ssh -o option as ssh's own tokenizer reads it: each path in double quotes. */
export function sshPathList(files: readonly string[]): string {
  return files.map((f) => `"${f.replace(/[\\"]/g, '\\$&')}"`).join(' ');
}

/** ssh's arguments, as a list (no shell sees them). `knownHostsFiles`: what the extension verifies against. */
export function terminalSshArgs(n: ClusterNode, knownHostsFiles: readonly string[]): string[] {
  const args = ['-p', String(n.sshPort)];
  if (knownHostsFiles.length) args.push('-o', `UserKnownHostsFile=${sshPathList(knownHostsFiles)}`);
  // A key the extension has not verified is refused, not asked a second time in a terminal.
  args.push('-o', 'StrictHostKeyChecking=yes');
  if (n.identityFile) args.push('-i', n.identityFile);
  const dest = n.sshAlias ?? n.host;
  // `--`: a host from the file is never read as one of ssh's options ("-oProxyCommand=…").
  args.push('--', n.user && !n.sshAlias ? `${n.user}@${dest}` : dest);
  return args;
}

/** What to say when the terminal's ssh ended; undefined when it ended as a session does (the shell's own exit code). */
export function terminalExitMessage(n: ClusterNode, code: number | undefined): string | undefined {
  if (code !== 255) return undefined;
  const where = `${n.sshAlias ?? n.host}:${n.sshPort}`;
  return `The terminal on ${n.name} closed: ssh could not log in to ${where} (exit code 255). `
    + `Either the host key of ${n.name} is not one the extension has verified (the terminal trusts only your known_hosts and the keys accepted in this extension, and does not ask), or the connection or login failed. `
    + `Run Check on a step of ${n.name} so the extension verifies its host key and login (it shows the key's fingerprint and asks), then open the terminal again; ssh's own message was in the terminal.`;
}
