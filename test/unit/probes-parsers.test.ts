// The probes' pure parsers on REAL output captured on Debian 12 (see test/fixtures/probes/capture.sh).
// Expected pids are cross-checked between captures taken at the same moment (ps vs ss/netstat),
// so a re-capture keeps these tests meaningful without editing numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandText, isServerOf, parseProcessLine } from '../../src/core/probes/cmdline';
import { parseNodeProbe, type BuiltProbe } from '../../src/core/probes/node';
import { parseNetstat, parseSs } from '../../src/core/probes/ports';
import { classifyProcesses, parsePsList } from '../../src/core/probes/processes';
import { composeScript, splitSections } from '../../src/core/probes/sections';
import { parseInstalledVersion } from '../../src/core/probes/version';

const FIX = path.resolve(__dirname, '../../../test/fixtures/probes');
const read = (f: string) => fs.readFileSync(path.join(FIX, f), 'utf8');

/** pid of the stand-in that listened on `port`, from the ps capture (independent of ss/netstat). */
/** The capture holds the stand-ins plus whatever else listened on this machine at that moment. */
function assertListenerSet(ports: number[], file: string): void {
  const listenLines = read(file).split('\n').filter((l) => /\bLISTEN\b/.test(l)).length;
  assert.equal(ports.length, listenLines, 'one listener per LISTEN line');
  for (const p of [7918, 8443, 9443]) assert.ok(ports.includes(p), `listener on ${p} found`);
}

function psPidListening(port: number): number {
  const line = read('ps-eo-pid-args.txt').split('\n').find((l) => l.includes(`listen(${port},`));
  assert.ok(line, `ps capture has the listener on ${port}`);
  return Number(line.trim().split(' ')[0]);
}

test('ss -H -ltnp: every listener with its port, address and owning pid', () => {
  const ls = parseSs(read('ss-H-ltnp.txt'));
  assertListenerSet(ls.map((l) => l.port), 'ss-H-ltnp.txt');
  const https = ls.find((l) => l.port === 8443)!;
  assert.equal(https.address, '0.0.0.0');
  assert.deepEqual(https.owners, [{ pid: psPidListening(8443), name: 'node' }]);
  const jms = ls.find((l) => l.port === 7918)!;
  assert.equal(jms.address, '*', 'IPv6/any listener as ss prints it');
  assert.equal(jms.owners[0]?.pid, psPidListening(7918));
  assert.deepEqual(ls.find((l) => l.port === 2024)?.owners, [], 'a socket of another pid namespace has no process');
});

test('ss without -H (older iproute2): the header line is skipped, same listeners', () => {
  const withHeader = parseSs(read('ss-ltnp-with-header.txt'));
  assert.deepEqual(withHeader, parseSs(read('ss-H-ltnp.txt')));
});

test('netstat -ltnp: tcp and tcp6 listeners, pid/program, "-" as unknown', () => {
  const ls = parseNetstat(read('netstat-ltnp.txt'));
  assertListenerSet(ls.map((l) => l.port), 'netstat-ltnp.txt');
  assert.deepEqual(ls.find((l) => l.port === 7918), { address: '::', port: 7918, owners: [{ pid: psPidListening(7918), name: 'java' }] });
  assert.deepEqual(ls.find((l) => l.port === 2024)?.owners, []);
});

test('as a non-root user neither tool shows processes: the listeners are still found, with no owner', () => {
  for (const [file, ls] of [['ss-H-ltnp-nonroot.txt', parseSs(read('ss-H-ltnp-nonroot.txt'))], ['netstat-ltnp-nonroot.txt', parseNetstat(read('netstat-ltnp-nonroot.txt'))]] as const) {
    assertListenerSet(ls.map((l) => l.port), file);
    assert.ok(ls.every((l) => l.owners.length === 0));
  }
});

test('ps -eo pid=,args=: only the UDeployServer processes of THIS install match; another install and the decoys do not', () => {
  const all = parsePsList(read('ps-eo-pid-args.txt'));
  assert.ok(all.length > 40, 'kernel threads and stand-ins parsed');
  const mine = classifyProcesses(all, '/opt/ucd/server');
  assert.deepEqual(mine.servers.map((p) => p.pid).sort(), [psPidListening(8443), psPidListening(7918)].sort());
  assert.deepEqual(mine.otherInstalls.map((p) => p.pid), [psPidListening(9443)]);
  assert.ok(all.some((p) => p.args[0] === 'tail' && p.args.includes('/opt/ucd/server/var/log/deployserver.out')), 'decoy with the install path is in the capture');
  assert.ok(all.some((p) => p.args[0] === 'grep'), 'decoy with the class name is in the capture');
  // A trailing slash in the cluster file names the same install.
  assert.deepEqual(classifyProcesses(all, '/opt/ucd/server/').servers.length, 2);
  // The other install's own view: exactly its one process.
  assert.deepEqual(classifyProcesses(all, '/opt/ucd/server2').servers.map((p) => p.pid), [psPidListening(9443)]);
  // A parent folder is not an install of these servers.
  assert.equal(classifyProcesses(all, '/opt/ucd').servers.length, 0);
});

