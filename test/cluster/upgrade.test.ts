// Issue 4's proof: a real 3-node cluster (OpenSSH nodes, the UCD simulator, a real MariaDB and a
// real nginx) taken from one version to the next through the extension's core alone, step by step
// in the doc's order; then the refusals the doc warns about, and a reload in the middle of a run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { parseJournal } from '../../src/core/journal/journal';
import type { ActionContext, ActionLog } from '../../src/core/runbook/actions';
import { Runner, actionContext } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import { STEPS, type StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { LocalTransport } from '../../src/core/remote/local';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { backupHandlers } from '../../src/core/steps/backup';
import { installerHandlers } from '../../src/core/steps/installer';
import { startHandlers, verifyVersionsHandlers } from '../../src/core/steps/start';
import { packageHandlers, packageLayout } from '../../src/core/steps/package';
import { processesHandlers } from '../../src/core/steps/processes';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { storageHandlers } from '../../src/core/steps/storage';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';
import { BACKUP_ARTIFACT, clusterPrerequisites, startCluster, type InstallerPackage, type TestCluster } from './harness';
import { INFO_TEXTS } from '../../src/core/ucd/installer/texts';
import { tableOf, type SomeHandlers } from '../fixtures/handlers';

const skip = clusterPrerequisites();
/** Every NOTICE question the installer step asked (it asks only when backup or processes are not proven). */
const noticeAsked: string[] = [];
const confirmNotice = async (q: string): Promise<boolean> => (noticeAsked.push(q), true);

interface Rig {
  cluster: Cluster;
  session: RunSession;
  handlers: SomeHandlers;
  lines: string[];
  /** Every progress report the steps gave, in order (ActionContext.progress). */
  progress: { step: StepId; node: string; text: string }[];
  certs: UnknownCertificate[];
  pool: SshPool;
  ws: string;
}

function rig(tc: TestCluster, text: string, ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-upgrade-'))): Rig {
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const cluster = r.cluster;
  const lines: string[] = [];
  const certs: UnknownCertificate[] = [];
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
  });
  const transportFor = async (n: { name: string; host: string; sshPort: number; user?: string; identityFile?: string; os: 'linux' | 'windows' }) => pool.transport(targetFromNode(n));
  // The simulator's self-signed certificates, trusted the way a user would: looked at, then pinned.
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (c: UnknownCertificate) => (certs.push(c), 'always' as const) };
  const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, { kind: 'basic', user: tc.ucdAdmin.user, password: tc.ucdAdmin.password }), pins: trust.pins, prompt: trust.prompt });
  const yes = async () => true;
  const online = { transportFor, trust, startTimeoutMs: 60_000, pollMs: 500 };
  const handlers: SomeHandlers = {
    backup: backupHandlers({ local: () => new LocalTransport(), transportFor }),
    processes: processesHandlers({ client: () => rest, choose: async (running) => ({ kind: 'cancel', processes: running }), confirm: yes, pollIntervalMs: 500, waitTimeoutMs: 30_000 }),
    package: packageHandlers({ transportFor }),
    ...stoppedHandlers({ transportFor, confirm: yes, options: { settleMs: 10_000, pollMs: 500, killGraceSeconds: 2 } }),
    storage: storageHandlers({ transportFor, confirm: yes }),
    installFirst: installerHandlers('installFirst', { transportFor, trust, confirm: confirmNotice, handOver: async () => assert.fail('no prompt of the upgrade is unknown'), quietMs: 3_000 }),
    startFirst: startHandlers('startFirst', online),
    installOthers: installerHandlers('installOthers', { transportFor, trust, confirm: confirmNotice, handOver: async () => assert.fail('no prompt of the upgrade is unknown'), quietMs: 3_000 }),
    startOthers: startHandlers('startOthers', online),
    verifyVersions: verifyVersionsHandlers(online),
  };
  return { cluster, session: RunSession.open(cluster, ws), handlers, lines, progress: [], certs, pool, ws };
}

