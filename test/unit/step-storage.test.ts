import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import { RunSession } from '../../src/core/runbook/session';
import { LocalTransport } from '../../src/core/remote/local';
import { storageHandlers } from '../../src/core/steps/storage';
import { actionContext } from '../../src/core/runbook/runner';

function setup(version: string) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-storage-'));
  const inst = (n: string) => path.join(root, n, 'server');
  const appdata = path.join(root, 'appdata');
  fs.mkdirSync(appdata);
  for (const n of ['ucd1', 'ucd2']) fs.mkdirSync(inst(n), { recursive: true });
  const text = JSON.stringify({
    name: 'st', currentVersion: version, targetVersion: '7.1.2.0', firstNode: 'ucd1', sharedAppdata: appdata,
    loadBalancerUrl: 'https://lb.test', ucd: { url: 'https://lb.test', credential: 'c' },
    database: { type: 'mariadb', backup: { command: 'true', artifact: '/tmp/x.sql' } }, package: { remotePath: '/tmp/p' },
    nodes: [{ name: 'ucd1', host: '10.0.0.1', installDir: inst('ucd1') }, { name: 'ucd2', host: '10.0.0.2', installDir: inst('ucd2') }],
  });
  const r = loadCluster(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const session = RunSession.open(r.cluster, root);
  const asked: string[] = [];
  const h = storageHandlers({ transportFor: async () => new LocalTransport(), confirm: async (q, d) => (asked.push(`${q}\n${d}`), true) });
  const ctx = actionContext({ cluster: r.cluster, session, target: { step: 'storage' as const }, log: { info() {}, warn() {}, error() {} }, signal: new AbortController().signal });
  return { inst, appdata, session, asked, h, ctx };
}

test('before 6.1.1.5, Check lists what must move; Run moves it after confirming the list', async () => {
  const s = setup('6.1.0.0');
  fs.mkdirSync(path.join(s.inst('ucd1'), 'var', 'plugins', 'p1'), { recursive: true });
  fs.mkdirSync(path.join(s.inst('ucd1'), 'conf'), { recursive: true });
  fs.writeFileSync(path.join(s.inst('ucd1'), 'conf', 'server.keystore'), 'keystore');
  await s.h.check!(s.ctx);
  const checked = s.session.state().get('storage');
  assert.equal(checked?.status, 'failed');
  assert.ok(checked && 'evidence' in checked && checked.evidence.some((e) => e.includes(`${s.inst('ucd1')}/var/plugins → ${s.appdata}/var/plugins`)), JSON.stringify(checked));
  await s.h.run!(s.ctx);
  assert.match(s.asked[0], /Move 2 item\(s\)/);
  assert.ok(fs.existsSync(path.join(s.appdata, 'var', 'plugins', 'p1')), 'the plugins folder moved into appdata');
  assert.equal(fs.readFileSync(path.join(s.appdata, 'conf', 'server.keystore'), 'utf8'), 'keystore');
  assert.ok(!fs.existsSync(path.join(s.inst('ucd1'), 'var', 'plugins')));
  assert.equal(s.session.state().get('storage')?.status, 'passed');
});

test('a path in both the install and appdata is left for a person and keeps the step failed', async () => {
  const s = setup('6.1.0.0');
  fs.mkdirSync(path.join(s.inst('ucd2'), 'logs'), { recursive: true });
  fs.writeFileSync(path.join(s.inst('ucd2'), 'logs', 'a.log'), 'node 2');
  fs.mkdirSync(path.join(s.appdata, 'logs'));
  fs.writeFileSync(path.join(s.appdata, 'logs', 'a.log'), 'shared');
  await s.h.run!(s.ctx);
  assert.equal(s.asked.length, 0, 'nothing to move, so nothing to confirm');
  assert.equal(fs.readFileSync(path.join(s.appdata, 'logs', 'a.log'), 'utf8'), 'shared', 'never overwritten');
  const o = s.session.state().get('storage');
  assert.equal(o?.status, 'failed');
});

test('from 6.1.1.5 on the step is not needed', async () => {
  const s = setup('7.0.5.0');
  await s.h.check!(s.ctx);
  const o = s.session.state().get('storage');
  assert.ok(o && 'evidence' in o && /not needed/.test(o.evidence[0]));
});

test('the nodes\' own installed.version decides: a node older than the cluster file says fails the step', async () => {
  const s = setup('7.0.5.0');
  fs.mkdirSync(path.join(s.inst('ucd2'), 'conf'), { recursive: true });
  fs.writeFileSync(path.join(s.inst('ucd2'), 'conf', 'installed.version'), 'installed.version=6.1.0.0\n');
  await s.h.check!(s.ctx);
  const o = s.session.state().get('storage');
  assert.equal(o?.status, 'failed');
  assert.ok(o && 'evidence' in o && o.evidence.some((e) => /ucd2 run a version before 6\.1\.1\.5/.test(e)), JSON.stringify(o));
});
