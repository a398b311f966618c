// The simulated servers' REST API on a real 2-node cluster behind a real nginx, with the real
// MariaDB: what the Dashboard's Current Activity lists, cancel, credentials. Processes are real
// process trees inside the nodes; a cancel must end them. Read both raw (HTTPS verified against
// each node's own certificate) and through the core's UcdRestClient, as the runbook reads it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { blockingProcesses, parseCurrentActivity } from '../../src/core/ucd/rest/activity';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { UcdRestError } from '../../src/core/ucd/rest/errors';
import { maintenanceState } from '../../src/core/ucd/rest/systemConfig';
import { MemoryPinStore } from '../../src/core/ucd/rest/tls';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { loadBalancerPrerequisites, untilBalancerAnswers } from './loadbalancer';
import { databasePrerequisites } from './mariadb';

const skip = clusterPrerequisites() ?? databasePrerequisites() ?? loadBalancerPrerequisites();
if (skip) test('simulated REST API', { skip }, () => undefined);

const ACTIVITY = '/rest/workflow/currentActivity?orderField=startDate&sortType=desc';
let c: TestCluster;

type Item = Record<string, unknown> & { processRequestType: string };
interface Res { status: number; body: string; }

/** One HTTPS request with certificate verification on: the node's own certificate, or the balancer's pinned. */
function request(target: 'lb' | string, method: 'GET' | 'PUT', pathname: string, auth?: string, body = ''): Promise<Res> {
  const lb = target === 'lb';
  const url = lb ? new URL(c.loadBalancer!.url) : new URL(`https://${c.nodes.find((n) => n.name === target)!.host}:8443`);
  const ca = fs.readFileSync(lb ? c.loadBalancer!.certFile : path.join(c.hostInstallDir(target), 'conf/sim/server.crt'));
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: url.hostname, port: Number(url.port), method, path: pathname, ca, timeout: 10000,
      // The balancer's test certificate names the gateway only as its CN (no SAN); it is still pinned as the only CA.
      ...(lb ? { checkServerIdentity: () => undefined } : {}),
      headers: { ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}), ...(method === 'PUT' ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) },
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const admin = (): string => `${c.ucdAdmin.user}:${c.ucdAdmin.password}`;

async function activity(target: 'lb' | string): Promise<Item[]> {
  const r = await request(target, 'GET', ACTIVITY, admin());
  assert.equal(r.status, 200, `${target}: ${r.body}`);
  return JSON.parse(r.body) as Item[];
}

function client(baseUrl: string): UcdRestClient {
  return new UcdRestClient({
    baseUrl,
    credentials: credentialsFor(baseUrl, { kind: 'basic', user: c.ucdAdmin.user, password: c.ucdAdmin.password }),
    pins: new MemoryPinStore(),
    prompt: async () => 'once',
    requestTimeoutMs: 10000,
  });
}

/** Whether a pid of the node is a live process (a zombie has ended: it only waits to be reaped). */
async function alive(node: string, pid: number): Promise<boolean> {
  const r = await c.inNode(node, `s=$(sed 's/.*) //' /proc/${pid}/stat 2>/dev/null | cut -d' ' -f1); [ -n "$s" ] && [ "$s" != Z ] && echo alive || echo gone`);
  return r.stdout.trim() === 'alive';
}

