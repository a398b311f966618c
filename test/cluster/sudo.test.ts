// Issue 11: a cluster set up as in a data centre. The SSH user (ucdtest, an engineer's account)
// does not own the install; the install, the shared appdata and the server belong to the service
// user ucd; Debian's real sudo asks for the SSH user's password. A whole upgrade through the core
// (the same step table the editor and the command line use) ends with every node on the target
// version, nothing owned by another user, and the password nowhere: not in the journal, the
// report, the log, nor in `ps` on the node sampled while sudo-wrapped commands run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import { renderReport } from '../../src/core/journal/report';
import { SecretValues, maskingSecretSource } from '../../src/core/journal/secrets';
import { handlerOf, type ActionContext, type ActionLog, type HandlerTable } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { SecretSource } from '../../src/core/remote/interaction';
import { LocalTransport } from '../../src/core/remote/local';
import { filesNotOwnedBy, sudoPasswordKey, withRights } from '../../src/core/remote/privilege';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { sudoPasswordsFrom } from '../../src/core/remote/sudoPasswords';
import { buildStepTable } from '../../src/core/steps/table';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, SERVICE_USER, startCluster, TEST_USER, type InstallerPackage, type TestCluster } from './harness';
import { actionContext } from '../../src/core/runbook/runner';

const skip = clusterPrerequisites() ?? (fs.existsSync('/usr/bin/sudo') ? undefined : 'sudo is not installed (test/install-debian-deps.sh installs it)');

/** The editor's SecretStorage and password box, scripted: what was asked, what is stored. */
class ScriptedSecrets implements SecretSource {
  readonly stored = new Map<string, string>();
  readonly asked: string[] = [];
  constructor(private readonly answer: () => string | undefined) {}
  async get(key: string): Promise<string | undefined> {
    return this.stored.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.stored.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.stored.delete(key);
  }
  async ask(prompt: string): Promise<string | undefined> {
    this.asked.push(prompt);
    return this.answer();
  }
}

interface Rig {
  cluster: Cluster;
  session: RunSession;
  handlers: HandlerTable;
  lines: string[];
  pool: SshPool;
  secrets: ScriptedSecrets;
}

function rig(tc: TestCluster, text: string, answer: () => string | undefined): Rig {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-sudo-'));
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const cluster = r.cluster;
  const lines: string[] = [];
  const log = (l: string): void => void lines.push(l);
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [tc.knownHostsFile], storeFile: path.join(ws, 'known_hosts'), prompt: async () => 'cancel' }),
    sshConfigFile: null,
    agentSocket: null,
    log,
  });
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (_c: UnknownCertificate) => 'always' as const };
  const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, { kind: 'basic', user: tc.ucdAdmin.user, password: tc.ucdAdmin.password }), pins: trust.pins, prompt: trust.prompt });
  const values = new SecretValues();
  const secrets = new ScriptedSecrets(answer);
  const handlers = buildStepTable({
    dialogs: {
      confirm: async () => true,
      chooseProcesses: async (running) => ({ kind: 'cancel', processes: running }),
      handOver: async () => assert.fail('no prompt of the upgrade is unknown'),
    },
    transportFor: async (n) => pool.transport(targetFromNode(n)),
    local: () => new LocalTransport(),
    rest: () => rest,
    trust,
    sudoPasswords: sudoPasswordsFrom(maskingSecretSource(secrets, values)),
  });
  return { cluster, session: RunSession.open(cluster, ws, values.mask), handlers, lines, pool, secrets };
}

function ctx(r: Rig, step: StepId): ActionContext {
  const log: ActionLog = { info: (m) => r.lines.push(m), warn: (m) => r.lines.push(m), error: (m) => r.lines.push(m) };
  return actionContext({ cluster: r.cluster, session: r.session, target: { step }, log, signal: new AbortController().signal });
}

async function act(r: Rig, step: StepId, kind: 'run' | 'check'): Promise<void> {
  const h = handlerOf(r.handlers[step][kind]);
  assert.ok(h, `no ${kind} handler for ${step}`);
  await h(ctx(r, step));
}

function stateOf(r: Rig, step: StepId): { state: string; detail: string } {
  const v = r.session.view().find((s) => s.def.id === step);
  assert.ok(v);
  return { state: v.state, detail: [v.summary, ...v.nodes.map((n) => `${n.node}: ${n.state} ${n.detail}`)].join(' | ') };
}

function expectState(r: Rig, step: StepId, state: string): void {
  const s = stateOf(r, step);
  assert.equal(s.state, state, `${step}: ${s.detail}\n--- log tail ---\n${r.lines.slice(-30).join('\n')}`);
}