function ctx(r: Rig, step: StepId, node?: string): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  const progress = (n: string, text: string) => void r.progress.push({ step, node: n, text });
  return actionContext({ cluster: r.cluster, session: r.session, target: node ? { step, node } : { step }, log, signal: new AbortController().signal, progress });
}

async function act(r: Rig, step: StepId, kind: 'run' | 'check', node?: string): Promise<void> {
  const h = r.handlers[step]?.[kind];
  assert.ok(h, `no ${kind} handler for ${step}`);
  await h(ctx(r, step, node));
}

/** The step's state in the runbook view, with its evidence for the failure message. */
function stateOf(r: Rig, step: StepId): { state: string; detail: string } {
  const v = r.session.view().find((s) => s.def.id === step);
  assert.ok(v);
  return { state: v.state, detail: [v.summary, ...v.nodes.map((n) => `${n.node}: ${n.state} ${n.detail}`)].join(' | ') };
}

function expectState(r: Rig, step: StepId, state: string): void {
  const s = stateOf(r, step);
  assert.equal(s.state, state, `${step}: ${s.detail}\n--- log tail ---\n${r.lines.slice(-40).join('\n')}`);
}

async function installedVersion(tc: TestCluster, node: string): Promise<{ install: string; appdata: string }> {
  const read = async (file: string) => (await tc.inNode(node, `sed -n 's/^installed.version=//p' ${file}`)).stdout.trim();
  return { install: await read(`${tc.installDir}/conf/installed.version`), appdata: await read(`${tc.appdataDir}/conf/installed.version`) };
}

