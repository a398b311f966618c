// The one place that knows, while an installer runs on a node, how far it got and how to stop it.
// A guard (a server that comes back) and Cancel ask `phase()` before `stop()`: before the schema
// upgrade a stop changes nothing; during it, the database is left half-upgraded.
import type { DetachedRun } from '../remote/detached';
import type { InstallerEvent } from '../ucd/installer/driver';
import { LAYING_FILES } from '../ucd/installer/texts';

export type InstallerPhase =
  /** Running, nothing written yet: prompts, refusal checks. Stopping here changes nothing. */
  | 'before-schema-upgrade'
  /** This node upgrades the shared database schema: stopping now leaves it half-upgraded. */
  | 'schema-upgrade'
  /** The schema is done (or was current); the new files are being laid into the install. */
  | 'laying-files'
  | 'ended';


export class InstallerHandle {
  private current: InstallerPhase = 'before-schema-upgrade';
  private stopping: Promise<string> | undefined;

  constructor(
    readonly node: string,
    /** Where it runs: run id, pid and folder, as journaled. */
    readonly run: DetachedRun,
    private readonly stopper: () => Promise<string>,
  ) {}

  phase(): InstallerPhase {
    return this.current;
  }

  /** Ends the installer's whole session on the node; resolves with what the node said. Once only. */
  stop(): Promise<string> {
    this.stopping ??= this.stopper();
    return this.stopping;
  }

  /** Fed every driver event, in order, so the phase follows the output. */
  observe(e: InstallerEvent): void {
    if (this.current === 'ended') return;
    if (e.type === 'done') this.current = 'ended';
    else if (e.type === 'info') this.current = e.kind === 'databaseUpgrades' ? 'schema-upgrade' : 'laying-files';
    // Files laid without a schema line first still count: the install is being changed.
    else if (e.type === 'progress' && LAYING_FILES.test(e.line)) this.current = 'laying-files';
  }
}