/**
 * Samples every process's command line on a node (as root, so sudo's children show too) until
 * stopped. Sampling while an action runs, not a wait: the assertions read what was seen.
 */
function psSampler(tc: TestCluster, node: string): { stop(): Promise<string[]> } {
  const seen: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) seen.push((await tc.inNode(node, 'ps -eo user,args --no-headers')).stdout);
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

describe('sudo and a service user: the upgrade runs as the install owner', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let pkg: InstallerPackage;
  let password: string;
  before(async () => {
    tc = await startCluster({ nodes: 2, database: true, loadBalancer: true, serviceUser: true });
    password = tc.sudoPassword!;
    pkg = tc.buildPackage();
  });
  after(async () => {
    await tc?.stop();
  });

  test('the harness built a data centre: the SSH user does not own the install, the server runs as ucd, sudo asks', async () => {
    assert.equal(tc.serverUser, SERVICE_USER);
    await tc.startServer('ucd1');
    const owner = await tc.inNode('ucd1', `stat -c %U ${tc.installDir} ${tc.appdataDir}; ps -o user= -p "$(cat ${tc.installDir}/var/server.pid)"`);
    assert.deepEqual(owner.stdout.trim().split('\n'), [SERVICE_USER, SERVICE_USER, SERVICE_USER]);
    const noPassword = await tc.inNode('ucd1', 'sudo -n -u ucd true', { user: TEST_USER });
    assert.notEqual(noPassword.code, 0);
    assert.match(noPassword.stderr, /a password is required/);
    await tc.stopServer('ucd1');
  });

  test('a wrong password is one clear error, tried once, forgotten; the install owner is checked against the file', async () => {
    const r = rig(tc, tc.clusterFile(), () => 'not-the-password');
    await act(r, 'verifyStopped', 'check');
    expectState(r, 'verifyStopped', 'failed');
    const detail = stateOf(r, 'verifyStopped').detail;
    assert.match(detail, /refused the password of ucdtest/);
    assert.match(detail, /tried once and not again/);
    assert.equal(r.secrets.asked.length, 2, 'asked once per node');
    assert.equal(r.secrets.stored.size, 0, 'the refused password is forgotten');
    // sudo itself counted one failed attempt on each node, not its three.
    for (const n of tc.nodes) assert.match(detail, new RegExp(`${n.name}: failed [^|]*sudo: 1 incorrect password attempt`), detail);
    await r.pool.closeAll();

    const wrongOwner = rig(tc, tc.clusterFile({ installOwner: TEST_USER }), () => password);
    await act(wrongOwner, 'verifyStopped', 'check');
    expectState(wrongOwner, 'verifyStopped', 'failed');
    assert.match(stateOf(wrongOwner, 'verifyStopped').detail, new RegExp(`belongs to ${SERVICE_USER}, but the cluster file says its installOwner is ${TEST_USER}`));
    assert.deepEqual(wrongOwner.secrets.asked, [], 'nothing was run through sudo, so no password was asked');
    await wrongOwner.pool.closeAll();
  });

  test('cancelling a command that runs through sudo stops it on the node, not just our wait', async () => {
    const r = rig(tc, tc.clusterFile(), () => password);
    const ucd1 = r.cluster.nodes.find((n) => n.name === 'ucd1')!;
    const asOwner = withRights(r.pool.transport(targetFromNode(ucd1)), ucd1, 'owner', sudoPasswordsFrom(r.secrets));
    const abort = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((res) => (started = res));
    const exec = asOwner.exec('echo started; exec sleep 312', { signal: abort.signal, timeoutMs: 120_000, onStdout: (c) => c.includes('started') && started() });
    await running;
    // Anchored: the shell that runs pgrep has "sleep 312" in its own command line.
    const before = await tc.inNode('ucd1', "pgrep -u ucd -f '^sleep 312$'");
    assert.equal(before.code, 0, 'the command runs as ucd');
    abort.abort();
    await assert.rejects(exec, (e: Error & { kind?: string }) => e.kind === 'cancelled');
    const afterCancel = await tc.inNode('ucd1', "pgrep -f '^sleep 312$'");
    assert.notEqual(afterCancel.code, 0, `still running after the cancel: ${afterCancel.stdout}`);
    await r.pool.closeAll();
  });

  test('a whole upgrade: every node on the target version, nothing owned by another user, the password nowhere', async () => {
    for (const n of tc.nodes) await tc.startServer(n.name);
    const r = rig(tc, tc.clusterFile({ package: { localFile: pkg.file } }), () => password);
    const target = r.cluster.targetVersion;

    await act(r, 'backup', 'run');
    expectState(r, 'backup', 'passed');
    await act(r, 'processes', 'check');
    expectState(r, 'processes', 'passed');
    await act(r, 'package', 'run');
    expectState(r, 'package', 'passed');
    // The stage is the service user's, so the installer (run as ucd) can read it.
    assert.match(stateOf(r, 'package').detail, /staged in \/home\/ucd\//);

    const psStop = psSampler(tc, 'ucd1');
    await act(r, 'stop', 'run');
    expectState(r, 'stop', 'passed');
    expectState(r, 'verifyStopped', 'passed');
    const psDuringStop = await psStop.stop();

    const psInstall = psSampler(tc, 'ucd1');
    await act(r, 'installFirst', 'run');
    const psDuringInstall = await psInstall.stop();
    expectState(r, 'installFirst', 'passed');
    assert.match(stateOf(r, 'installFirst').detail, /every file in \/opt\/ucd\/server and \/opt\/ucd\/appdata owned by ucd/);
    await act(r, 'startFirst', 'run');
    expectState(r, 'startFirst', 'passed');
    await act(r, 'installOthers', 'run');
    expectState(r, 'installOthers', 'passed');
    await act(r, 'startOthers', 'run');
    expectState(r, 'startOthers', 'passed');
    await act(r, 'verifyVersions', 'check');
    expectState(r, 'verifyVersions', 'passed');

    for (const n of tc.nodes) {
      const v = await tc.inNode(n.name, `sed -n 's/^installed.version=//p' ${tc.installDir}/conf/installed.version ${tc.appdataDir}/conf/installed.version`);
      assert.deepEqual(v.stdout.trim().split('\n'), [target, target], n.name);
      const foreign = await tc.inNode(n.name, `find ${tc.installDir} ${tc.appdataDir} ! -user ${SERVICE_USER} | head -n 5`);
      assert.equal(foreign.stdout.trim(), '', `${n.name}: files not owned by ${SERVICE_USER}`);
      const server = await tc.inNode(n.name, `ps -o user= -p "$(cat ${tc.installDir}/var/server.pid)"`);
      assert.equal(server.stdout.trim(), SERVICE_USER, `${n.name}: the server runs as ${SERVICE_USER}`);
    }

    // Asked once per node, for the SSH user, and kept by name.
    assert.equal(r.secrets.asked.length, tc.nodes.length, r.secrets.asked.join('\n'));
    assert.deepEqual([...r.secrets.stored.keys()].sort(), tc.nodes.map((n) => sudoPasswordKey(n, TEST_USER)).sort());

    // sudo really ran while we looked: the samples hold its command lines (else the grep proves nothing).
    const samples = [...psDuringStop, ...psDuringInstall];
    const sudoLines = samples.flatMap((s) => s.split('\n')).filter((l) => l.includes('sudo'));
    assert.ok(sudoLines.some((l) => /sudo -S -p \[ucd-upgrade sudo [0-9a-f]+\]\s+-H -u ucd/.test(l)), `a sudo-wrapped command was seen in ps:\n${[...new Set(sudoLines)].slice(0, 10).join('\n')}`);
    assert.ok(psDuringInstall.some((s) => /^ucd\s+.*install-server|^ucd\s+.*ant/m.test(s)), `the installer ran as ucd:\n${psDuringInstall.at(-1)}`);

    const journal = fs.readFileSync(r.session.journalFile, 'utf8');
    const report = renderReport({ cluster: r.cluster, events: r.session.journal.events, views: r.session.view(), generatedAt: new Date() });
    const places: Record<string, string> = { journal, report, log: r.lines.join('\n'), ps: samples.join('\n'), env: (await tc.inNode('ucd1', 'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"')).stdout };
    for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(password), `the sudo password is in the ${where}`);
    assert.ok(journal.length > 1000 && report.includes(target), 'the places grepped hold the run');

    // What a root-run installer leaves behind is named, file by file (seen with root's rights through sudo).
    await tc.inNode('ucd1', `touch ${tc.installDir}/var/log/left-by-root.log`);
    const ucd1 = r.cluster.nodes.find((n) => n.name === 'ucd1')!;
    const asRoot = withRights(r.pool.transport(targetFromNode(ucd1)), ucd1, 'root', sudoPasswordsFrom(r.secrets));
    const foreign = await filesNotOwnedBy(asRoot, SERVICE_USER, [tc.installDir, tc.appdataDir]);
    assert.deepEqual(foreign, { count: 1, files: [`root ${tc.installDir}/var/log/left-by-root.log`] });
    await tc.inNode('ucd1', `rm ${tc.installDir}/var/log/left-by-root.log`);
    await r.pool.closeAll();
  });
});