test('/proc command lines: exact arguments (spaces, quotes, newlines) and the nested-install trap', () => {
  const p = parseProcessLine("77 proc /usr/bin/java\u0001-Dx=a\u0002b\u0001-jar\u0001/opt/it's here/bin/launcher.jar\u0001/opt/it's here/bin/classpath.conf\u0001com.urbancode.ds.UDeployServer\u0001");
  assert.ok(p);
  assert.deepEqual(p.args, ['/usr/bin/java', '-Dx=a\nb', '-jar', "/opt/it's here/bin/launcher.jar", "/opt/it's here/bin/classpath.conf", 'com.urbancode.ds.UDeployServer']);
  assert.equal(isServerOf(p, "/opt/it's here"), true);
  assert.equal(isServerOf(p, '/opt/it'), false);
  assert.equal(isServerOf(p, '/opt'), false, 'an install nested below another is not the outer one');
  assert.equal(commandText(p), `/usr/bin/java "-Dx=a\\nb" -jar "/opt/it's here/bin/launcher.jar" "/opt/it's here/bin/classpath.conf" com.urbancode.ds.UDeployServer`);
  const notJava = parseProcessLine('78 proc grep\u0001com.urbancode.ds.UDeployServer\u0001/opt/x/var/log/a\u0001');
  assert.equal(isServerOf(notJava!, '/opt/x'), false, 'the class name as a grep argument is not a server');
});

test('installed.version: key=value and key: value, comments ignored, absent → undefined', () => {
  assert.equal(parseInstalledVersion('#Mon Nov 24\ninstalled.version=7.0.5.0\n'), '7.0.5.0');
  assert.equal(parseInstalledVersion('installed.version : 7.1.2.0.1050384'), '7.1.2.0.1050384');
  assert.equal(parseInstalledVersion('# installed.version=1.0.0.0\nother=1'), undefined);
});

test('the composed probe captured on this machine parses into every fact, each from its own section', () => {
  // Captured before the probe reported who it runs as: root, /proc without hidepid.
  const text = read('composed-probe.txt').replace('source proc\n', 'source proc\nuid 0\nprocopts rw,relatime\npid1 visible\n');
  const built: BuiltProbe = { ...composeScript([], 'c0ffee000001'), names: ['pidfile', 'ports', 'processes', 'version'], command: '/bin/sh -s', appdata: true };
  const node = { name: 'ucd1', installDir: '/tmp/ucd-probe-fixture/server', httpsPort: 8443, jmsPort: 7918 };
  const r = parseNodeProbe(node, built, { code: 0, stdout: text, stderr: '', durationMs: 80 });
  assert.equal(r.kind, 'probed');
  if (r.kind !== 'probed') return;
  const serverPid = Number(/pidfile present (\d+)/.exec(text)?.[1]);
  assert.equal(r.pidFile.kind, 'live');
  if (r.pidFile.kind === 'live') {
    assert.equal(r.pidFile.pid, serverPid);
    assert.ok(r.pidFile.process && isServerOf(r.pidFile.process, node.installDir));
  }
  assert.equal(r.ports.kind, 'ok');
  if (r.ports.kind === 'ok') {
    assert.equal(r.ports.tool, 'ss');
    assert.deepEqual(r.ports.listeners.map((l) => l.port).sort((a, b) => a - b), [7918, 8443], 'only the node\'s own ports');
    const https = r.ports.listeners.find((l) => l.port === 8443)!;
    assert.equal(https.owners[0]?.pid, serverPid);
    assert.equal(https.owners[0]?.process?.args.at(-1), 'com.urbancode.ds.UDeployServer');
    const jms = r.ports.listeners.find((l) => l.port === 7918)!;
    assert.equal(jms.owners[0]?.process?.args[0], 'node', 'the foreign holder\'s full command line was read in the same round trip');
  }
  assert.equal(r.processes.kind, 'ok');
  if (r.processes.kind === 'ok') {
    assert.deepEqual(r.processes.servers.map((p) => p.pid), [serverPid]);
    assert.equal(r.processes.otherInstalls.length, 1);
    assert.ok(r.processes.otherInstalls[0]!.args.includes('/tmp/ucd-probe-fixture/server2/bin/launcher.jar'));
  }
  assert.deepEqual(r.version, { kind: 'ok', install: { kind: 'found', version: '7.0.5.0' }, appdata: { kind: 'found', version: '7.0.5.0' } });
});

test('sections: output cut short is an error naming what is missing, never a pass', () => {
  const text = read('composed-probe.txt');
  const cut = text.slice(0, text.indexOf('begin processes'));
  const s = splitSections(cut, 'c0ffee000001', ['pidfile', 'ports', 'processes', 'version']);
  assert.equal(s.ok, false);
  assert.match(s.ok ? '' : s.reason, /ended inside|no "processes", "version" section/);
  const noDone = text.replace('@@ucd-probe:c0ffee000001 done', '');
  const s2 = splitSections(noDone, 'c0ffee000001', ['pidfile', 'ports', 'processes', 'version']);
  assert.equal(s2.ok, false);
  // Markers with another nonce are plain text inside a section (a forged marker cannot end it).
  const s3 = splitSections(text, 'c0ffee000002', ['pidfile']);
  assert.equal(s3.ok, false);
});

