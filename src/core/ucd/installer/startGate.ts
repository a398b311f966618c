// The installer starts only when the runbook says go. Between the last proof that the servers are
// stopped and the installer's first byte there can be a host-key or password prompt, a reconnect
// or a wait for a free channel; so the remote command is a small wrapper that reports ready once
// it runs on the node, waits for one line, and only on "go" execs install-server.sh. The client
// checks the proof's age at that moment (steps/installer.ts); anything but "go" (or end of input)
// ends the wrapper with the installer never started.
import { ps, sh, type PowerShellScript, type ShellScript } from '../../remote/quote';
import type { InstallerCommand } from './command';

export const READY_MARKER = 'ucd-runbook: installer wrapper ready';
export const NOT_STARTED_MARKER = 'ucd-runbook: installer not started';
/** The wrapper's exit status when it ended without starting the installer. */
export const NOT_STARTED_EXIT = 97;
export const GO_LINE = 'go';
/** Any other line ends the wrapper; this one says why in the node's output. */
export const STOP_LINE = 'stop';

/**
 * Wraps the installer command. On a terminal (guided) the wrapper turns echo off while it waits,
 * so the go line is not shown as output, and restores the terminal before the installer starts.
 */
export function gatedInstallerScript(cmd: InstallerCommand): ShellScript | PowerShellScript {
  if (cmd.os === 'windows') {
    return ps`Write-Output ${READY_MARKER}
$line = [Console]::In.ReadLine()
if ($line -ne ${GO_LINE}) { Write-Output ${NOT_STARTED_MARKER}; exit ${NOT_STARTED_EXIT} }
${cmd.script}`;
  }
  const tty = cmd.pty
    ? { off: sh`s=$(stty -g 2>/dev/null) && stty -echo 2>/dev/null`, on: sh`[ -n "$s" ] && stty "$s" 2>/dev/null` }
    : { off: sh`s=''`, on: sh`:` };
  return sh`${tty.off}
printf '%s\\n' ${READY_MARKER}
line=''
IFS= read -r line
${tty.on}
case "$line" in ${GO_LINE}|${GO_LINE}"$(printf '\\r')") ;; *) printf '%s\\n' ${NOT_STARTED_MARKER}; exit ${NOT_STARTED_EXIT};; esac
exec /bin/sh -c ${cmd.script.text}`;
}

/**
 * Splits the wrapper's output at its ready line: what came before (a login banner, say) and
 * everything after, which is the installer's (the caller feeds that to the driver).
 */
export class ReadyWatcher {
  private head = '';
  private readyValue = false;

  get ready(): boolean {
    return this.readyValue;
  }

  /** Output before the ready line, for the log. */
  get before(): string {
    return this.readyValue ? this.beforeText : this.head;
  }

  private beforeText = '';

  /** Feeds output; returns the part after the ready line (empty until it was seen). */
  feed(chunk: string): string {
    if (this.readyValue) return chunk;
    this.head += chunk;
    const at = this.head.indexOf(READY_MARKER);
    if (at < 0) return '';
    const lineEnd = this.head.indexOf('\n', at);
    if (lineEnd < 0) return '';
    this.readyValue = true;
    this.beforeText = this.head.slice(0, at);
    const rest = this.head.slice(lineEnd + 1);
    this.head = '';
    return rest;
  }
}
