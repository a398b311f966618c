// npm run demo: a 3-node test cluster (OpenSSH nodes, the UCD simulator running 7.0.5.0 with a
// Deploy in progress, a real MariaDB and nginx), an installer package of the next version, and a
// real VS Code (code-server) with the packaged extension and a workspace describing the cluster.
// Prints the URL; Ctrl-C tears everything down. The end-to-end tests start the same thing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterPrerequisites, startCluster, type TestCluster } from '../cluster/harness';
import { CodeServer, findPrerequisites } from '../e2e/harness';

export interface Demo {
  readonly tc: TestCluster;
  readonly server: CodeServer;
  /** The workspace folder holding ucd-cluster.json. */
  readonly workspace: string;
  /** Open this in a browser: the workspace in VS Code. */
  readonly url: string;
  /** The UCD REST user the extension asks for at step 2 (test-only values). */
  readonly ucdUser: { readonly user: string; readonly password: string };
  stop(): Promise<void>;
}

export function demoPrerequisites(): string | undefined {
  const why = clusterPrerequisites();
  if (why) return why;
  // The demo needs code-server and the .vsix; Chromium only matters to the tests.
  const pre = findPrerequisites({ chromium: false });
  return pre.ok ? undefined : pre.reason;
}

/**
 * `failAfterSchema`: the package's installer fails after the schema upgrade (the rollback's test);
 * `schemaUpgradeSeconds`: how long the simulated schema upgrade takes; `installerMode`: written into the cluster file.
 */
export async function startDemo(opts: { nodes?: number; failAfterSchema?: boolean; schemaUpgradeSeconds?: number; installerMode?: 'guided' | 'silent' } = {}): Promise<Demo> {
  const why = demoPrerequisites();
  if (why) throw new Error(why);
  const pre = findPrerequisites({ chromium: false });
  const paths = pre.ok ? pre.paths : (() => { throw new Error(pre.reason); })();
  const tc = await startCluster({ nodes: opts.nodes ?? 3, database: true, loadBalancer: true });
  let server: CodeServer | undefined;
  try {
    await Promise.all(tc.nodes.map((n) => tc.startServer(n.name)));
    // Something for step 2 to find: a deployment running on the cluster.
    await tc.startProcess(tc.nodes[1].name, { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'PROD', components: ['web', 'db'] });
    const pkg = tc.buildPackage({ ...(opts.failAfterSchema ? { failAfterSchema: true } : {}), ...(opts.schemaUpgradeSeconds !== undefined ? { schemaUpgradeSeconds: opts.schemaUpgradeSeconds } : {}) });
    server = await CodeServer.start(paths);
    // code-server's HOME is its own temp dir: its ~/.ssh/known_hosts holds the nodes' host keys,
    // as an engineer's would after their first ssh to each node.
    fs.mkdirSync(path.join(server.dir, '.ssh'), { recursive: true, mode: 0o700 });
    fs.copyFileSync(tc.knownHostsFile, path.join(server.dir, '.ssh', 'known_hosts'));
    const workspace = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-demo-')), 'ucd-demo');
    fs.mkdirSync(workspace);
    fs.writeFileSync(path.join(workspace, 'ucd-cluster.json'), `// The demo cluster of npm run demo: three simulated UCD ${tc.version} servers, upgraded to ${pkg.version}.\n${tc.clusterFile({ name: 'ucd-demo', package: { localFile: pkg.file }, ...(opts.installerMode ? { installerMode: opts.installerMode } : {}) })}\n`);
    const s = server;
    return {
      tc,
      server: s,
      workspace,
      url: s.folderUrl(workspace),
      ucdUser: { user: tc.ucdAdmin.user, password: tc.ucdAdmin.password },
      stop: async () => {
        await s.stop();
        await tc.stop();
        fs.rmSync(path.dirname(workspace), { recursive: true, force: true });
      },
    };
  } catch (e) {
    await server?.stop();
    await tc.stop();
    throw e;
  }
}

async function main(): Promise<void> {
  const why = demoPrerequisites();
  if (why) {
    process.stderr.write(`npm run demo cannot start: ${why}\nRun it as root on Debian: npm run demo installs what it needs.\n`);
    process.exit(2);
  }
  process.stderr.write('starting the demo cluster and VS Code…\n');
  const demo = await startDemo();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping: VS Code, the cluster, the database and the load balancer…\n');
    await demo.stop();
    process.stderr.write('everything is stopped and removed.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.stdout.write(`
UCD HA Upgrade Runbook — demo
  Open:       ${demo.url}
  Cluster:    ${demo.tc.nodes.map((n) => `${n.name} ${n.host}`).join(', ')} (UCD ${demo.tc.version}, a Deploy is running on ${demo.tc.nodes[1].name})
  UCD login:  ${demo.ucdUser.user} / ${demo.ucdUser.password}   (asked at step 2; test-only values)
  Workspace:  ${demo.workspace}
Click the UCD Upgrade icon in the activity bar and run the steps in order. Ctrl-C stops everything.
`);
  await new Promise<void>(() => undefined);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
