// The procedure of "Upgrading high-availability installations" as data, in the doc's order.
// The doc's steps 7–9 (run the installer, which program, answer the directory prompt) are one
// action here; its step 11 ("upgrade the other nodes") is split into install and restart so each
// can be proven separately, and a final check states the doc's first sentence.

export type StepId =
  | 'backup'
  | 'processes'
  | 'package'
  | 'stop'
  | 'verifyStopped'
  | 'storage'
  | 'installFirst'
  | 'startFirst'
  | 'installOthers'
  | 'startOthers'
  | 'verifyVersions';

/** Which nodes a step concerns: none (the cluster as a whole), all, the first, or all but the first. */
export type StepScope = 'cluster' | 'everyNode' | 'firstNode' | 'otherNodes';

export interface StepDef {
  readonly id: StepId;
  readonly title: string;
  /** The tree's label: a few words that fit the default sidebar beside the state (the title and the doc's words are in the tooltip). */
  readonly short: string;
  readonly scope: StepScope;
  /** The doc's own words for this step (shown in tooltips and the webview). */
  readonly doc: string;
  /** Which steps of the doc this entry covers, for the report. */
  readonly docSteps: readonly number[];
  /** What Run does and what Check proves, in a sentence each. */
  readonly action: string;
  readonly check: string;
}

export const STEPS: readonly StepDef[] = [
  {
    id: 'backup',
    title: 'Back up the database',
    short: 'Back up database',
    scope: 'cluster',
    docSteps: [1],
    doc: 'Back up the database.',
    action: 'Runs the configured backup command (locally or on the configured node) and streams its output.',
    check: 'The backup file exists, is newer than the start of the run and is not empty; its size and checksum are recorded.',
  },
  {
    id: 'processes',
    title: 'Ensure no application or generic processes are running',
    short: 'No processes',
    scope: 'cluster',
    docSteps: [2],
    doc: 'Ensure that no application and generic processes are running. Open the Dashboard and confirm that no processes are running. If processes are running, you can wait for them to complete or by clicking Cancel in the same row as each process, cancel them.',
    action: 'Lists the running processes through the UCD REST API and cancels the ones you choose, or waits until none remain.',
    check: 'The Dashboard\'s current activity lists no application or generic process.',
  },
  {
    id: 'package',
    title: 'Download and extract the installation package',
    short: 'Stage package',
    scope: 'everyNode',
    docSteps: [3],
    doc: 'Download and extract the installation package. Upgrades are done with the same package used to perform new installations.',
    action: 'Uploads the package to each node (or uses the path already there) and extracts it, after checking free disk space.',
    check: 'install-server.sh (or .bat) is present in the extracted package and the package is the target version.',
  },
  {
    id: 'stop',
    title: 'Shut down the servers',
    short: 'Shut down',
    scope: 'everyNode',
    docSteps: [4],
    doc: 'Shut down the servers. Warning: Ensure that all servers are stopped. If any servers are accessing the database when the upgrade happens, the upgrade will cause errors.',
    action: 'Runs each node\'s stop service command, in parallel, then proves each server stopped.',
    check: 'The same evidence as the next step: no pid file, nothing on the ports, no server process.',
  },
  {
    id: 'verifyStopped',
    title: 'Ensure each server is stopped',
    short: 'Prove stopped',
    scope: 'everyNode',
    docSteps: [5],
    doc: 'Ensure that each server is stopped and unable to connect to the load balancer. Check to ensure that there is no file server.pid in the server_install/var folder. Check for running system processes (netstat -nap | grep 8443, ps -ef | grep server). If any server processes are still running, stop them. If a server process is still running, when you install the new version, you see an error that says "A previously installed version of HCL UrbanCode Deploy is running."',
    action: 'Offers to stop what is left: names each process and pid and asks before killing; removes a stale pid file only when no process owns it.',
    check: 'On every node: no var/server.pid, nothing listening on the HTTPS and JMS ports, no server process of this install.',
  },
  {
    id: 'storage',
    title: 'Update network storage (upgrades from before 6.1.1.5)',
    short: 'Network storage',
    scope: 'cluster',
    docSteps: [6],
    doc: 'If you are upgrading from a version before 6.1.1.5, update the network storage to match the folders in the new version. Depending on how you set up network storage for the high-availability cluster in the previous version, you might need to move files and folders to put them in the place that the new version of the server expects to find them.',
    action: 'Shows exactly what must move from each install into the shared appdata folder, and moves it after you confirm.',
    check: 'Every folder the new version expects is in the shared appdata folder and none is left behind in an install.',
  },
  {
    id: 'installFirst',
    title: 'Run the installer on the first node',
    short: 'Install first',
    scope: 'firstNode',
    docSteps: [7, 8, 9],
    doc: 'Run the server installation script: on Linux ./install-server.sh (add -fips for a FIPS-compliant server; cloud provisioning is then not available). When prompted for the location of the installation directory, enter the path to one of the servers. By specifying an existing installation, you are asked if you want to upgrade the current installation. If you answer yes, the script leads you through the upgrade steps.',
    action: 'Re-proves every node stopped, then runs the installer on the first node and answers its upgrade prompts; an unknown prompt hands the session to a terminal.',
    check: 'The node\'s conf/installed.version and the shared appdata copy show the target version.',
  },
  {
    id: 'startFirst',
    title: 'Restart the first node',
    short: 'Start first',
    scope: 'firstNode',
    docSteps: [10],
    doc: 'Restart the upgraded server. Always use service scripts to start or stop the server.',
    action: 'Starts the server with its service command and waits until it is online.',
    check: 'The server process runs, the HTTPS port listens, and the login page shows the target version.',
  },
  {
    id: 'installOthers',
    title: 'Run the installer on the other nodes',
    short: 'Install others',
    scope: 'otherNodes',
    docSteps: [11],
    doc: 'After the first server is back online, upgrade the other servers. After you upgrade the first node, you will not be prompted to upgrade the database when you upgrade the other nodes.',
    action: 'Re-proves the other nodes stopped, then runs the installer on each of them.',
    check: 'Each node\'s conf/installed.version shows the target version.',
  },
  {
    id: 'startOthers',
    title: 'Restart the other nodes',
    short: 'Start others',
    scope: 'otherNodes',
    docSteps: [10, 11],
    doc: 'Restart the upgraded server. Always use service scripts to start or stop the server.',
    action: 'Starts each server with its service command and waits until it is online.',
    check: 'Each server process runs, its HTTPS port listens, and its login page shows the target version.',
  },
  {
    id: 'verifyVersions',
    title: 'Verify every node is on the target version',
    short: 'Verify versions',
    scope: 'everyNode',
    docSteps: [],
    doc: 'All servers that are configured for the HA feature must be on the same version. Thus, all servers must be upgraded at the same time.',
    action: 'Checks every node and the load balancer.',
    check: 'Every node reports the target version and answers through the load balancer.',
  },
];

export function stepDef(id: StepId): StepDef {
  const def = STEPS.find((s) => s.id === id);
  if (!def) throw new Error(`unknown step ${id}`);
  return def;
}

export function isStepId(value: string): value is StepId {
  return STEPS.some((s) => s.id === value);
}
