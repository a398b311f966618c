// A LocalShell whose commands run in a private pid namespace (with its own /proc): a "machine"
// on which no process of this host runs, so a test can prove a node stopped while other UCD-shaped
// processes (another test, a test cluster) run on the host. Real isolation, as the cluster's
// nodes have; unprivileged through a user namespace, where the kernel allows one.
import { spawnSync } from 'node:child_process';
import type { ExecOptions, ExecResult, Transport } from '../../src/core/remote/transport';
import { LocalShell } from './localShell';

const UNSHARE = 'unshare --user --map-root-user --pid --fork --mount-proc';

/** Why an isolated shell cannot run here, or undefined when it can. */
export function isolationUnavailable(): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', `${UNSHARE} true`], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? undefined : `this machine denies unprivileged pid namespaces (${(r.stderr || r.error?.message || '').trim()})`;
}

export class IsolatedShell implements Transport {
  readonly shell: LocalShell;
  constructor(readonly label = 'isolated') {
    this.shell = new LocalShell(label);
  }
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.shell.exec(`exec ${UNSHARE} ${command}`, options);
  }
  async close(): Promise<void> {}
}