/** The runner exits right after it removed its record: give it a moment. */
async function ends(node: string, pid: number): Promise<boolean> {
  const deadline = Date.now() + 3000;
  while (await alive(node, pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

if (!skip) {
  before(async () => {
    c = await startCluster({ nodes: 2, database: true, loadBalancer: true });
    await Promise.all(c.nodes.map((n) => c.startServer(n.name)));
    await untilBalancerAnswers(c.loadBalancer!);
  });
  after(async () => {
    await c?.stop();
  });

  test('every running server holds a real database connection, and drops it when stopped', async () => {
    const clients = async (): Promise<string[]> =>
      (await c.database!.query("SELECT DISTINCT SUBSTRING_INDEX(host, ':', 1) FROM information_schema.processlist WHERE user = 'ucd'"))
        .trim().split('\n').filter((h) => h !== c.gateway && h !== '').sort();
    assert.deepEqual(await clients(), c.nodes.map((n) => n.host).sort());
    await c.stopServer('ucd2');
    const deadline = Date.now() + 5000;
    while ((await clients()).includes(c.nodes[1].host) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await clients(), [c.nodes[0].host]);
    await c.startServer('ucd2');
    assert.deepEqual(await clients(), c.nodes.map((n) => n.host).sort());
  });

  test('401 without credentials, with a wrong password, or a wrong token; the admin and the token are accepted', async () => {
    assert.equal((await request('ucd1', 'GET', ACTIVITY)).status, 401);
    assert.equal((await request('ucd1', 'GET', ACTIVITY, `${c.ucdAdmin.user}:${c.ucdAdmin.password}x`)).status, 401);
    assert.equal((await request('ucd2', 'GET', ACTIVITY, 'PasswordIsAuthToken:not-the-token')).status, 401);
    assert.equal((await request('ucd1', 'PUT', '/rest/workflow/anything/cancel')).status, 401);
    assert.equal((await request('lb', 'GET', ACTIVITY)).status, 401);
    assert.equal((await request('ucd2', 'GET', ACTIVITY, admin())).status, 200);
    assert.equal((await request('ucd1', 'GET', ACTIVITY, `PasswordIsAuthToken:${c.ucdAdmin.token}`)).status, 200);
    const bad = client(c.loadBalancer!.url);
    // The core client with a wrong password gets the product's 401 as an auth error.
    const wrong = new UcdRestClient({ baseUrl: c.loadBalancer!.url, credentials: credentialsFor(c.loadBalancer!.url, { kind: 'basic', user: 'admin', password: 'nope' }), pins: new MemoryPinStore(), prompt: async () => 'once' });
    await assert.rejects(wrong.currentActivity(), (e: unknown) => e instanceof UcdRestError && e.kind === 'auth');
    assert.deepEqual(await bad.currentActivity(), []);
  });

  test('currentActivity lists the started processes, newest first, with the fields the core reads; the same from every node and the balancer', async () => {
    const appId = await c.startProcess('ucd1', { type: 'application', name: 'Deploy', application: 'JPetStore', environment: 'PROD', components: ['Install web tier'], user: 'alice' });
    await new Promise((r) => setTimeout(r, 20));
    const genId = await c.startProcess('ucd2', { type: 'generic', name: 'Nightly cleanup', user: 'bob' });
    const items = await activity('ucd1');
    assert.deepEqual(items.map((i) => i.processRequestType), ['generic', 'component', 'application']);
    const [gen, comp, app] = items;
    assert.equal(app.traceId, appId);
    assert.deepEqual([app.state, app.userName, (app.application as Item).name, (app.applicationProcess as Item).name, (app.environment as Item).name], ['EXECUTING', 'alice', 'JPetStore', 'Deploy', 'PROD']);
    assert.equal(typeof app.startTime, 'number');
    assert.ok(Math.abs((app.startTime as number) - Date.now()) < 60000);
    assert.equal(comp.parentRequestId, app.id);
    assert.equal((comp.componentProcess as Item).name, 'Install web tier');
    assert.equal(gen.workflowTraceId, genId);
    assert.deepEqual([gen.userName, (gen.process as Item).name], ['bob', 'Nightly cleanup']);
    // The children of one request only.
    const children = JSON.parse((await request('ucd2', 'GET', `/rest/workflow/currentActivity?parentRequestId=${app.id as string}`, admin())).body) as Item[];
    assert.deepEqual(children.map((i) => i.traceId), [comp.traceId]);
    // The core's parser reads them as the Dashboard shows them.
    const parsed = parseCurrentActivity(JSON.stringify(items));
    assert.ok(parsed.ok);
    assert.deepEqual(blockingProcesses(parsed.items).map((p) => [p.kind, p.name, p.cancelId, p.by]), [
      ['generic', 'Nightly cleanup', genId, 'bob'],
      ['application', 'JPetStore / Deploy (PROD)', appId, 'alice'],
    ]);
    // One cluster, one list: the other node and the load balancer agree.
    assert.deepEqual(await activity('ucd2'), items);
    assert.deepEqual(await activity('lb'), items);
    const viaCore = await client(c.loadBalancer!.url).blocking();
    assert.deepEqual(viaCore.map((p) => p.cancelId), [genId, appId]);
  });

  test('cancel ends the real processes (an application with its component child), from another node and through the balancer; 404 for unknown ids', async () => {
    const before = c.processes();
    const appRec = before.find((r) => r.items.some((i) => i.processRequestType === 'application'))!;
    const genRec = before.find((r) => r.items.some((i) => i.processRequestType === 'generic'))!;
    assert.equal(appRec.node, 'ucd1');
    const appId = appRec.items[0].traceId as string;
    const appPids = [appRec.runnerPid, ...Object.values(appRec.pids)];
    assert.equal(appPids.length, 3, 'a runner and one process per item');
    for (const pid of appPids) assert.ok(await alive('ucd1', pid), `pid ${pid} runs before the cancel`);

    // The application runs on ucd1; cancel it through the balancer with the core's client.
    await client(c.loadBalancer!.url).cancel(appId);
    for (const pid of Object.values(appRec.pids)) assert.equal(await alive('ucd1', pid), false, `pid ${pid} still runs after the cancel returned`);
    assert.ok(await ends('ucd1', appRec.runnerPid), 'the runner ends');
    const left = await activity('ucd2');
    assert.deepEqual(left.map((i) => i.processRequestType), ['generic'], 'the application and its component child are gone');

    // The generic process runs on ucd2; cancel it on ucd1's own REST API.
    const genId = genRec.items[0].workflowTraceId as string;
    const r = await request('ucd1', 'PUT', `/rest/workflow/${genId}/cancel`, admin());
    assert.equal(r.status, 200, r.body);
    for (const pid of Object.values(genRec.pids)) assert.equal(await alive('ucd2', pid), false, `pid ${pid} still runs after the cancel returned`);
    assert.ok(await ends('ucd2', genRec.runnerPid));
    assert.deepEqual(await activity('lb'), []);
    assert.equal(c.processes().length, 0);

    assert.equal((await request('ucd2', 'PUT', `/rest/workflow/${genId}/cancel`, admin())).status, 404, 'an ended process is unknown');
    assert.equal((await request('ucd1', 'PUT', '/rest/workflow/no-such-trace/cancel', admin())).status, 404);
    await assert.rejects(client(c.loadBalancer!.url).cancel('no-such-trace'), (e: unknown) => e instanceof UcdRestError && e.kind === 'not-found');
  });

  test('a process that ends by itself leaves the list; a component child can be cancelled alone', async () => {
    await c.startProcess('ucd2', { type: 'generic', name: 'Short job', seconds: 1 });
    const appId = await c.startProcess('ucd1', { type: 'application', name: 'Deploy', components: ['Install db', 'Install web'] });
    assert.equal((await activity('ucd1')).length, 4);
    const rec = c.processes().find((p) => p.items[0].traceId === appId)!;
    const child = rec.items[1];
    const childPid = rec.pids[child.traceId as string];
    assert.equal((await request('ucd2', 'PUT', `/rest/workflow/${child.traceId as string}/cancel`, admin())).status, 200);
    assert.equal(await alive('ucd1', childPid), false);
    assert.equal(await alive('ucd1', rec.runnerPid), true, 'the application itself still runs');
    const deadline = Date.now() + 5000;
    let now = await activity('ucd2');
    while (now.length > 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      now = await activity('ucd2');
    }
    assert.deepEqual(now.map((i) => i.processRequestType).sort(), ['application', 'component']);
    assert.ok(!now.some((i) => i.traceId === child.traceId));
    assert.equal((await request('ucd1', 'PUT', `/rest/workflow/${appId}/cancel`, admin())).status, 200);
    assert.deepEqual(await activity('ucd1'), []);
  });

  test('system settings: GET /cli/systemConfiguration has maintenanceModeEnabled (7.0.3 on), shared by every node; PUT takes the whole map (204), a partial map is refused (400) and changes nothing', async () => {
    const SYS = '/cli/systemConfiguration';
    assert.equal((await request('ucd1', 'GET', SYS)).status, 401);
    assert.equal((await request('ucd1', 'PUT', '/rest/system/configuration', undefined, '{}')).status, 401);
    const r1 = await request('ucd1', 'GET', SYS, admin());
    assert.equal(r1.status, 200);
    const map = JSON.parse(r1.body) as Record<string, unknown>;
    assert.equal(map.maintenanceModeEnabled, false);
    assert.ok(Object.keys(map).length > 3, 'a map of many settings, not only the flag');

    const partial = await request('lb', 'PUT', '/rest/system/configuration', admin(), JSON.stringify({ maintenanceModeEnabled: true }));
    assert.equal(partial.status, 400);
    assert.match(partial.body, /Missing system configuration properties: externalURL/);
    assert.equal(JSON.parse((await request('ucd2', 'GET', SYS, admin())).body).maintenanceModeEnabled, false);

    const whole = await request('ucd1', 'PUT', '/rest/system/configuration', admin(), JSON.stringify({ ...map, maintenanceModeEnabled: true }));
    assert.equal(whole.status, 204);
    assert.equal(whole.body, '');
    // Written on ucd1, read on ucd2 and through the balancer: one setting for the cluster.
    assert.equal(JSON.parse((await request('ucd2', 'GET', SYS, admin())).body).maintenanceModeEnabled, true);
    const through = client(c.loadBalancer!.url);
    const now = await through.systemConfiguration();
    assert.equal(maintenanceState(now), 'on');
    assert.deepEqual({ ...now, maintenanceModeEnabled: false }, map, 'every other setting kept');
    // The core client writes the whole map back.
    await through.setMaintenanceMode(now, false);
    assert.equal(maintenanceState(await client(`https://${c.nodes[0].host}:8443`).systemConfiguration()), 'off');
  });

  test('a server before 7.0.3 has no maintenanceModeEnabled in its settings', async () => {
    c.setInstalledVersion({ node: 'ucd2' }, '7.0.2.0');
    await c.stopServer('ucd2');
    await c.startServer('ucd2');
    try {
      const map = JSON.parse((await request('ucd2', 'GET', '/cli/systemConfiguration', admin())).body) as Record<string, unknown>;
      assert.ok(!('maintenanceModeEnabled' in map), JSON.stringify(map));
      assert.equal(maintenanceState(map), 'absent');
      assert.ok('maintenanceModeEnabled' in JSON.parse((await request('ucd1', 'GET', '/cli/systemConfiguration', admin())).body));
    } finally {
      await c.stopServer('ucd2');
      c.setInstalledVersion({ node: 'ucd2' }, c.version);
      await c.startServer('ucd2');
    }
  });
}
