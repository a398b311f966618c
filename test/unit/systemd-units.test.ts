// systemd nodes, pure parts: the probe's parser (systemctl show output as systemd 252 prints it),
// the units' part of the stopped-proof, the choice between systemctl and the service commands,
// the mask/unmask bookkeeping, and the cluster file's serviceManager.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { ClusterNode, ServiceManager } from '../../src/core/cluster/types';
import type { JournalEvent } from '../../src/core/journal/events';
import type { NodeProbe } from '../../src/core/probes/node';
import { parseSystemd, systemdFragment, unitRestartsByItself, unitRuns, type SystemdResult } from '../../src/core/probes/systemd';
import { factsFromProbe } from '../../src/core/status/fromProbe';
import { evaluateStopped } from '../../src/core/steps/verifyStopped';
import { controlCommand, serviceControl, systemctlFailure, unitActionCommand } from '../../src/core/steps/systemd';
import { maskedByRun, unitsToMask } from '../../src/core/steps/systemdMask';

const INSTALL = '/opt/ucd/server';

function block(props: Record<string, string>): string {
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n');
}

const EXEC = (cmd: string) => `{ path=${cmd.split(' ')[0]} ; argv[]=${cmd} ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }`;

const SHIPPED = block({ Id: 'devops-deploy-server.service', LoadState: 'loaded', ActiveState: 'active', SubState: 'running', UnitFileState: 'enabled', Restart: 'on-failure', MainPID: '412', NRestarts: '1', ExecStart: EXEC(`${INSTALL}/bin/server _systemd`), WorkingDirectory: '', FragmentPath: '/etc/systemd/system/devops-deploy-server.service' });
const SITE = block({ Id: 'ucd-site.service', LoadState: 'loaded', ActiveState: 'inactive', SubState: 'dead', UnitFileState: 'disabled', Restart: 'always', MainPID: '0', NRestarts: '0', ExecStart: EXEC('/usr/local/bin/start-ucd --fast'), WorkingDirectory: '/opt/ucd//server/bin/', FragmentPath: '/etc/systemd/system/ucd-site.service' });
const OTHER = block({ Id: 'cron.service', LoadState: 'loaded', ActiveState: 'active', SubState: 'running', UnitFileState: 'enabled', Restart: 'on-failure', MainPID: '99', NRestarts: '0', ExecStart: EXEC('/usr/sbin/cron -f'), WorkingDirectory: '', FragmentPath: '/lib/systemd/system/cron.service' });
// An install beside ours whose path starts with the same text: not ours.
const NEIGHBOUR = block({ Id: 'ucd2.service', LoadState: 'loaded', ActiveState: 'active', SubState: 'running', UnitFileState: 'enabled', Restart: 'on-failure', MainPID: '500', NRestarts: '0', ExecStart: EXEC('/opt/ucd/server2/bin/server _systemd'), WorkingDirectory: '', FragmentPath: '/etc/systemd/system/ucd2.service' });
const NOT_FOUND = block({ Id: 'ucdserver.service', LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead', UnitFileState: '', Restart: 'no', MainPID: '0', NRestarts: '0', ExecStart: '', WorkingDirectory: '', FragmentPath: '' });

function section(...blocks: string[]): { body: string; status: number } {
  return { body: `systemd running\n${blocks.join('\n\n')}`, status: 0 };
}

function ok(r: SystemdResult) {
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r.kind === 'ok' ? r.units : [];
}

test('parser: the units whose ExecStart or WorkingDirectory lies under the install, and the known names; no others', () => {
  const units = ok(parseSystemd(section(SHIPPED, OTHER, SITE, NEIGHBOUR, NOT_FOUND), [INSTALL]));
  assert.deepEqual(units.map((u) => [u.name, u.matchedBy]), [['devops-deploy-server.service', 'exec-start'], ['ucd-site.service', 'working-directory']]);
  const shipped = units[0]!;
  assert.equal(shipped.active, 'active');
  assert.equal(shipped.mainPid, 412);
  assert.equal(shipped.restarts, 1);
  assert.equal(shipped.execStart, `${INSTALL}/bin/server _systemd`);
  assert.equal(unitRuns(shipped), true);
  assert.equal(unitRestartsByItself(units[1]!), false, 'disabled: systemd does not start it by itself');
});

test('parser: the install as the node resolved it counts too; a masked known name is kept without ExecStart', () => {
  const masked = block({ Id: 'ucdserver.service', LoadState: 'masked', ActiveState: 'inactive', SubState: 'dead', UnitFileState: 'masked-runtime', Restart: '', MainPID: '0', ExecStart: '', WorkingDirectory: '' });
  const viaLink = block({ Id: 'x.service', LoadState: 'loaded', ActiveState: 'failed', SubState: 'failed', UnitFileState: 'enabled', Restart: 'on-failure', MainPID: '0', ExecStart: EXEC('/srv/ucd-real/bin/server _systemd'), WorkingDirectory: '' });
  const units = ok(parseSystemd(section(masked, viaLink), [INSTALL, '/srv/ucd-real']));
  assert.deepEqual(units.map((u) => [u.name, u.matchedBy, u.unitFile]), [['ucdserver.service', 'known-name', 'masked-runtime'], ['x.service', 'exec-start', 'enabled']]);
  // A site's unit this run masked is shown by the name the journal gives.
  const site = block({ Id: 'ucd-site.service', LoadState: 'masked', ActiveState: 'inactive', SubState: 'dead', UnitFileState: 'masked-runtime', Restart: '', MainPID: '0' });
  assert.deepEqual(ok(parseSystemd(section(site), [INSTALL], ['ucd-site.service'])).map((u) => u.matchedBy), ['named']);
  assert.deepEqual(ok(parseSystemd(section(site), [INSTALL])), [], 'without the journal\'s name it matches nothing');
});

test('parser: no systemd is "none" with the reason; garbage is an error, never an empty list', () => {
  assert.deepEqual(parseSystemd({ body: 'systemd none systemd is not the init of this node', status: 0 }, [INSTALL]), { kind: 'none', why: 'systemd is not the init of this node' });
  assert.equal(parseSystemd({ body: '', status: 0 }, [INSTALL]).kind, 'error');
  assert.equal(parseSystemd({ body: 'systemd running\nFailed to connect to bus: No such file or directory', status: 1 }, [INSTALL]).kind, 'error');
});

test('fragment: unit names from the journal are quoted, and a name that is no unit name never reaches the script', () => {
  const f = systemdFragment(["ucd-site.service", "x'; rm -rf / #.service"]);
  assert.match(f.body, /'devops-deploy-server\.service' 'ucdserver\.service' 'ucd-site\.service'$/);
  assert.doesNotMatch(f.body, /rm -rf/);
});

function probed(systemd: SystemdResult, over: Partial<Extract<NodeProbe, { kind: 'probed' }>> = {}): Extract<NodeProbe, { kind: 'probed' }> {
  return {
    kind: 'probed', node: 'ucd1', installDir: INSTALL, httpsPort: 8443, jmsPort: 7918,
    identity: { kind: 'error', message: 'not asked' },
    pidFile: { kind: 'absent' },
    ports: { kind: 'ok', tool: 'ss', ports: [8443, 7918], listeners: [] },
    processes: { kind: 'ok', source: 'proc', servers: [], otherInstalls: [], visibility: { kind: 'full' } },
    version: { kind: 'ok', install: { kind: 'found', version: '8.1.1.0' } },
    systemd,
    ...over,
  };
}

const inactiveEnabled = SHIPPED.replace('ActiveState=active', 'ActiveState=inactive').replace('SubState=running', 'SubState=dead').replace('MainPID=412', 'MainPID=0');

test('proof: nothing runs but the unit is active (its process restarting) → failed, naming the unit', () => {
  const activating = SHIPPED.replace('ActiveState=active', 'ActiveState=activating').replace('SubState=running', 'SubState=auto-restart');
  const e = evaluateStopped(probed(parseSystemd(section(activating), [INSTALL])));
  assert.equal(e.verdict, 'failed');
  assert.ok(e.evidence.some((l) => /devops-deploy-server\.service activating \(auto-restart\).*Restart=on-failure/.test(l)), e.evidence.join('\n'));
  assert.match(e.hint ?? '', /systemctl stop devops-deploy-server\.service/);
});

test('proof: an inactive unit enabled with Restart= passes, flagged; step 5 offers to mask it, and a masked one is not offered', () => {
  const p = probed(parseSystemd(section(inactiveEnabled), [INSTALL]));
  const e = evaluateStopped(p);
  assert.equal(e.verdict, 'passed', e.evidence.join('\n'));
  assert.ok(e.evidence.some((l) => /note: .*devops-deploy-server\.service inactive.*enabled, Restart=on-failure.*mask/.test(l)), e.evidence.join('\n'));
  assert.deepEqual(unitsToMask(p).map((u) => u.name), ['devops-deploy-server.service']);
  const masked = inactiveEnabled.replace('LoadState=loaded', 'LoadState=masked').replace('UnitFileState=enabled', 'UnitFileState=masked-runtime');
  assert.deepEqual(unitsToMask(probed(parseSystemd(section(masked), [INSTALL]))), []);
  assert.deepEqual(factsFromProbe(p).units, [{ name: 'devops-deploy-server.service', active: 'inactive', unitFile: 'enabled', restart: 'on-failure' }]);
});

test('proof: units that cannot be read fail the proof; no systemd changes nothing', () => {
  assert.equal(evaluateStopped(probed({ kind: 'error', message: 'systemctl show failed (exit 1)' })).verdict, 'failed');
  assert.equal(evaluateStopped(probed({ kind: 'none', why: 'no systemctl' })).verdict, 'passed');
});

function node(manager: ServiceManager, unit?: string): ClusterNode {
  return { name: 'ucd1', host: 'h', sshPort: 22, os: 'linux', installDir: INSTALL, httpsPort: 8443, jmsPort: 7918, startCommand: `${INSTALL}/bin/server start`, stopCommand: `${INSTALL}/bin/server stop`, service: { manager, ...(unit ? { unit } : {}) } };
}

test('control: auto stops and starts through systemctl where a unit manages the install, else the service command', () => {
  const withUnit = probed(parseSystemd(section(SHIPPED), [INSTALL]));
  const c = serviceControl(node('auto'), withUnit, 'stop');
  assert.deepEqual(c.kind === 'systemctl' ? c.unit : c, 'devops-deploy-server.service');
  if (c.kind === 'systemctl') assert.equal(controlCommand(c, 'stop'), "systemctl --no-ask-password stop -- 'devops-deploy-server.service'");
  assert.equal(serviceControl(node('auto'), probed({ kind: 'none', why: 'no systemctl' }), 'start').kind, 'script');
  assert.equal(serviceControl(node('scripts'), withUnit, 'stop').kind, 'script', 'scripts: whatever units there are');
  // Started behind systemd's back: systemctl stop would leave it running.
  const behind = probed(parseSystemd(section(inactiveEnabled), [INSTALL]), { processes: { kind: 'ok', source: 'proc', servers: [{ pid: 77, source: 'proc', args: ['java'], identity: '', installResolved: true, container: false }], otherInstalls: [], visibility: { kind: 'full' } } });
  const b = serviceControl(node('auto'), behind, 'stop');
  assert.equal(b.kind, 'script');
  assert.match(b.kind === 'script' ? b.why : '', /behind systemd's back/);
});

test('control: systemd without a unit, or two units with no systemdUnit, is refused with what to write', () => {
  const none = serviceControl(node('systemd'), probed({ kind: 'ok', units: [] }), 'stop');
  assert.equal(none.kind, 'refused');
  assert.match(none.kind === 'refused' ? none.hint : '', /systemdUnit/);
  const two = probed(parseSystemd(section(inactiveEnabled, SITE), [INSTALL]));
  const r = serviceControl(node('auto'), two, 'start');
  assert.equal(r.kind, 'refused');
  assert.match(r.kind === 'refused' ? r.why : '', /2 systemd units.*devops-deploy-server\.service, ucd-site\.service/);
  const named = serviceControl(node('auto', 'ucd-site.service'), two, 'start');
  assert.deepEqual(named.kind === 'systemctl' ? named.unit : named, 'ucd-site.service');
});

test('mask bookkeeping: what this run masked and has not unmasked, per node, from the journal', () => {
  const ev = (node: string, action: 'masked' | 'unmasked', unit: string): JournalEvent => ({ type: 'service-unit', ts: '2026-12-02T00:00:00Z', step: 'verifyStopped', node, action, unit, command: unitActionCommand(action === 'masked' ? 'mask' : 'unmask', unit) });
  const events = [ev('ucd1', 'masked', 'a.service'), ev('ucd2', 'masked', 'a.service'), ev('ucd1', 'masked', 'b.service'), ev('ucd1', 'unmasked', 'a.service')];
  assert.deepEqual(maskedByRun(events, 'ucd1'), ['b.service']);
  assert.deepEqual(maskedByRun(events, 'ucd2'), ['a.service']);
  const mask = unitActionCommand('mask', "it's.service");
  assert.match(mask, /^u='it'\\''s\.service'; d='\/run\/systemd\/system\/it'\\''s\.service\.d'; f='50-ucd-upgrade-masked\.conf'\nsystemctl --no-ask-password mask --runtime -- "\$u"/);
  assert.match(unitActionCommand('unmask', 'a.service'), /systemctl --no-ask-password unmask --runtime -- "\$u"[\s\S]*rm -f "\$d\/\$f"/);
});

test('systemctl refused for want of rights is its own message, naming the node and the command', () => {
  const f = systemctlFailure('ucd2', "systemctl mask --runtime -- 'a.service'", 1, 'Failed to mask unit: Access denied\n');
  assert.match(f.message, /^ucd2: systemctl mask --runtime -- 'a\.service' was refused \(exit 1\): the SSH user may not manage systemd units: Failed to mask unit: Access denied$/);
  assert.match(f.hint, /root|sudo/);
  assert.doesNotMatch(systemctlFailure('ucd2', 'systemctl start x', 1, 'Job failed').message, /refused/);
});

test('cluster file: serviceManager per node over the cluster default; systemdUnit checked; Windows refuses systemd', () => {
  const base = {
    name: 'c', currentVersion: '8.1.1.0', targetVersion: '8.2.0.0', firstNode: 'a', sharedAppdata: '/opt/ucd/appdata', loadBalancerUrl: 'https://lb',
    ucd: { url: 'https://lb', credential: 'x' }, database: { type: 'mysql', backup: { command: 'true', artifact: '/tmp/b.sql' } }, package: { remotePath: '/tmp/p' },
  };
  const r = loadCluster(JSON.stringify({ ...base, serviceManager: 'scripts', nodes: [{ name: 'a', host: 'a', installDir: INSTALL }, { name: 'b', host: 'b', installDir: INSTALL, serviceManager: 'systemd', systemdUnit: 'ucd.service' }] }));
  assert.ok(r.ok, JSON.stringify(r.problems));
  if (r.ok) assert.deepEqual(r.cluster.nodes.map((n) => n.service), [{ manager: 'scripts' }, { manager: 'systemd', unit: 'ucd.service' }]);
  const d = loadCluster(JSON.stringify({ ...base, nodes: [{ name: 'a', host: 'a', installDir: INSTALL }] }));
  if (d.ok) assert.deepEqual(d.cluster.nodes[0]!.service, { manager: 'auto' });
  const bad = loadCluster(JSON.stringify({ ...base, nodes: [{ name: 'a', host: 'a', installDir: INSTALL, serviceManager: 'init', systemdUnit: 'x; reboot' }] }));
  assert.equal(bad.ok, false);
  assert.ok(bad.problems.some((p) => p.path.includes('serviceManager')), JSON.stringify(bad.problems));
  assert.ok(bad.problems.some((p) => p.path.includes('systemdUnit')), JSON.stringify(bad.problems));
  const win = loadCluster(JSON.stringify({ ...base, nodes: [{ name: 'a', host: 'a', os: 'windows', installDir: 'C:\\ucd', startCommand: 's', stopCommand: 't', serviceManager: 'systemd' }] }));
  assert.equal(win.ok, false);
  assert.ok(win.problems.some((p) => /no systemd/.test(p.message)), JSON.stringify(win.problems));
});