describe('a whole HA upgrade through the core, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  before(async () => {
    tc = await startCluster({ nodes: 3, database: true, loadBalancer: true });
    pkg = tc.buildPackage();
  });
  after(async () => {
    await tc?.stop();
  });

  test('refusal: a node left running blocks the installer, and the product would have refused too', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    await act(r, 'package', 'run');
    expectState(r, 'package', 'passed');
    for (const n of ['ucd1', 'ucd3']) await tc.stopServer(n);
    await act(r, 'installFirst', 'run', 'ucd1');
    const o = r.session.state().get('installFirst@ucd1');
    assert.equal(o?.status, 'failed');
    assert.ok(o && 'evidence' in o && o.evidence[0] === 'the installer was NOT started', JSON.stringify(o));
    assert.ok(o && 'evidence' in o && o.evidence.some((e) => e.startsWith('ucd2 is not proven stopped')), JSON.stringify(o));
    assert.equal(r.session.state().get('verifyStopped@ucd2')?.status, 'failed', 'the fresh check is recorded');
    assert.deepEqual(await installedVersion(tc, 'ucd1'), { install: tc.version, appdata: tc.version }, 'nothing was installed');
    try {
      // The simulated product, run by hand on ucd2 while it runs, refuses as the facts say.
      const out = await tc.inNode('ucd2', `cd ${packageLayout(r.cluster, tc.homeDir).installerDir} && ./install-server.sh`, { user: tc.user, input: `${tc.installDir}\n${tc.installDir}\nY\n\n`, timeoutMs: 60_000 });
      assert.match(out.stdout + out.stderr, /Found pid file|is running|connection can be made/);
      assert.deepEqual(await installedVersion(tc, 'ucd2'), { install: tc.version, appdata: tc.version });
    } finally {
      await tc.stopServer('ucd2');
      await r.pool.closeAll();
    }
  });

  test('every step in the doc\'s order takes 3 nodes to the target version; schema upgraded once; backup restorable; journal complete', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const requestId = await tc.startProcess('ucd2', { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'PROD', components: ['web'] });
    // startProcess answers the process's trace id; its record lists it among the items it runs.
    const ours = () => tc.processes().filter((p) => JSON.stringify(p).includes(requestId));
    assert.equal(ours().length, 1, `the Deploy ${requestId} runs on the cluster before step 2: ${JSON.stringify(tc.processes())}`);
    const schemaBefore = await tc.database!.schemaVersions();
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    const target = r.cluster.targetVersion;
    assert.equal(target, pkg.version);

    // 1. Back up the database (mysqldump on ucd1, over SSH).
    await act(r, 'backup', 'run');
    expectState(r, 'backup', 'passed');

    // 2. The running Deploy is listed, then cancelled and really gone.
    await act(r, 'processes', 'check');
    expectState(r, 'processes', 'failed');
    assert.match(stateOf(r, 'processes').detail, /Deploy/);
    await act(r, 'processes', 'run');
    expectState(r, 'processes', 'passed');
    assert.deepEqual(ours(), [], 'the cancelled request is gone');

    // 3. Upload and extract the package on every node.
    await act(r, 'package', 'run');
    expectState(r, 'package', 'passed');

    // 4 and 5. Stop every server; prove each stopped.
    await act(r, 'stop', 'run');
    expectState(r, 'stop', 'passed');
    expectState(r, 'verifyStopped', 'passed');

    // 6. Not needed from 7.0.5.0.
    expectState(r, 'storage', 'notNeeded');

    // 7. The first node, guided: it upgrades the schema.
    await act(r, 'installFirst', 'run');
    expectState(r, 'installFirst', 'passed');
    assert.deepEqual(await installedVersion(tc, 'ucd1'), { install: target, appdata: target });
    assert.match(stateOf(r, 'installFirst').detail, /database schema upgraded by this node/);

    // 8. The first node back online at the target version; only now the others are unlocked.
    expectState(r, 'installOthers', 'blocked');
    await act(r, 'startFirst', 'run');
    expectState(r, 'startFirst', 'passed');
    assert.notEqual(stateOf(r, 'installOthers').state, 'blocked');

    // 9 and 10. The other nodes: no database prompt, then back online.
    await act(r, 'installOthers', 'run');
    assert.deepEqual(noticeAsked, [], 'backup and processes proven in this run: the NOTICE is answered without asking');
    expectState(r, 'installOthers', 'passed');
    assert.match(stateOf(r, 'installOthers').detail, /no database upgrade on this node/);
    for (const n of ['ucd2', 'ucd3']) {
      const said = r.lines.filter((l) => l.startsWith(`[${n}]`) && l.includes(INFO_TEXTS.noDatabaseUpgrades.text));
      assert.equal(said.length, 1, `the installer's "no database upgrades" line is logged once for ${n}: ${JSON.stringify(said)}`);
    }
    await act(r, 'startOthers', 'run');
    expectState(r, 'startOthers', 'passed');

    // 11. Every node and the load balancer on the target version.
    await act(r, 'verifyVersions', 'check');
    expectState(r, 'verifyVersions', 'passed');
    for (const n of tc.nodes) assert.deepEqual(await installedVersion(tc, n.name), { install: target, appdata: target });
    const lb = await tc.loadBalancer!.get('/');
    assert.match(lb.body, new RegExp(`v\\. ${target.replace(/\./g, '\\.')}`));

    // Progress as a person reads it, from the real upload and the simulator's installer output.
    const said = (step: StepId, node: string) => r.progress.filter((p) => p.step === step && p.node === node).map((p) => p.text);
    for (const n of tc.nodes) {
      const upload = said('package', n.name);
      assert.ok(upload.some((t) => /^uploaded: 100% \(.+ of .+\) at .+\/s in \d+ s$/.test(t)), `${n.name}'s upload ends at 100%: ${upload.join(' | ')}`);
      assert.ok(upload.includes(`extracting the package on ${n.name}`), upload.join(' | '));
    }
    const first = said('installFirst', 'ucd1');
    assert.ok(first.includes('installer: answered the NOTICE'), first.join(' | '));
    assert.ok(first.some((t) => /database schema (upgraded by this node|\(stopping)/.test(t.replace('upgrading the database schema', 'database schema'))), `ucd1 upgrades the schema: ${first.join(' | ')}`);
    assert.ok(first.some((t) => t.includes('laying the new files')), first.join(' | '));
    assert.equal(first.at(-1), 'installer: finished (BUILD SUCCESSFUL)', first.join(' | '));
    for (const n of ['ucd2', 'ucd3']) {
      const other = said('installOthers', n);
      assert.ok(other.some((t) => t.includes('no database upgrade on this node')) && !other.some((t) => /schema/.test(t)), `${n}: ${other.join(' | ')}`);
      assert.equal(other.at(-1), 'installer: finished (BUILD SUCCESSFUL)', other.join(' | '));
    }
    const start = said('startFirst', 'ucd1');
    assert.ok(start[0]?.startsWith('starting the server on ucd1 ('), start.join(' | '));
    // Whether the login page was up at the first look depends on the machine; every wait that was said is a countdown.
    for (const t of start.slice(1)) assert.match(t, /^waiting for (an answer|the server process|port \d+|the login page( to show [\d.]+)?) on ucd1: \d+ s of 60 s$/);

    // The schema was upgraded exactly once.
    const schemaAfter = await tc.database!.schemaVersions();
    assert.equal(schemaAfter.length, schemaBefore.length + 1, schemaAfter.join(', '));

    // The journal is complete: every step has a settled record, nothing unreadable.
    const { events, issues } = parseJournal(fs.readFileSync(r.session.journalFile, 'utf8'));
    assert.deepEqual(issues, []);
    for (const s of STEPS.filter((x) => x.id !== 'storage')) {
      assert.ok(events.some((e) => e.type === 'finished' && e.step === s.id), `journal has a result for ${s.id}`);
    }
    assert.ok(r.session.view().every((s) => ['passed', 'notNeeded'].includes(s.state)), r.session.view().map((s) => `${s.def.id}:${s.state}`).join(' '));
    assert.ok(!fs.readFileSync(r.session.journalFile, 'utf8').includes(tc.ucdAdmin.password), 'no secret in the journal');

    // The backup restores: the schema goes back to what it was before the upgrade.
    const dump = path.join(tc.hostHomeDir('ucd1'), path.relative(tc.homeDir, BACKUP_ARTIFACT));
    execFileSync('/bin/sh', ['-c', `mariadb --defaults-extra-file='${tc.database!.optionFile}' ucd < '${dump}'`]);
    assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore);
    await r.pool.closeAll();
  });

  test('step 10 Run on a node already online at the target passes, and the running server is not started again', async () => {
    // After the upgrade above every node runs the target version.
    const pidBefore = (await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim();
    assert.match(pidBefore, /^\d+$/, 'ucd2 runs a server');
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    await act(r, 'startOthers', 'run', 'ucd2');
    const o = r.session.state().get('startOthers@ucd2');
    assert.equal(o?.status, 'passed', `${JSON.stringify(o)}\n--- log tail ---\n${r.lines.slice(-20).join('\n')}`);
    const evidence = o && 'evidence' in o ? o.evidence.join('; ') : '';
    assert.match(evidence, /already online at the target version: not started again/);
    assert.match(evidence, new RegExp(`login page v\\. ${r.cluster.targetVersion.replace(/\./g, '\\.')}`));
    assert.equal((await tc.inNode('ucd2', `cat ${tc.installDir}/var/server.pid`)).stdout.trim(), pidBefore, 'the same server process: no second start');
    assert.ok(!r.lines.some((l) => /\bstart \(/.test(l)), `no start command was run: ${r.lines.join(' | ')}`);
    await r.pool.closeAll();
  });

  test('refusal: a second node on another version is reported and nothing is installed there', async () => {
    // After the upgrade above every node is on the target; put ucd3 back on an older version.
    await tc.stopServer('ucd3');
    const older = '7.0.4.0';
    await tc.inNode('ucd3', `sed -i 's/^installed.version=.*/installed.version=${older}/' ${tc.installDir}/conf/installed.version`);
    const file = JSON.parse(tc.clusterFile({ package: { localFile: pkg.file } }));
    const r = rig(tc, JSON.stringify(file));
    // A new run: the installer runs only a package this run staged and measured.
    await act(r, 'package', 'run', 'ucd3');
    // The first node stays online (step 8 done); the gate for the others needs it recorded.
    await act(r, 'startFirst', 'check');
    await act(r, 'installOthers', 'run', 'ucd3');
    const o = r.session.state().get('installOthers@ucd3');
    assert.equal(o?.status, 'failed', JSON.stringify(o));
    assert.match(JSON.stringify(o), /mismatch|7\.0\.4\.0/i);
    assert.equal((await installedVersion(tc, 'ucd3')).install, older);
    await r.pool.closeAll();
  });

  test('a window reload in the middle of a run marks the running action interrupted; checking again resumes', async () => {
    const text = tc.clusterFile({ package: { localFile: pkg.file } });
    const first = rig(tc, text);
    // The window closes while step 5's check on ucd1 is running: only its 'started' is on disk.
    first.session.begin({ step: 'verifyStopped', node: 'ucd1' }, 'check');
    await first.pool.closeAll();
    const reopened = rig(tc, text, first.ws);
    assert.deepEqual(reopened.session.interruptedOnOpen, [{ step: 'verifyStopped', node: 'ucd1' }]);
    assert.equal(reopened.session.view().find((s) => s.def.id === 'verifyStopped')?.nodes.find((n) => n.node === 'ucd1')?.state, 'interrupted');
    await act(reopened, 'verifyStopped', 'check', 'ucd1');
    assert.notEqual(reopened.session.state().get('verifyStopped@ucd1')?.status, 'interrupted');
    assert.ok(['passed', 'failed'].includes(reopened.session.state().get('verifyStopped@ucd1')?.status ?? ''));
    await reopened.pool.closeAll();
  });
});

