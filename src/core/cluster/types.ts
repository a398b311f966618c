// The validated cluster, as the rest of the engine sees it. Every optional field of the file has
// been defaulted by the loader, so consumers never re-derive defaults.

export type NodeOs = 'linux' | 'windows';

/**
 * Who starts and stops a node's server. auto: systemctl where the probe finds a unit that manages
 * the install, else the service commands; systemd: always systemctl (a missing unit is an error);
 * scripts: always the service commands, whatever units there are.
 */
export type ServiceManager = 'auto' | 'systemd' | 'scripts';

export const SERVICE_MANAGERS: readonly ServiceManager[] = ['auto', 'systemd', 'scripts'];

export interface NodeService {
  readonly manager: ServiceManager;
  /** The unit to use when several (or none by the probe's rules) manage the install. */
  readonly unit?: string;
}

export interface ClusterNode {
  readonly name: string;
  readonly host: string;
  readonly sshPort: number;
  /** SSH user; undefined means "from ~/.ssh/config, or the local user". */
  readonly user?: string;
  /** A Host alias in ~/.ssh/config whose HostName/User/Port/IdentityFile/ProxyJump apply. */
  readonly sshAlias?: string;
  readonly identityFile?: string;
  readonly os: NodeOs;
  /** Absolute path of the UCD server install on the node. */
  readonly installDir: string;
  readonly httpsPort: number;
  readonly jmsPort: number;
  /** Service commands; the doc says always to use service scripts to start and stop. */
  readonly startCommand: string;
  readonly stopCommand: string;
  /** How this node's actions gain the rights they need (the node's own setting over the cluster's). Absent: none. */
  readonly rights?: NodeRights;
  readonly service: NodeService;
}

/**
 * How the SSH user gains rights on a node. 'none': the SSH user does everything itself (it must own
 * the install). 'sudo': actions that need the install owner or root go through sudo to `as`.
 */
export type Privilege =
  | { readonly method: 'none' }
  | {
      readonly method: 'sudo';
      /** Who root-level actions (probes of other users' processes, kill) run as: root, or the install owner when sudo may only switch to it. */
      readonly as: 'root' | 'installOwner';
      /** sudo asks for the SSH user's password; false means a NOPASSWD rule (sudo -n). */
      readonly password: boolean;
      /** The command line reads the sudo password from this environment variable. */
      readonly passwordEnv?: string;
    };

export interface NodeRights {
  readonly privilege: Privilege;
  /** The OS user that owns the install and runs the server; undefined means the SSH user. Checked against the node. */
  readonly installOwner?: string;
}

export const NO_RIGHTS: NodeRights = { privilege: { method: 'none' } };

export type DatabaseType = 'mysql' | 'mariadb' | 'oracle' | 'sqlserver' | 'db2';

/** Where the backup command runs: on the engineer's machine, or on one of the nodes. */
export type BackupLocation = { readonly kind: 'local' } | { readonly kind: 'node'; readonly node: string };

/** In the backup command and artifact: replaced by each run's UTC time, so each run has its own file. */
export const BACKUP_TIMESTAMP = '{timestamp}';

export interface DatabaseBackup {
  /** Shell text; BACKUP_TIMESTAMP in it is replaced by the run's time stamp. */
  readonly command: string;
  readonly runOn: BackupLocation;
  /**
   * Absolute path of the file the command must produce, where it runs. With BACKUP_TIMESTAMP in it
   * (the loader has checked the command has it too) each run writes a new file; without it, an
   * earlier file is moved aside before the command runs. Never written over.
   */
  readonly artifact: string;
}

/** How a rollback puts the dump back: a command that reads it on standard input, where the backup ran. */
export interface DatabaseRestore {
  readonly command: string;
}

export interface Database {
  readonly type: DatabaseType;
  readonly backup: DatabaseBackup;
  /** Without it, Roll back refuses: the runbook never guesses how to write to a database. */
  readonly restore?: DatabaseRestore;
}

/** The installation package: a local file uploaded to each node, or a path already on the nodes. */
export type InstallPackage =
  | { readonly kind: 'local'; readonly file: string }
  | { readonly kind: 'remote'; readonly path: string };

export interface UcdWeb {
  readonly url: string;
  /** The name of the credential in the editor's secret storage; never the secret itself. */
  readonly credential: string;
  /** Turn UCD's maintenance mode on before step 2 drains the processes and off after step 11 (7.0.3 on); absent is off. */
  readonly maintenanceMode?: boolean;
}

export interface Cluster {
  readonly name: string;
  readonly currentVersion: string;
  readonly targetVersion: string;
  readonly nodes: readonly ClusterNode[];
  /** Name of the node upgraded first (it upgrades the database schema). */
  readonly firstNode: string;
  readonly sharedAppdata: string;
  readonly loadBalancerUrl: string;
  readonly database: Database;
  readonly package: InstallPackage;
  readonly fips: boolean;
  readonly installerMode: 'guided' | 'silent';
  readonly ucd: UcdWeb;
}

/** A zero-based position in the cluster file, for problems and navigation. */
export interface SourceRange {
  readonly startLine: number;
  readonly startCharacter: number;
  readonly endLine: number;
  readonly endCharacter: number;
}

export interface ClusterProblem {
  readonly message: string;
  readonly range: SourceRange;
  readonly severity: 'error' | 'warning';
  /** JSON path of the value at fault, e.g. ['nodes', 1, 'host']. */
  readonly path: readonly (string | number)[];
}

export type ClusterLoadResult =
  | { readonly ok: true; readonly cluster: Cluster; readonly problems: readonly ClusterProblem[] }
  | { readonly ok: false; readonly problems: readonly ClusterProblem[] };
