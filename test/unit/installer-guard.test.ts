// The installer guard and the stop decision (src/core/steps/installerGuard.ts), the link watch
// (src/core/remote/reconnect.ts): the words, the decision on Cancel, the probe loop against real
// processes on this machine through a real shell (test/support/localShell.ts), recorded in a real
// RunSession, and the stop script run by the real /bin/sh against a real detached run.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster, ClusterNode } from '../../src/core/cluster/types';
import { detachedLaunchScript, parseDetachedPid, parsePoll, pollScript, runFolder, type DetachedRun } from '../../src/core/remote/detached';
import { sh } from '../../src/core/remote/quote';
import { Backoff, connectionLostMessage, LinkWatch } from '../../src/core/remote/reconnect';
import type { JournalEvent } from '../../src/core/journal/events';
import type { Transport } from '../../src/core/remote/transport';
import type { ActionContext } from '../../src/core/runbook/actions';
import { RunSession } from '../../src/core/runbook/session';
import { ago, installerPhase, type GuardStop, InstallerGuard, LET_IT_RUN, parseStop, stillRunningLine, stopDetachedScript, stopInstallerQuestion, STOP_THE_INSTALLER } from '../../src/core/steps/installerGuard';
import { CONFIRMATIONS } from '../../src/core/steps/table';
import type { InstallerEvent } from '../../src/core/ucd/installer/driver';
import { GO_LINE, NOT_STARTED_EXIT, NOT_STARTED_MARKER, READY_MARKER } from '../../src/core/ucd/installer/startGate';
import { freePort, LocalShell, startFakeServer, type FakeServer } from '../support/localShell';
import { actionContext } from '../../src/core/runbook/runner';

const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

describe('words', () => {
  test('a long silence: seconds under two minutes, then minutes, from the last output time', () => {
    const now = 1_000_000_000;
    assert.equal(stillRunningLine('ucd1', now - 12 * 60_000, now), 'still running on ucd1, last output 12 min ago');
    assert.equal(stillRunningLine('ucd2', now - 45_000, now), 'still running on ucd2, last output 45 s ago');
    assert.equal(ago(119_000), '119 s');
    assert.equal(ago(120_000), '2 min');
  });

  test('the stop question says what stopping means where the installer is, the safe answer first', () => {
    const before = stopInstallerQuestion('ucd1', 'before-database');
    const during = stopInstallerQuestion('ucd1', 'database');
    assert.equal(before.question, 'Stop the installer on ucd1?');
    assert.match(before.detail, /not reached the database upgrade yet/);
    assert.doesNotMatch(before.detail, /half-upgraded/);
    assert.match(during.detail, /schema may be left half-upgraded/);
    assert.match(during.detail, /only a restore of the backup \(step 1\) undoes it/);
    for (const d of [before.detail, during.detail]) {
      const lines = d.split('\n');
      assert.ok(lines[1]!.startsWith(`"${LET_IT_RUN}" (the default) changes nothing`), d);
      assert.ok(lines[2]!.startsWith(`"${STOP_THE_INSTALLER}" ends the installer's processes on ucd1`), d);
      // Each answer explained once.
      assert.equal(d.split(`"${LET_IT_RUN}"`).length, 2);
      assert.equal(d.split(`"${STOP_THE_INSTALLER}"`).length, 2);
    }
    assert.ok(CONFIRMATIONS.includes('stop-installer'), 'the command line can name it in --confirm');
  });

  test('the phase: before the database until the installer says it found (or did not find) upgrades', () => {
    const events: InstallerEvent[] = [{ type: 'progress', line: '[mkdir] Created dir: /opt/ucd/server/var/temp' }];
    assert.equal(installerPhase(events), 'before-database');
    assert.equal(installerPhase([...events, { type: 'info', kind: 'databaseUpgrades', line: 'Found database upgrades, cancelling currently running processes' }]), 'database');
    assert.equal(installerPhase([...events, { type: 'info', kind: 'noDatabaseUpgrades', line: 'No database upgrades found, leaving processes running' }]), 'database');
  });
});

