// Stopping what is left: the plan (pure, from the captured composed probe) and the action script
// really run by /bin/sh against real processes — including the guards: a pid that now belongs to
// another command line is not signalled, and a pid file is removed only while no process has its pid.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanupScript, parseCleanup, type CleanupPlanScript } from '../../src/core/probes/cleanup';
import { parseNodeProbe, probeNode, type BuiltProbe, type NodeProbe } from '../../src/core/probes/node';
import { composeScript } from '../../src/core/probes/sections';
import { describeKill, planCleanup } from '../../src/core/steps/verifyStopped';
import type { ProcessInfo } from '../../src/core/probes/cmdline';
import { LocalShell, startFakeServer, type FakeServer } from '../support/localShell';

const FIX = path.resolve(__dirname, '../../../test/fixtures/probes');
const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

function alive(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.length > 0;
  } catch {
    return false;
  }
}

async function serverProcess(installDir: string, opts: { ignoreTerm?: boolean; mainClass?: string } = {}): Promise<{ s: FakeServer; proc: ProcessInfo }> {
  const s = await startFakeServer({ installDir, ports: [0], ...opts });
  servers.push(s);
  const node = { name: 'n', host: 'h', sshPort: 22, os: 'linux' as const, installDir, httpsPort: s.ports[0]!, jmsPort: s.ports[0]!, startCommand: 'true', stopCommand: 'true', service: { manager: 'auto' as const } };
  const { probe } = await probeNode(async () => new LocalShell(), node);
  assert.equal(probe.kind, 'probed');
  const holder = probe.kind === 'probed' && probe.ports.kind === 'ok' ? probe.ports.listeners[0]?.owners[0]?.process : undefined;
  assert.ok(holder, 'the probe read the holder\'s command line');
  return { s, proc: holder };
}

async function runCleanup(plan: CleanupPlanScript) {
  const r = await new LocalShell().exec('/bin/sh -s', { stdin: cleanupScript(plan), timeoutMs: 30_000 });
  return parseCleanup(r.stdout, plan);
}

test('plan from the captured probe: own server with its port, the foreign holder apart, pid file to remove after', () => {
  // Captured before the probe reported who it runs as: root, /proc without hidepid.
  const text = fs.readFileSync(path.join(FIX, 'composed-probe.txt'), 'utf8').replace('source proc\n', 'source proc\nuid 0\nprocopts rw,relatime\npid1 visible\n');
  const built: BuiltProbe = { ...composeScript([], 'c0ffee000001'), names: ['pidfile', 'ports', 'processes', 'version'], command: '/bin/sh -s', appdata: true };
  const p = parseNodeProbe({ name: 'ucd1', installDir: '/tmp/ucd-probe-fixture/server', httpsPort: 8443, jmsPort: 7918 }, built, { code: 0, stdout: text, stderr: '', durationMs: 1 }) as Extract<NodeProbe, { kind: 'probed' }>;
  const serverPid = Number(/pidfile present (\d+)/.exec(text)?.[1]);
  const plan = planCleanup(p);
  assert.deepEqual(plan.own.map((k) => [k.process.pid, k.ports]), [[serverPid, [8443]]]);
  // The holder of 7918 (not a UCD server), then the other install's server, which holds no port
  // but blocks the proof all the same: each is asked about on its own.
  assert.equal(plan.foreign.length, 2);
  assert.deepEqual(plan.foreign[0]?.ports, [7918]);
  assert.equal(plan.foreign[0]?.otherInstall, undefined);
  assert.deepEqual(plan.foreign[1]?.ports, []);
  assert.match(plan.foreign[1]?.otherInstall ?? '', /^install \/tmp\/ucd-probe-fixture\/server2/);
  assert.equal(plan.pidFilePid, serverPid);
  assert.equal(plan.pidFileStale, false);
  assert.deepEqual(plan.blockers, []);
  assert.match(describeKill(plan.own[0]!), new RegExp(`^kill pid ${serverPid} \\(holds :8443\\): /usr/lib/jvm/java-17/bin/java -e .* -jar /tmp/ucd-probe-fixture/server/bin/launcher.jar /tmp/ucd-probe-fixture/server/bin/classpath.conf com.urbancode.ds.UDeployServer$`));
  assert.ok(!plan.own.some((k) => k.process.args.some((a) => a.includes('server2'))), 'never among this install\'s own');
});

test('TERM stops a server that obeys it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kill-'));
  const { s, proc } = await serverProcess(dir);
  const r = await runCleanup({ kills: [proc], graceSeconds: 5 });
  assert.equal(r.complete, true);
  assert.equal(r.kills.get(s.pid), 'term');
  await s.exited;
});

test('a server that ignores TERM gets KILL after the grace period', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kill-'));
  const { s, proc } = await serverProcess(dir, { ignoreTerm: true });
  const t0 = Date.now();
  const r = await runCleanup({ kills: [proc], graceSeconds: 1 });
  assert.equal(r.kills.get(s.pid), 'killed');
  assert.ok(Date.now() - t0 >= 1000, 'waited the grace period first');
  await s.exited;
});

