// The command line's answers to the steps' questions. Nothing is asked: a confirmation is yes only
// when its --confirm flag was given beforehand; otherwise the safe answer is given and the run
// ends waiting for a person (exit 3), naming the flag that would have said yes.
import type { HostKeyQuestion } from '../core/remote/interaction';
import type { InstallerSession } from '../core/steps/installerInput';
import type { ProcessesChoice } from '../core/steps/processes';
import type { Confirmation, RunbookDialogs } from '../core/steps/table';
import type { RunningProcess } from '../core/ucd/rest/activity';

export interface Waiting {
  /** What would have answered it, e.g. `--confirm kill`. */
  readonly need: string;
  readonly why: string;
}

export class HeadlessDialogs implements RunbookDialogs {
  readonly waiting: Waiting[] = [];

  constructor(
    private readonly confirmed: ReadonlySet<Confirmation>,
    private readonly waitProcesses: boolean,
    private readonly say: (line: string) => void,
  ) {}

  async confirm(what: Confirmation, question: string, detail: string): Promise<boolean> {
    if (this.confirmed.has(what)) {
      this.say(`[confirmed by --confirm ${what}] ${question}${detail ? `\n${detail}` : ''}`);
      return true;
    }
    this.wait(`--confirm ${what}`, `Asked: ${question}${detail ? ` (${detail.replace(/\s*\n\s*/g, '; ')})` : ''}`);
    return false;
  }

  async chooseProcesses(running: readonly RunningProcess[]): Promise<ProcessesChoice | undefined> {
    if (this.waitProcesses) return { kind: 'wait' };
    // The last word on cancelling is still the confirmation that follows.
    if (this.confirmed.has('cancel-processes')) return { kind: 'cancel', processes: running };
    this.wait('--confirm cancel-processes or --wait-processes', `${running.length} process(es) run in UCD: ${running.map((p) => p.name).join(', ')}.`);
    return undefined;
  }

  async handOver(node: string, session: InstallerSession, backlog: string, why: string): Promise<void> {
    // No person at a terminal to take it: the installer is ended (it waits at the question).
    this.wait('a person at the installer', `The installer on ${node} asked what the runbook does not know (${why}); it was ended. Its last output:\n${backlog.slice(-2000)}\nRun this step from the editor to answer it yourself, or use installerMode "silent".`);
    session.stop();
  }

  /** An unknown SSH host key is never accepted here: the node fails with its fingerprint. */
  unknownHostKey(q: HostKeyQuestion): void {
    this.say(`[ssh] ${q.node} (${q.host}:${q.port}) presented an unknown ${q.keyType} host key ${q.fingerprintSha256}; not connecting. Compare it with the node's key (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and add it to a known_hosts file (--known-hosts FILE).`);
  }

  private wait(need: string, why: string): void {
    this.waiting.push({ need, why });
  }
}