describe('guided hand-over and silent mode, on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
  });
  after(async () => {
    await tc?.stop();
  });

  test('guided: a prompt the runbook does not know hands the live installer to a person, who finishes it', async () => {
    // A newer package asks a question the runbook has never seen.
    const pkg = tc.buildPackage({ extraPrompt: 'Enter the port of the new agent relay. [Default: 7916]' });
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    await act(r, 'package', 'run');
    expectState(r, 'package', 'passed');
    const handedOver: { node: string; backlog: string; why: string }[] = [];
    const installer = installerHandlers('installFirst', {
      transportFor: async (n) => r.pool.transport(targetFromNode(n)),
      trust: { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async () => 'once' as const },
      confirm: confirmNotice,
      quietMs: 1_500,
      // The engineer in the terminal: reads the question, presses Enter for the default.
      handOver: async (node, session, backlog, why) => {
        handedOver.push({ node, backlog, why });
        session.write('\r');
      },
    });
    await installer.run!(ctx(r, 'installFirst'));
    assert.equal(handedOver.length, 1, 'handed over exactly once');
    assert.equal(handedOver[0].node, 'ucd1');
    assert.match(handedOver[0].backlog, /agent relay/);
    const o = r.session.state().get('installFirst@ucd1');
    assert.equal(o?.status, 'passed', JSON.stringify(o));
    assert.ok(o && 'evidence' in o && o.evidence.includes('finished by hand in the terminal'));
    assert.equal((await installedVersion(tc, 'ucd1')).install, pkg.version);
    await r.pool.closeAll();
  });

  test('silent: a node upgrades without a single prompt answered, and install.properties says why', async () => {
    const pkg = tc.buildPackage();
    // ucd1 was upgraded above; ucd2, still on the old version, plays the first node here.
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file }, installerMode: 'silent', firstNode: 'ucd2' }));
    await act(r, 'package', 'run');
    expectState(r, 'package', 'passed');
    await act(r, 'installFirst', 'run');
    // Upgraded; but a "first" node that found the schema already upgraded (by ucd1 above) is the
    // surprise the step must point out, not pass over.
    expectState(r, 'installFirst', 'warning');
    const o = r.session.state().get('installFirst@ucd2');
    assert.ok(o && 'hint' in o && /ds_db_version/.test(o.hint ?? ''), JSON.stringify(o));
    assert.deepEqual(await installedVersion(tc, 'ucd2'), { install: pkg.version, appdata: pkg.version });
    const props = await tc.inNode('ucd2', `cat ${packageLayout(r.cluster, tc.homeDir).installerDir}/install.properties`);
    assert.match(props.stdout, /^nonInteractive=true$/m);
    assert.match(props.stdout, new RegExp(`^install\\.server\\.dir=${tc.installDir.replace(/\//g, '\\/')}$`, 'm'));
    assert.ok(!r.lines.some((l) => / answered /.test(l)), 'nothing was typed at a prompt');
    await r.pool.closeAll();
  });
});

