// VS Code's extension host replaces https.request with a version that adds its proxy agent, and
// that agent ignores createConnection: the request then goes out on a second connection that
// verifies against the CAs, so a pinned self-signed UCD server failed ("self-signed certificate")
// in the editor while every test outside it passed. This replays that patch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchLoginPage } from '../../src/core/ucd/loginPage';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';

type RequestFn = typeof https.request;
// The module object itself (an `import * as` namespace is a read-only copy): what every caller's
// https.request reads at call time, as the editor's patch replaces it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const httpsModule = require('node:https') as { request: RequestFn };
const original: RequestFn = httpsModule.request;
let server: https.Server;
let port = 0;
let dir = '';

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-patched-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k`, '-out', `${dir}/c`, '-days', '1', '-subj', '/CN=ucd-self-signed'], { stdio: 'ignore' });
  server = https.createServer({ key: fs.readFileSync(`${dir}/k`), cert: fs.readFileSync(`${dir}/c`) }, (req, res) => {
    if (req.url?.startsWith('/rest/workflow/currentActivity')) {
      res.setHeader('Content-Type', 'application/json');
      res.end('[]');
    } else res.end('<span class="productVersion">v. 7.1.0.0</span>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  // The editor's patch, in essence: no agent given → its own agent, which verifies against the CAs.
  const patched = ((options: https.RequestOptions, cb?: () => void) => original({ ...options, agent: options.agent ?? new https.Agent() }, cb)) as unknown as RequestFn;
  httpsModule.request = patched;
});

after(() => {
  httpsModule.request = original;
  server.closeAllConnections();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function trust(asked: UnknownCertificate[]) {
  return { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (c: UnknownCertificate) => (asked.push(c), 'always' as const) };
}

test('the patch is in place: a plain https.request to the self-signed server fails verification', async () => {
  await assert.rejects(new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/' }, resolve);
    req.on('error', reject);
    req.end();
  }), /self[- ]signed/i);
});

test('the login page is read over the accepted connection, whatever https.request does', async () => {
  const asked: UnknownCertificate[] = [];
  const page = await fetchLoginPage(`https://127.0.0.1:${port}/`, trust(asked));
  assert.deepEqual(page, { ok: true, status: 200, version: '7.1.0.0' });
  assert.equal(asked.length, 1);
});

test('a REST call goes over the accepted connection, whatever https.request does', async () => {
  const asked: UnknownCertificate[] = [];
  const t = trust(asked);
  const c = new UcdRestClient({ baseUrl: `https://127.0.0.1:${port}`, credentials: credentialsFor(`https://127.0.0.1:${port}`, { kind: 'basic', user: 'u', password: 'p' }), pins: t.pins, prompt: t.prompt, requestTimeoutMs: 5_000 });
  assert.deepEqual(await c.currentActivity(), []);
  assert.equal(asked.length, 1);
});
