// Command line for the test cluster (root only):
//   node out/test/cluster/cli.js start [--nodes N] [--state-dir DIR] [--version V] [--instance K]
//                                      [--database] [--load-balancer]   real MariaDB / nginx on the gateway
//   node out/test/cluster/cli.js stop [--instance K] [--state-dir DIR]
//   node out/test/cluster/cli.js describe [--instance K]          the running cluster, as JSON
//   node out/test/cluster/cli.js cluster-file [--instance K]      a ucd-cluster.json for it
//   node out/test/cluster/cli.js server <node> start|stop [--instance K]
//   node out/test/cluster/cli.js fault <node> stalePid|portHeld|ignoresStop|sshdDown on|off [--instance K]
//   node out/test/cluster/cli.js package [--version V] [--instance K]   builds ibm-ucd-<V>.zip, prints where
//   node out/test/cluster/cli.js process <node> application|generic <name> [--instance K]   starts one, prints its cancel id
//   node out/test/cluster/cli.js processes [--instance K]           the running process requests, as JSON
//   node out/test/cluster/cli.js [--instance K] exec <node> <command...>   as root inside the node
// Flags go before `exec` (everything after the node is the command). UCDT_INSTANCE=K also picks
// the instance. The cluster outlives `start`; `stop` removes it (and whatever a crashed run left).
import * as path from 'node:path';
import { attachCluster, FAULTS, startCluster, stopCluster, type FaultName, type TestCluster } from './harness';

interface Parsed { positional: string[]; flags: Map<string, string>; }

/** Flags that take no value. */
const SWITCHES = new Set(['database', 'load-balancer']);

function parse(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--') && positional[0] !== 'exec') {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (SWITCHES.has(a.slice(2))) flags.set(a.slice(2), 'true');
      else {
        if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
        flags.set(a.slice(2), argv[++i]);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

function intFlag(flags: Map<string, string>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a whole number; got "${v}"`);
  return Number(v);
}

function describe(c: TestCluster): Record<string, unknown> {
  return {
    instance: c.instance,
    stateDir: c.stateDir,
    version: c.version,
    user: c.user,
    identityFile: c.identityFile,
    knownHostsFile: c.knownHostsFile,
    installDir: c.installDir,
    appdataDir: c.appdataDir,
    gateway: c.gateway,
    nodes: c.nodes,
    database: c.database ? { host: c.database.host, port: c.database.port, optionFile: c.database.optionFile } : undefined,
    loadBalancer: c.loadBalancer ? { url: c.loadBalancer.url, certFile: c.loadBalancer.certFile } : undefined,
    // The password itself stays in that file (root only); never printed.
    ucdAdminFile: path.join(c.stateDir, 'ucd-admin.json'),
    sshExample: `ssh -i ${c.identityFile} -o UserKnownHostsFile=${c.knownHostsFile} -o StrictHostKeyChecking=yes ${c.user}@${c.nodes[0].host}`,
  };
}

async function main(argv: readonly string[]): Promise<number> {
  const { positional, flags } = parse(argv);
  const [cmd, ...rest] = positional;
  const instance = intFlag(flags, 'instance');
  switch (cmd) {
    case 'start': {
      const t0 = Date.now();
      const c = await startCluster({
        nodes: intFlag(flags, 'nodes'), version: flags.get('version'), stateDir: flags.get('state-dir'), instance, detached: true,
        database: flags.has('database'), loadBalancer: flags.has('load-balancer'),
      });
      process.stdout.write(`${JSON.stringify(describe(c), null, 2)}\n`);
      process.stderr.write(`started ${c.nodes.length} node(s) in ${Date.now() - t0} ms; description in ${c.stateDir}/cluster.json\n`);
      return 0;
    }
    case 'stop': {
      const t0 = Date.now();
      await stopCluster({ instance, stateDir: flags.get('state-dir') });
      process.stderr.write(`stopped in ${Date.now() - t0} ms\n`);
      return 0;
    }
    case 'describe':
      process.stdout.write(`${JSON.stringify(describe(attachCluster({ instance })), null, 2)}\n`);
      return 0;
    case 'cluster-file':
      process.stdout.write(attachCluster({ instance }).clusterFile());
      return 0;
    case 'server': {
      const [node, verb] = rest;
      const c = attachCluster({ instance });
      if (verb === 'start') await c.startServer(node);
      else if (verb === 'stop') await c.stopServer(node);
      else throw new Error('usage: server <node> start|stop');
      return 0;
    }
    case 'fault': {
      const [node, fault, state] = rest;
      if (!FAULTS.includes(fault as FaultName) || (state !== 'on' && state !== 'off')) {
        throw new Error(`usage: fault <node> ${FAULTS.join('|')} on|off`);
      }
      await attachCluster({ instance }).setFault(node, fault as FaultName, state === 'on');
      return 0;
    }
    case 'package':
      process.stdout.write(`${JSON.stringify(attachCluster({ instance }).buildPackage({ version: flags.get('version') }), null, 2)}\n`);
      return 0;
    case 'process': {
      const [node, type, ...name] = rest;
      if (!node || (type !== 'application' && type !== 'generic') || name.length === 0) throw new Error('usage: process <node> application|generic <name>');
      process.stdout.write(`${await attachCluster({ instance }).startProcess(node, { type, name: name.join(' ') })}\n`);
      return 0;
    }
    case 'processes':
      process.stdout.write(`${JSON.stringify(attachCluster({ instance }).processes(), null, 2)}\n`);
      return 0;
    case 'exec': {
      const [node, ...command] = rest;
      if (!node || command.length === 0) throw new Error('usage: exec <node> <command...>');
      const r = await attachCluster({ instance }).inNode(node, command.join(' '));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
    default:
      process.stderr.write(`usage: cli.js start|stop|describe|cluster-file|server|fault|package|process|processes|exec (see the head of test/cluster/cli.ts)\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