test('a pid whose command line changed since the probe is not signalled', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kill-'));
  const { s, proc } = await serverProcess(dir);
  const r = await runCleanup({ kills: [{ pid: proc.pid, identity: proc.identity.replace('UDeployServer', 'SomethingElse') }], graceSeconds: 1 });
  assert.equal(r.kills.get(s.pid), 'changed');
  assert.equal(alive(s.pid), true, 'still running');
});

test('a stale pid file is removed; one whose pid a process has is left; one that now names another pid is left', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-pidfile-'));
  fs.mkdirSync(path.join(dir, 'var'));
  const file = path.join(dir, 'var/server.pid');

  const gone = await startFakeServer({ installDir: dir });
  await gone.stop();
  fs.writeFileSync(file, `${gone.pid}\n`);
  assert.equal((await runCleanup({ kills: [], removePidFile: { installDir: dir, pid: gone.pid }, graceSeconds: 0 })).pidFile, 'removed');
  assert.equal(fs.existsSync(file), false);

  const { s } = await serverProcess(dir, { mainClass: 'org.example.NotUcd' });
  fs.writeFileSync(file, `${s.pid}\n`);
  assert.equal((await runCleanup({ kills: [], removePidFile: { installDir: dir, pid: s.pid }, graceSeconds: 0 })).pidFile, 'owned');
  assert.equal(fs.existsSync(file), true);

  fs.writeFileSync(file, '4242\n');
  const changed = await runCleanup({ kills: [], removePidFile: { installDir: dir, pid: gone.pid }, graceSeconds: 0 });
  assert.equal(changed.pidFile, 'changed');
  assert.equal(changed.pidFileNow, '4242');
  assert.equal(fs.existsSync(file), true);
});

test('the script refuses to signal pid 1 or a non-integer', () => {
  assert.throws(() => cleanupScript({ kills: [{ pid: 1, identity: 'x' }], graceSeconds: 1 }), /refusing to signal pid 1/);
  assert.throws(() => cleanupScript({ kills: [{ pid: 1.5, identity: 'x' }], graceSeconds: 1 }), /refusing/);
});

test('hidepid: a pid file naming a process the SSH user cannot see is NOT removed (needs root to set up; skipped otherwise)', async (t) => {
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/unshare') || !fs.existsSync('/usr/bin/setpriv')) {
    t.skip('needs root, unshare and setpriv to build a hidepid /proc');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-hidepid-'));
  fs.mkdirSync(path.join(dir, 'var'));
  fs.chmodSync(dir, 0o777);
  fs.chmodSync(path.join(dir, 'var'), 0o777);
  const script = path.join(dir, 'cleanup.sh');
  // The pid is only known inside the namespace; the plan names the one `sleep` gets there (the third process).
  const plan: CleanupPlanScript = { kills: [], removePidFile: { installDir: dir, pid: 3 }, graceSeconds: 0 };
  fs.writeFileSync(script, cleanupScript(plan), { mode: 0o644 });
  const run = await new LocalShell().exec(
    `unshare -m -p -f --propagation private sh -c 'mount -t proc -o hidepid=2 proc /proc; sleep 30 & echo $! > "$1/var/server.pid"; chmod 666 "$1/var/server.pid"; setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/sh -s < "$1/cleanup.sh"; kill $!' sh ${dir}`,
    { timeoutMs: 20_000 },
  );
  assert.equal(fs.readFileSync(path.join(dir, 'var/server.pid'), 'utf8').trim(), '3', 'sleep was the third process of the namespace');
  assert.equal(parseCleanup(run.stdout, plan).pidFile, 'owned', run.stdout + run.stderr);
  assert.equal(fs.existsSync(path.join(dir, 'var/server.pid')), true);
});

test('a very long JVM command line is shown with its start and its main class, not cut at the end', () => {
  const cp = Array.from({ length: 400 }, (_, i) => `/opt/ucd/server/lib/jar${i}.jar`).join(':');
  const args = ['/opt/java/bin/java', '-cp', cp, '-jar', '/opt/ucd/server/bin/launcher.jar', '/opt/ucd/server/bin/classpath.conf', 'com.urbancode.ds.UDeployServer'];
  const line = describeKill({ process: { pid: 4242, args, source: 'proc', identity: args.join('\u0001') }, ports: [8443] });
  assert.ok(line.length < 1700, `shortened to ${line.length}`);
  assert.ok(line.startsWith('kill pid 4242 (holds :8443): /opt/java/bin/java -cp /opt/ucd/server/lib/jar0.jar:'));
  assert.ok(line.endsWith('-jar /opt/ucd/server/bin/launcher.jar /opt/ucd/server/bin/classpath.conf com.urbancode.ds.UDeployServer'));
});
