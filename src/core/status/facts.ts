// What a check learned about one node, in structured form. A finished journal record may carry
// it next to the human evidence, so the status view can be rebuilt from the journal alone.

export type PidFileFact =
  | { readonly state: 'absent' }
  /** The pid in var/server.pid is a running process. */
  | { readonly state: 'live'; readonly pid: number }
  /** var/server.pid names a pid that no process has: left behind by a killed server. */
  | { readonly state: 'stale'; readonly pid: number };

/** Which machine and install a node's entry reached (see probes/identity.ts). */
export interface MachineFact {
  readonly machineId?: string;
  readonly bootId?: string;
  readonly hostname?: string;
  /** The install dir as the node resolved it (or its normalized text when it could not). */
  readonly install: string;
  /** The entry's connection and installDir as written when this was probed; a changed entry makes it stale. */
  readonly via?: string;
}

export interface NodeFacts {
  /** false when the last attempt could not reach or log in to the node. */
  readonly reachable?: boolean;
  /** Why the node could not be reached, as the user should read it. */
  readonly unreachableReason?: string;
  readonly hostKeyChanged?: boolean;
  /** conf/installed.version of the node's install. */
  readonly version?: string;
  readonly pidFile?: PidFileFact;
  /** Which of the node's own ports (HTTPS, JMS) something listens on. */
  readonly listening?: readonly number[];
  /** pid of the UCD server process of this install, or null when there is none. */
  readonly serverPid?: number | null;
  /** The version the login page shows, when it answered. */
  readonly webVersion?: string;
  readonly loadBalancer?: 'in-rotation' | 'out-of-rotation' | 'unknown';
  /** Where the installer got to on this node. */
  readonly installer?: 'running' | 'upgraded' | 'refused' | 'handed-over' | 'failed';
  /** The machine and install this node's entry reached at its last probe. */
  readonly machine?: MachineFact;
  /** Storage paths that must still move into the shared appdata folder. */
  readonly storageToMove?: readonly string[];
  /** What step 3 staged on the node; the installer runs only this tree. */
  readonly staged?: StagedPackage;
  /** The systemd units that manage the install ([] when there are none, or no systemd). */
  readonly units?: readonly UnitFact[];
}

/** A systemd unit of the install, as the status view shows it. */
export interface UnitFact {
  readonly name: string;
  /** ActiveState: active, activating, inactive, failed, ... */
  readonly active: string;
  /** UnitFileState: enabled, disabled, masked-runtime, ... */
  readonly unitFile: string;
  /** Restart=: no, on-failure, always, ... */
  readonly restart: string;
}

/** The installer tree step 3 left on a node, as the node itself measured it. */
export interface StagedPackage {
  /** The staging folder: the step's own (the SSH user's, 0700) or the engineer's extracted folder. */
  readonly stage: string;
  /** The folder holding install-server.sh. */
  readonly installerDir: string;
  /** true when the step created the folder and every use checks it is the SSH user's alone. */
  readonly owned: boolean;
  /** sha256 of the archive as the node read it after the upload (equal to the local file's). */
  readonly archiveSha256?: string;
  /** sha256 of the tree's manifest: every entry's type, mode and owner, and each file's sha256. */
  readonly treeSha256: string;
  readonly entries: number;
}

/** Later facts win field by field: a version read at 10:02 is not erased by a port check at 10:03. */
export function mergeFacts(older: NodeFacts | undefined, newer: NodeFacts): NodeFacts {
  const out: Record<string, unknown> = { ...(older ?? {}) };
  for (const [k, v] of Object.entries(newer)) if (v !== undefined) out[k] = v;
  return out as NodeFacts;
}

/** True when the facts show any sign of a server still running on the node. */
export function showsRunning(f: NodeFacts): boolean {
  return f.pidFile?.state === 'live' || (f.listening?.length ?? 0) > 0 || (typeof f.serverPid === 'number');
}