// Issue 8, through the runner (the engine's one entry point) with the real core handlers: the
// gates are evaluated when the action starts, whatever the rows show.
describe('the runner enforces the gates on a real cluster', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true });
    pkg = tc.buildPackage();
  });
  after(async () => {
    await tc?.stop();
  });

  test('ucd1 never upgraded and running the old version: Check, then Run on step 9 for ucd2 is refused; nothing is installed', async () => {
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }));
    const runner = new Runner(r.session, { handlers: tableOf(r.handlers), log: { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) } });
    try {
      await tc.startServer('ucd1');
      await tc.stopServer('ucd2');
      const schemaBefore = await tc.database!.schemaVersions();
      // ucd2 has the package and is proven stopped: without the gate, the installer would run there.
      assert.deepEqual(await runner.run({ step: 'package', node: 'ucd2' }), { kind: 'done' });
      expectNode(r, 'package', 'ucd2', 'passed');
      assert.deepEqual(await runner.check({ step: 'verifyStopped', node: 'ucd2' }), { kind: 'done' });
      expectNode(r, 'verifyStopped', 'ucd2', 'passed');
      // Check on step 9: its row is now "failed", no longer "blocked".
      assert.deepEqual(await runner.check({ step: 'installOthers', node: 'ucd2' }), { kind: 'done' });
      expectNode(r, 'installOthers', 'ucd2', 'failed');

      const result = await runner.run({ step: 'installOthers', node: 'ucd2' });
      assert.deepEqual(result, { kind: 'refused', reasons: [`ucd1: first node not back online at ${r.cluster.targetVersion} yet — step 8`] });
      const events = parseJournal(fs.readFileSync(r.session.journalFile, 'utf8')).events;
      assert.ok(!events.some((e) => e.type === 'started' && e.step === 'installOthers' && e.kind === 'run'), 'the installer handler never started');
      const refused = events.filter((e) => e.type === 'refused');
      assert.deepEqual(refused.map((e) => e.type === 'refused' && [e.step, e.node, e.request, e.reasons]), [['installOthers', 'ucd2', 'run', result.kind === 'refused' ? result.reasons : []]]);
      assert.deepEqual(await installedVersion(tc, 'ucd2'), { install: tc.version, appdata: tc.version }, 'ucd2 is still on the old version');
      assert.deepEqual(await tc.database!.schemaVersions(), schemaBefore, 'the schema is unchanged in MariaDB');

      // And the demo's other finding: Confirm Manually on step 7 while ucd1 runs the old version.
      const confirmed = await runner.confirm({ step: 'installFirst', node: 'ucd1' }, 'upgraded it by hand');
      assert.equal(confirmed.kind, 'refused', JSON.stringify(confirmed));
      assert.match(confirmed.kind === 'refused' ? confirmed.reasons[0] : '', new RegExp(`^ucd1: Confirm Manually refused — a fresh probe does not show ucd1 on ${r.cluster.targetVersion.replace(/\./g, '\\.')} \\(conf/installed\\.version ${tc.version.replace(/\./g, '\\.')}\\)`));
      expectState(r, 'startFirst', 'blocked');
    } finally {
      await tc.stopServer('ucd1');
      await r.pool.closeAll();
    }
  });
});

function expectNode(r: Rig, step: StepId, node: string, state: string): void {
  const v = r.session.view().find((s) => s.def.id === step)?.nodes.find((n) => n.node === node);
  assert.equal(v?.state, state, `${step}@${node}: ${v?.detail}\n--- log tail ---\n${r.lines.slice(-30).join('\n')}`);
}