test('hidepid (captured as user nobody): the pid file\'s process exists but is hidden — live, not stale; the process list is limited', async () => {
  const { evaluateStopped, planCleanup } = await import('../../src/core/steps/verifyStopped');
  const text = read('composed-probe-hidepid.txt');
  const built: BuiltProbe = { ...composeScript([], 'c0ffee000002'), names: ['identity', 'pidfile', 'ports', 'processes', 'version'], command: '/bin/sh -s', appdata: false };
  const r = parseNodeProbe({ name: 'ucd1', installDir: '/tmp/ucd-probe-hidepid/server', httpsPort: 8443, jmsPort: 7918 }, built, { code: 0, stdout: text, stderr: '', durationMs: 1 });
  assert.equal(r.kind, 'probed');
  if (r.kind !== 'probed') return;
  const pid = Number(/pidfile present (\d+)/.exec(text)?.[1]);
  assert.deepEqual(r.pidFile, { kind: 'live', pid, process: undefined });
  assert.deepEqual(r.processes.kind === 'ok' && r.processes.visibility, { kind: 'limited', why: '/proc is mounted with hidepid=invisible and the SSH user (uid 65534) is not root', hidepid: 'invisible', uid: 65534 });
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.includes(`var/server.pid names pid ${pid}, which is running (its command line is hidden from the SSH user)`));
  assert.ok(e.evidence.some((l) => l.startsWith('process list limited: /proc is mounted with hidepid=invisible')));
  // Run must neither kill it (unknown command line) nor remove its pid file (a process owns the pid).
  const plan = planCleanup(r);
  assert.deepEqual([plan.own.length, plan.foreign.length, plan.pidFilePid], [0, 0, undefined]);
  assert.ok(plan.blockers.some((b) => b.includes('hidden from the SSH user')));
});

test('hidepid=ptraceable (systemd ProtectProc=, captured as user nobody): a root-owned server is invisible, and the proof fails with what to do', async () => {
  const { evaluateStopped } = await import('../../src/core/steps/verifyStopped');
  // The capture machine's own listeners on 8443/7918 (other software) are not part of this case.
  const text = read('composed-probe-ptraceable.txt').replace(/^\| .*:(8443|7918) .*\n/gm, '');
  assert.match(text, /^procopts .*hidepid=ptraceable/m, 'the capture really ran under hidepid=ptraceable');
  const built: BuiltProbe = { ...composeScript([], 'c0ffee000002'), names: ['identity', 'pidfile', 'ports', 'processes', 'version'], command: '/bin/sh -s', appdata: false };
  const r = parseNodeProbe({ name: 'ucd1', installDir: '/tmp/ucd-probe-hidepid/server', httpsPort: 8443, jmsPort: 7918 }, built, { code: 0, stdout: text, stderr: '', durationMs: 1 });
  assert.equal(r.kind, 'probed');
  if (r.kind !== 'probed' || r.processes.kind !== 'ok') return;
  // Nothing of the running server shows: no pid file, no port, an empty process list.
  assert.deepEqual([r.pidFile.kind, r.processes.servers.length, r.processes.otherInstalls.length], ['absent', 0, 0]);
  assert.equal(r.processes.visibility.kind, 'limited');
  const e = evaluateStopped(r);
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.includes('process list limited: /proc is mounted with hidepid=ptraceable and the SSH user (uid 65534) is not root, so a server run by another user would be invisible: this is no proof'), e.evidence.join('\n'));
  assert.match(e.hint ?? '', /^Check ucd1 with an SSH user that is root \(or can sudo to it\), or remount \/proc without hidepid/);
});

test('visibility: every hidepid but 0/off limits a non-root user; root sees all; an unreadable PID 1 limits whatever the options say', async () => {
  const { visibilityOf } = await import('../../src/core/probes/processes');
  const v = (uid: number, opts: string, pid1 = 'visible') => visibilityOf(['source proc', `uid ${uid}`, `procopts ${opts}`, `pid1 ${pid1}`]).kind;
  for (const hp of ['1', '2', '4', 'noaccess', 'invisible', 'ptraceable']) {
    assert.equal(v(1000, `rw,nosuid,nodev,noexec,relatime,hidepid=${hp}`), 'limited', `hidepid=${hp}`);
    assert.equal(v(0, `rw,relatime,hidepid=${hp}`), 'full', `root with hidepid=${hp}`);
  }
  for (const hp of ['0', 'off']) assert.equal(v(1000, `rw,relatime,hidepid=${hp}`), 'full');
  assert.equal(v(1000, 'rw,relatime'), 'full');
  assert.equal(v(1000, 'rw,relatime', 'hidden'), 'limited');
  assert.equal(visibilityOf(['source proc', 'procopts rw']).kind, 'limited', 'not knowing the user is no proof either');
});