describe('the link watch', () => {
  test('lost said once, then a doubling wait up to the cap, given up after the patience; restored with how long it was down', () => {
    let now = 0;
    const w = new LinkWatch({ firstDelayMs: 1_000, maxDelayMs: 4_000, patienceMs: 10_000, now: () => now });
    assert.deepEqual(w.ok(), { kind: 'up' });
    assert.deepEqual(w.failed('timed out'), { kind: 'lost', problem: 'timed out', waitMs: 1_000 });
    assert.equal(w.down, true);
    now = 1_000;
    assert.deepEqual(w.failed('refused'), { kind: 'down', waitMs: 2_000 });
    now = 3_000;
    assert.deepEqual(w.failed('refused'), { kind: 'down', waitMs: 4_000 });
    now = 7_000;
    assert.deepEqual(w.failed('refused'), { kind: 'down', waitMs: 4_000 });
    now = 8_500;
    assert.deepEqual(w.ok(), { kind: 'restored', downMs: 8_500 });
    assert.equal(w.down, false);
    // A new loss starts over: said again, the first delay again.
    now = 20_000;
    assert.deepEqual(w.failed('reset'), { kind: 'lost', problem: 'reset', waitMs: 1_000 });
    now = 30_001;
    assert.deepEqual(w.failed('reset'), { kind: 'given-up', downMs: 10_001, problem: 'reset' });
  });

  test('backoff doubles and resets', () => {
    const b = new Backoff(500, 1_500);
    assert.deepEqual([b.delay(), b.delay(), b.delay()], [500, 1_000, 1_500]);
    b.reset();
    assert.equal(b.delay(), 500);
    assert.equal(connectionLostMessage('ucd1', 'the installer'), 'connection to ucd1 lost; the installer keeps running there');
  });
});

// ---------------------------------------------------------------------------------------------

function install(root: string, name: string): string {
  const dir = path.join(root, name);
  for (const d of ['var', 'conf', 'bin']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/installed.version'), 'installed.version=7.0.5.0\n');
  return dir;
}

async function twoNodes(): Promise<{ cluster: Cluster; dirs: string[] }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-guard-'));
  const dirs = [install(root, 'n1'), install(root, 'n2')];
  const nodes = await Promise.all(dirs.map(async (d, i) => ({ name: `ucd${i + 1}`, host: `127.0.0.${i + 1}`, user: 'ucd', installDir: d, httpsPort: await freePort(), jmsPort: await freePort() })));
  const r = loadCluster(JSON.stringify({
    name: 'local', currentVersion: '7.0.5.0', targetVersion: '7.1.2.0', firstNode: 'ucd1', sharedAppdata: path.join(root, 'appdata'),
    loadBalancerUrl: 'https://lb.example.test', ucd: { url: 'https://lb.example.test', credential: 'ucd-admin' },
    database: { type: 'mariadb', backup: { command: 'true', artifact: '/tmp/x.sql' } }, package: { remotePath: '/tmp/ibm-ucd-install' }, nodes,
  }));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return { cluster: r.cluster, dirs };
}

