// Issue 14's command line, run as a real child process (the bundled dist/cli.js, what package.json's
// "bin" ships) against a real 3-node cluster (OpenSSH nodes, the UCD simulator, MariaDB, nginx):
// plan executes nothing, check reports the nodes as they are, a gate exits 2, a confirmation not
// given as a flag exits 3, --json prints the journal's own records; then a whole upgrade.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import { parseJournal } from '../../src/core/journal/journal';
import { journalPath, RunSession } from '../../src/core/runbook/session';
import { STEPS } from '../../src/core/runbook/steps';
import { HA_KEY } from '../../src/core/preflight/probe';
import { clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { untilBalancerAnswers } from './loadbalancer';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const PASSWORD_ENV = 'UCDT_CLI_ADMIN_PASSWORD';
const skip = clusterPrerequisites();

interface Ran { code: number | null; stdout: string; stderr: string; lines: Record<string, unknown>[] }

describe('ucd-upgrade, the command line, on a real 3-node cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  let ws: string;
  let cluster: Cluster;
  let common: string[];

  const cli = (args: readonly string[], timeoutMs = 300_000, knownHosts = tc.knownHostsFile): Promise<Ran> => new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args, '--known-hosts', knownHosts, ...common], {
      cwd: ws,
      // The password reaches the child only through the environment variable the command line names.
      env: { ...process.env, [PASSWORD_ENV]: tc.ucdAdmin.password },
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`ucd-upgrade ${args.join(' ')} did not exit by itself (${error.message})\n${stderr}`));
      const lines = args.includes('--json') ? stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr, lines });
    });
  });
  const journal = (): JournalEvent[] => {
    const file = journalPath(cluster, ws);
    return fs.existsSync(file) ? parseJournal(fs.readFileSync(file, 'utf8')).events : [];
  };
  /** Every event line printed is a record of the journal, verbatim and in order. */
  const expectEventsInJournal = (r: Ran): JournalEvent[] => {
    const printed = r.lines.filter((l) => l.event === undefined) as unknown as JournalEvent[];
    const onDisk = journal();
    let at = 0;
    for (const e of printed) {
      const i = onDisk.findIndex((d, k) => k >= at && JSON.stringify(d) === JSON.stringify(e));
      assert.ok(i >= 0, `printed event is in the journal, in order: ${JSON.stringify(e)}`);
      at = i + 1;
    }
    return printed;
  };
  const expectExit = (r: Ran, code: number, what: string) => assert.equal(r.code, code, `${what}: exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-6000)}`);
  const version = async (node: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${tc.installDir}/conf/installed.version`)).stdout.trim();

  before(async () => {
    assert.ok(fs.existsSync(CLI), `${CLI} is missing: build it first (npm run build, or npm test's set-up)`);
    tc = await startCluster({ nodes: 3, database: true, loadBalancer: true });
    pkg = tc.buildPackage();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-cli-'));
    const text = tc.clusterFile({ package: { localFile: pkg.file } });
    fs.writeFileSync(path.join(ws, 'ucd-cluster.json'), text);
    const loaded = loadCluster(text);
    assert.ok(loaded.ok);
    cluster = loaded.cluster;
    // Certificates the operator already knows (read from the servers' own files, never accepted on first sight).
    const pins = cluster.nodes.map((n) => `--tls-fingerprint=${n.host}:${n.httpsPort}=${new X509Certificate(fs.readFileSync(path.join(tc.hostInstallDir(n.name), 'conf/sim/server.crt'))).fingerprint256}`);
    const lb = new URL(cluster.ucd.url);
    pins.push(`--tls-fingerprint=${lb.hostname}:${lb.port || 443}=${new X509Certificate(fs.readFileSync(tc.loadBalancer!.certFile)).fingerprint256}`);
    common = ['--ssh-config', os.devNull, '--ucd-user', tc.ucdAdmin.user, '--ucd-password-env', PASSWORD_ENV, ...pins];
  });
  after(async () => {
    await tc?.stop();
  });

  test('plan lists the 11 steps with their gates and executes nothing', async () => {
    const r = await cli(['plan', '--json']);
    expectExit(r, 0, 'plan');
    assert.deepEqual(r.lines.map((l) => [l.number, l.id]), STEPS.map((s, i) => [i + 1, s.id]));
    const installer = r.lines.find((l) => l.id === 'installFirst') as { gates: string[]; nodes: string[] };
    assert.deepEqual(installer.nodes, ['ucd1']);
    assert.ok(installer.gates.length > 0, 'the installer is gated before anything ran');
    assert.equal(fs.existsSync(path.join(ws, '.ucd-upgrade')), false, 'no journal, no lock: nothing was run or recorded');
    const text = await cli(['plan']);
    assert.match(text.stdout, /^7\. Run the installer on the first node \[installFirst\] — ucd1$/m);
  });

  test('preflight passes on the good cluster and names the fault on a bad node (exit 1); recorded, with a report beside the file', async () => {
    await Promise.all(tc.nodes.map((n) => tc.startServer(n.name)));
    try {
      await untilBalancerAnswers(tc.loadBalancer!);
      const good = await cli(['preflight', '--json']);
      expectExit(good, 0, 'preflight on a good cluster');
      const result = good.lines.find((l) => l.event === 'preflight') as { verdict: string; report: string };
      assert.equal(result.verdict, 'passed');
      assert.ok(fs.existsSync(result.report) && path.dirname(result.report) === ws, `the report is beside the cluster file: ${result.report}`);
      assert.ok(!fs.readFileSync(result.report, 'utf8').includes(tc.ucdAdmin.password), 'no secret in the report');
      tc.setInstalledProperty('ucd2', HA_KEY, 'false');
      try {
        const bad = await cli(['preflight']);
        expectExit(bad, 1, 'preflight with multiserver off on ucd2');
        assert.match(bad.stdout, /^fail: ucd2: .*multiserver=false/m);
        assert.match(bad.stderr, /pre-flight failed; recorded in .*Step 1 is blocked/);
      } finally {
        tc.setInstalledProperty('ucd2', HA_KEY, 'true');
      }
      // Fixed: a pre-flight that passes again lifts the gate on step 1 (the whole upgrade below runs it).
      expectExit(await cli(['preflight']), 0, 'preflight once ucd2 is fixed');
      assert.deepEqual(journal().filter((e) => e.type === 'preflight').map((e) => e.type === 'preflight' && e.verdict), ['passed', 'failed', 'passed']);
    } finally {
      await Promise.all(tc.nodes.map((n) => tc.stopServer(n.name)));
    }
  });

  test('check 5 passes and fails as the nodes are; --json events are the journal\'s records', async () => {
    await tc.startServer('ucd2');
    const r = await cli(['check', '5', '--json']);
    expectExit(r, 1, 'check 5 with ucd2 running');
    const finished = expectEventsInJournal(r).filter((e) => e.type === 'finished');
    assert.deepEqual(finished.map((e) => [e.node, e.type === 'finished' && e.verdict]).sort(), [['ucd1', 'passed'], ['ucd2', 'failed'], ['ucd3', 'passed']]);
    assert.equal(r.lines.filter((l) => l.type === 'started').length, 3, 'one started event per node');
    assert.match(r.stderr, /\[ucd2\] 5\. Ensure each server is stopped: check failed in \d+(\.\d)? s/);
    assert.deepEqual(r.lines.at(-1)?.event, 'exit');
    await tc.stopServer('ucd2');
    const again = await cli(['check', 'verifyStopped', '--node', 'ucd2']);
    expectExit(again, 0, 'check 5 on ucd2 once stopped');
    assert.match(again.stderr, /\[ucd2\] 5\. Ensure each server is stopped: check passed in/);
  });

  test('run 7 while a server runs is blocked by the gate: exit 2, the gate named, the installer never started', async () => {
    await tc.startServer('ucd3');
    try {
      expectExit(await cli(['check', '5', '--node', 'ucd3']), 1, 'check 5 on running ucd3');
      const r = await cli(['run', '7', '--json']);
      expectExit(r, 2, 'run 7');
      const refused = expectEventsInJournal(r).filter((e) => e.type === 'refused');
      assert.equal(refused.length, 1);
      const reasons = refused[0].type === 'refused' ? refused[0].reasons : [];
      assert.ok(reasons.some((x) => /ucd3/.test(x)), reasons.join('; '));
      for (const reason of reasons) assert.ok(r.stderr.includes(reason), `stderr names the gate: ${reason}\n${r.stderr}`);
      assert.ok(!journal().some((e) => e.type === 'started' && e.step === 'installFirst'), 'the installer step never started');
      assert.equal(await version('ucd1'), tc.version);
    } finally {
      await tc.stopServer('ucd3');
    }
  });

  test('an SSH host key not already known is never accepted: the node fails with its fingerprint, exit 1', async () => {
    const empty = path.join(ws, 'empty_known_hosts');
    fs.writeFileSync(empty, '');
    const ucd1 = cluster.nodes[0];
    const line = fs.readFileSync(tc.knownHostsFile, 'utf8').split('\n').find((l) => l.split(' ')[0] === `[${ucd1.host}]:${ucd1.sshPort}` || l.split(' ')[0] === ucd1.host);
    assert.ok(line, `known_hosts has ${ucd1.name}`);
    const fingerprint = `SHA256:${createHash('sha256').update(Buffer.from(line.split(' ')[2], 'base64')).digest('base64').replace(/=+$/, '')}`;
    const r = await cli(['check', '5', '--node', 'ucd1', '--json'], 120_000, empty);
    expectExit(r, 1, 'check 5 with an unknown host key');
    assert.ok(r.stderr.includes(fingerprint), `stderr names ${fingerprint}\n${r.stderr}`);
    const finished = expectEventsInJournal(r).filter((e) => e.type === 'finished');
    assert.deepEqual(finished.map((e) => e.type === 'finished' && [e.node, e.verdict]), [['ucd1', 'failed']]);
    assert.equal(fs.readFileSync(empty, 'utf8'), '', 'nothing was added to any known_hosts file');
  });

  test('the UCD password from a file descriptor: step 2 checks the Dashboard through the REST API', async () => {
    await tc.startServer('ucd2');
    const cancelId = await tc.startProcess('ucd2', { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'PROD', components: ['web'] });
    const args = [CLI, 'check', '2', '--json', '--known-hosts', tc.knownHostsFile, ...common.filter((a) => a !== '--ucd-password-env' && a !== PASSWORD_ENV), '--ucd-password-fd', '3'];
    const child = spawn(process.execPath, args, { cwd: ws, env: { ...process.env, [PASSWORD_ENV]: '' }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    (child.stdio[3] as NodeJS.WritableStream).end(`${tc.ucdAdmin.password}\n`);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((res) => child.on('exit', res)).finally(() => tc.stopServer('ucd2'));
    const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const r: Ran = { code, stdout, stderr, lines };
    // One process runs: the check fails and names it (it authenticated, or it could not list them).
    expectExit(r, 1, 'check 2 with a process running');
    const finished = expectEventsInJournal(r).filter((e) => e.type === 'finished' && e.step === 'processes');
    assert.equal(finished.length, 1);
    assert.match(JSON.stringify(finished[0]), /Deploy/);
    assert.ok(!fs.readFileSync(journalPath(cluster, ws), 'utf8').includes(tc.ucdAdmin.password), 'no secret in the journal');
    assert.ok(tc.processes().some((p) => JSON.stringify(p.items).includes(cancelId)), 'a Check cancels nothing');
  });

  test('while another process owns the run, run and check are refused with the owner named (exit 2)', async () => {
    // This test process opens the run first, as an open editor window would: it owns the lock.
    const owner = RunSession.open(cluster, ws);
    try {
      assert.equal(owner.role.kind, 'owner');
      const before = journal().length;
      const r = await cli(['check', '5', '--node', 'ucd2']);
      expectExit(r, 2, 'check 5 while the run is owned elsewhere');
      assert.match(r.stderr, new RegExp(`owned by .*\\(pid ${process.pid},`));
      assert.equal(journal().length, before, 'the follower wrote nothing');
    } finally {
      owner.dispose();
    }
  });

  test('a confirmation not given as a flag: exit 3 naming the flag, nothing killed; with the flag it is done', async () => {
    await tc.startServer('ucd1');
    try {
      const r = await cli(['run', '5', '--node', 'ucd1', '--json']);
      expectExit(r, 3, 'run 5 without --confirm kill');
      assert.match(r.stderr, /waiting for a person: .*--confirm kill/);
      expectEventsInJournal(r);
      const pid = await tc.inNode('ucd1', `test -f ${tc.installDir}/var/server.pid && echo yes || echo no`);
      assert.equal(pid.stdout.trim(), 'yes', 'nothing was killed');
      const killed = await cli(['run', '5', '--node', 'ucd1', '--confirm', 'kill']);
      expectExit(killed, 0, 'run 5 with --confirm kill');
      assert.match(killed.stderr, /\[confirmed by --confirm kill\]/);
    } finally {
      await tc.stopServer('ucd1');
    }
  });

  test('the whole upgrade with the command line alone', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const target = cluster.targetVersion;
    const step = async (args: string[], code = 0) => {
      const r = await cli([...args, '--json'], 900_000);
      expectExit(r, code, args.join(' '));
      expectEventsInJournal(r);
      return r;
    };
    await step(['run', '1']);
    await tc.startProcess('ucd3', { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'QA', components: ['web'] });
    // A Deploy runs: cancelling it is a person's decision, given as a flag.
    const running = tc.processes().length;
    assert.ok(running >= 1, 'the Deploy runs');
    const asked = await step(['run', '2'], 3);
    assert.match(asked.stderr, /waiting for a person: .*--confirm cancel-processes or --wait-processes/);
    assert.equal(tc.processes().length, running, 'nothing was cancelled without the flag');
    await step(['run', '2', '--confirm', 'cancel-processes']);
    assert.deepEqual(tc.processes(), [], 'every running process was cancelled in UCD');
    // Where each node is, for the person watching: the upload's end, then the extraction.
    const staged = await step(['run', '3']);
    for (const n of tc.nodes) {
      assert.match(staged.stderr, new RegExp(`^  \\[${n.name}\\] uploaded: 100% \\(.+\\) at .+/s in \\d+ s$`, 'm'), staged.stderr);
      assert.match(staged.stderr, new RegExp(`^  \\[${n.name}\\] extracting the package on ${n.name}$`, 'm'));
    }
    await step(['run', '4']);
    await step(['check', '5']);
    // Step 6 does not apply from this version: the runner says so, as a gate.
    const storage = await step(['run', '6'], 2);
    assert.match(storage.stderr, /network storage is not moved/);
    const installed = await step(['run', '7']);
    assert.equal(await version('ucd1'), target);
    assert.match(installed.stderr, /^  \[ucd1\] installer: answered the NOTICE$/m, installed.stderr);
    assert.match(installed.stderr, /^  \[ucd1\] installer: finished \(BUILD SUCCESSFUL\)$/m);
    await step(['run', '8']);
    await step(['run', '9']);
    await step(['run', '10']);
    const verified = await step(['check', '11']);
    assert.match(verified.stderr, /^Upgrade complete: every node of \S+ is on [\d.]+; total time \d+ (s|min).*; outage \d+ (s|min).*until ucd1 was back online\)/m, verified.stderr);
    for (const n of tc.nodes) assert.equal(await version(n.name), target, `${n.name} on ${target}`);
    const status = await cli(['status', '--json']);
    expectExit(status, 0, 'status');
    assert.deepEqual(status.lines.filter((l) => !['passed', 'notNeeded'].includes(String(l.state))).map((l) => `${l.id}:${l.state}`), []);
    // For a person, in the tree's words.
    const said = await cli(['status']);
    expectExit(said, 0, 'status');
    assert.match(said.stdout, /^6\. .*: not needed: upgrade starts at /m, said.stdout);
    assert.match(said.stdout, /^10\. .*: passed \d+ (s|min).* — 2\/2 nodes /m, said.stdout);
    assert.match(said.stdout, /^   ucd3: passed \d+ (s|min).* — /m, said.stdout);
    const report = await cli(['report']);
    expectExit(report, 0, 'report');
    assert.match(report.stdout, new RegExp(target.replace(/\./g, '\\.')));
    assert.ok(!fs.readFileSync(journalPath(cluster, ws), 'utf8').includes(tc.ucdAdmin.password), 'no secret in the journal');
  });
});