function contextFor(cluster: Cluster): { ctx: ActionContext; lines: string[]; session: RunSession; id: string } {
  const session = RunSession.open(cluster, fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-ws-')));
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`INFO ${m}`), warn: (m: string) => lines.push(`WARN ${m}`), error: (m: string) => lines.push(`ERROR ${m}`) };
  const id = session.begin({ step: 'installFirst', node: 'ucd1' }, 'run');
  return { ctx: actionContext({ cluster, session, target: { step: 'installFirst' }, log, signal: new AbortController().signal }), lines, session, id };
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} did not appear within ${timeoutMs / 1000} s\n${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The installer as the guard sees it: its events and a stop that counts its calls. */
function installer(events: InstallerEvent[]) {
  const stops: number[] = [];
  return { events, stops, stop: async () => (stops.push(Date.now()), 'its processes were ended') };
}

describe('the guard while an installer runs', () => {
  test('Cancel asks first: "Let It Run" changes nothing; "Stop the Installer" stops it, with where it was', async () => {
    const { cluster } = await twoNodes();
    const { ctx, id, session } = contextFor(cluster);
    const asked: { q: string; d: string }[] = [];
    let answer = false;
    const guard = new InstallerGuard({ transportFor: async (n) => new LocalShell(n.name), confirm: async (q, d) => (asked.push({ q, d }), answer), everyMs: 3_600_000 });
    assert.equal(await guard.cancel({ step: 'installFirst' }), 'not-running', 'nothing to ask about before an installer runs');
    assert.equal(asked.length, 0);
    const inst = installer([{ type: 'progress', line: 'install:' }]);
    const watch = guard.watch(ctx, 'ucd1', id, inst);
    try {
      assert.deepEqual(guard.running({ step: 'installFirst' }), [{ step: 'installFirst', node: 'ucd1' }]);
      assert.equal(await guard.cancel({ step: 'installOthers' }), 'not-running', 'another step is not this installer');
      assert.equal(await guard.cancel({ step: 'installFirst' }), 'left-running');
      assert.equal(asked.length, 1);
      assert.equal(asked[0]!.q, 'Stop the installer on ucd1?');
      assert.match(asked[0]!.d, /not reached the database upgrade yet/);
      assert.deepEqual(inst.stops, [], '"Let It Run" stops nothing');
      assert.equal(watch.stopped, undefined);
      assert.equal(session.state().get('installFirst@ucd1')?.status, 'running', 'the step still running');

      inst.events.push({ type: 'info', kind: 'databaseUpgrades', line: 'Found database upgrades, cancelling currently running processes' });
      answer = true;
      assert.equal(await guard.cancel({ step: 'installFirst', node: 'ucd1' }), 'stopped');
      assert.match(asked[1]!.d, /half-upgraded/, 'asked with what stopping mid-schema means');
      assert.equal(inst.stops.length, 1);
      const stopped = watch.stopped as GuardStop | undefined;
      assert.equal(stopped?.phase, 'database');
      assert.match(stopped?.why ?? '', /engineer's word/);
      assert.equal(stopped?.result, 'its processes were ended');
    } finally {
      await watch.end();
    }
    assert.equal(await guard.cancel({ step: 'installFirst' }), 'not-running', 'an ended follow is not asked about');
  });

  test('a server that comes back on a node that must stay down: the alarm, recorded and shown, and the installer stopped before the database', async () => {
    const { cluster, dirs } = await twoNodes();
    const { ctx, id, session, lines } = contextFor(cluster);
    let rounds = 0;
    const transportFor = async (n: ClusterNode): Promise<Transport> => {
      // ucd1 (the installing node) is probed every round; ucd2 only until it raised its alarm.
      if (n.name === 'ucd1') rounds++;
      return new LocalShell(n.name);
    };
    const guard = new InstallerGuard({ transportFor, confirm: async () => assert.fail('the guard asks nobody'), everyMs: 100 });
    const inst = installer([{ type: 'progress', line: 'install:' }]);
    const watch = guard.watch(ctx, 'ucd1', id, inst);
    try {
      await waitFor('three guard rounds', () => rounds >= 3, 20_000, () => lines.join('\n'));
      assert.ok(!session.journal.events.some((e) => e.type === 'guard-alarm'), 'no alarm while every node is down');
      const node2 = cluster.nodes[1]!;
      const s = await startFakeServer({ installDir: dirs[1]!, ports: [node2.httpsPort] });
      servers.push(s);
      fs.writeFileSync(path.join(dirs[1]!, 'var/server.pid'), `${s.pid}\n`);
      await waitFor('the guard alarm in the journal', () => session.journal.events.some((e) => e.type === 'guard-alarm'), 20_000, () => lines.join('\n'));
      const alarm = session.journal.events.find((e) => e.type === 'guard-alarm');
      assert.ok(alarm && alarm.type === 'guard-alarm');
      assert.equal(alarm.server, 'ucd2');
      assert.equal(alarm.node, 'ucd1');
      assert.equal(alarm.id, id);
      assert.equal(alarm.action, 'installer-stopped');
      assert.match(alarm.message, /a server is running on ucd2 while the installer runs on ucd1: the installer was stopped before the database upgrade/);
      assert.ok(alarm.evidence.some((l) => l.startsWith(`server process ${s.pid} running`)), alarm.evidence.join('\n'));
      assert.equal(inst.stops.length, 1, 'stopped once');
      assert.equal(watch.stopped?.phase, 'before-database');
      assert.match(watch.stopped?.why ?? '', /^stopped by the guard: a server is running on ucd2/);
      assert.ok(lines.some((l) => l.startsWith('ERROR [ucd1] ALARM: a server is running on ucd2')), lines.join('\n'));
      // The tree's node row says it while the step still runs.
      const o = session.state().get('installFirst@ucd1');
      assert.ok(o?.status === 'running' && o.alarm === alarm.message, JSON.stringify(o));
      assert.equal(session.view().find((v) => v.def.id === 'installFirst')?.nodes.find((n) => n.node === 'ucd1')?.detail, alarm.message);
      // One alarm per node that came back, not one per probe.
      const before = rounds;
      await waitFor('two more guard rounds', () => rounds >= before + 2, 20_000, () => lines.join('\n'));
      assert.equal(session.journal.events.filter((e) => e.type === 'guard-alarm').length, 1);
    } finally {
      await watch.end();
    }
  });

  test('the installer already at the database upgrade: the alarm, and it is left running (stopping it would half-upgrade the schema)', async () => {
    const { cluster, dirs } = await twoNodes();
    const { ctx, id, session, lines } = contextFor(cluster);
    const node2 = cluster.nodes[1]!;
    const s = await startFakeServer({ installDir: dirs[1]!, ports: [node2.httpsPort] });
    servers.push(s);
    const guard = new InstallerGuard({ transportFor: async (n) => new LocalShell(n.name), confirm: async () => assert.fail('the guard asks nobody'), everyMs: 100 });
    const inst = installer([{ type: 'info', kind: 'databaseUpgrades', line: 'Found database upgrades, cancelling currently running processes' }]);
    const watch = guard.watch(ctx, 'ucd1', id, inst);
    try {
      await waitFor('the guard alarm in the journal', () => session.journal.events.some((e) => e.type === 'guard-alarm'), 20_000, () => lines.join('\n'));
      const alarm = session.journal.events.find((e) => e.type === 'guard-alarm');
      assert.ok(alarm && alarm.type === 'guard-alarm');
      assert.equal(alarm.action, 'installer-left-running');
      assert.match(alarm.message, /has reached the database upgrade: stopping it now would leave the schema half-upgraded, so it runs on\. Stop the server on ucd2 now/);
      assert.deepEqual(inst.stops, []);
      assert.equal(watch.stopped, undefined);
    } finally {
      await watch.end();
    }
  });
});

describe('the stop script, under a real /bin/sh', () => {
  const GATE = { ready: READY_MARKER, go: GO_LINE, notStarted: NOT_STARTED_MARKER, notStartedExit: NOT_STARTED_EXIT };

  async function started(command: string): Promise<DetachedRun> {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-guard-stop-'));
    const dir = runFolder(base, 'run1');
    const child = spawn('/bin/sh', ['-c', detachedLaunchScript(dir, sh`eval ${command}`, GATE).text], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const run = await new Promise<DetachedRun>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 10 s; output: ${out}`)), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (!out.includes(`${READY_MARKER}\n`)) return;
        clearTimeout(timer);
        const pid = parseDetachedPid(out);
        if (pid === undefined) return reject(new Error(`no pid line: ${out}`));
        resolve({ runId: 'run1', pid, dir });
      });
    });
    child.stdin.end(`${GO_LINE}\n`);
    await new Promise<void>((r) => child.on('close', () => r()));
    return run;
  }

  function poll(run: DetachedRun) {
    const r = new LocalShell('local');
    return r.exec(pollScript(run, 0).text).then((x) => parsePoll(x.stdout));
  }

  test('ends every process of the run but its leader, which writes the exit status; a run that ended or a pid not ours is left alone', async () => {
    // A child that ignores TERM: the grace time, then KILL.
    const run = await started(`echo started; trap '' TERM; sleep 300 & wait; echo never`);
    await waitFor('the run logging', () => fs.existsSync(`${run.dir}/log`) && fs.readFileSync(`${run.dir}/log`, 'utf8').includes('started'), 10_000, () => '');
    assert.equal((await poll(run))?.state.kind, 'running');
    const shell = new LocalShell('local');
    const r = await shell.exec(stopDetachedScript(run, 2).text, { timeoutMs: 30_000 });
    const report = parseStop(r.stdout);
    assert.ok(report && report.kind === 'stopped', r.stdout + r.stderr);
    assert.ok(report.terminated >= 2, `the shell and its sleep got TERM: ${r.stdout}`);
    assert.ok(report.killed >= 1, `what ignored TERM was KILLed after the grace time: ${r.stdout}`);
    await waitFor('the exit status written by the leader', () => fs.existsSync(`${run.dir}/exit`), 10_000, () => fs.readFileSync(`${run.dir}/log`, 'utf8'));
    const p = await poll(run);
    assert.ok(p?.state.kind === 'exited' && p.state.code !== 0, JSON.stringify(p?.state));
    assert.ok(!fs.readFileSync(`${run.dir}/log`, 'utf8').includes('never'));
    // Again: it has ended, said so, nothing signalled.
    assert.deepEqual(parseStop((await shell.exec(stopDetachedScript(run).text)).stdout), { kind: 'ended', code: (p.state as { code: number }).code });
    // A pid that is not the run's (its command line does not name the folder): left alone.
    const other = { ...run, dir: `${run.dir}-other`, pid: process.pid };
    assert.deepEqual(parseStop((await shell.exec(stopDetachedScript(other).text)).stdout), { kind: 'gone' });
  });
});

describe('what the views read', () => {
  test('a lost link and a guard alarm beside a running installer: in the run state, the status warnings, gone with the link back or the run ended', async () => {
    const { VALID_CLUSTER } = await import('../fixtures/clusters');
    const r = loadCluster(VALID_CLUSTER);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const c = r.cluster;
    const node = c.firstNode;
    const { reduceJournal } = await import('../../src/core/runbook/state');
    const { clusterStatus } = await import('../../src/core/status/clusterStatus');
    const ts = (s: number) => new Date(Date.parse('2026-12-02T01:00:00Z') + s * 1000).toISOString();
    const lost = connectionLostMessage(node, 'the installer');
    const alarmText = `a server is running on x while the installer runs on ${node}: the installer was stopped before the database upgrade`;
    const events: JournalEvent[] = [
      { type: 'started', ts: ts(0), id: 'a', kind: 'run', step: 'installFirst', node },
      { type: 'connection-lost', ts: ts(1), id: 'a', message: lost, step: 'installFirst', node },
      // An event of another action changes nothing here.
      { type: 'connection-lost', ts: ts(2), id: 'b', message: 'other', step: 'installFirst', node },
    ];
    let st = reduceJournal(events, c).get(`installFirst@${node}`);
    assert.ok(st?.status === 'running' && st.connection === lost && st.alarm === undefined, JSON.stringify(st));
    assert.deepEqual(clusterStatus(c, events, reduceJournal(events, c)).warnings.filter((w) => w.code === 'connection-lost').map((w) => [w.node, w.message]), [[node, lost]]);
    events.push({ type: 'guard-alarm', ts: ts(3), id: 'a', server: 'x', evidence: ['pid 1 listening on :8443'], action: 'installer-stopped', message: alarmText, step: 'installFirst', node });
    events.push({ type: 'connection-restored', ts: ts(4), id: 'a', message: `connection to ${node} back after 3 s`, step: 'installFirst', node });
    st = reduceJournal(events, c).get(`installFirst@${node}`);
    assert.ok(st?.status === 'running' && st.connection === undefined && st.alarm === alarmText, JSON.stringify(st));
    const warnings = clusterStatus(c, events, reduceJournal(events, c)).warnings;
    assert.deepEqual(warnings.filter((w) => w.code === 'installer-guard-alarm').map((w) => [w.severity, w.node, w.message]), [['critical', node, alarmText]]);
    assert.ok(!warnings.some((w) => w.code === 'connection-lost'), 'the link is back');
    events.push({ type: 'finished', ts: ts(5), id: 'a', kind: 'run', verdict: 'failed', evidence: ['stopped'], step: 'installFirst', node });
    assert.ok(!clusterStatus(c, events, reduceJournal(events, c)).warnings.some((w) => w.code === 'installer-guard-alarm'), 'the outcome says it once the run ended');
  });
});

describe('the progress line', () => {
  test('each installer running, and a silence over a minute said from the last output time', async () => {
    const { cluster } = await twoNodes();
    const { ctx, id } = contextFor(cluster);
    const guard = new InstallerGuard({ transportFor: async (n) => new LocalShell(n.name), confirm: async () => false, everyMs: 3_600_000 });
    const now = Date.now();
    let last = now - 30_000;
    const watch = guard.watch(ctx, 'ucd1', id, { ...installer([]), lastOutputAt: () => last });
    try {
      assert.equal(guard.progress({ step: 'installFirst' }, now), 'running on ucd1', 'half a minute of quiet is not worth a word');
      last = now - 12 * 60_000;
      assert.equal(guard.progress({ step: 'installFirst' }, now), 'still running on ucd1, last output 12 min ago');
      assert.equal(guard.progress({ step: 'installOthers' }, now), '');
    } finally {
      await watch.end();
    }
    assert.equal(guard.progress({ step: 'installFirst' }, now), '', 'nothing once the follow ended');
  });
});
