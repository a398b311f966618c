import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchLoginPage, parseLoginVersion } from '../../src/core/ucd/loginPage';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';

test('the login page version is read from the productVersion element', () => {
  assert.equal(parseLoginVersion('<div><span class="productVersion">v. 7.1.2.0</span></div>'), '7.1.2.0');
  assert.equal(parseLoginVersion(`<span id="v" class='x productVersion'>v.7.0.5.2.1050384</span>`), '7.0.5.2.1050384');
  assert.equal(parseLoginVersion('<span class="productName">v. 7.1.2.0</span>'), undefined);
});

test('the login page is fetched through a pinned certificate, asked once, and its version read', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-login-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k`, '-out', `${dir}/c`, '-days', '1', '-subj', '/CN=node1'], { stdio: 'ignore' });
  const server = https.createServer({ key: fs.readFileSync(`${dir}/k`), cert: fs.readFileSync(`${dir}/c`) }, (req, res) => {
    assert.equal(req.headers.authorization, undefined, 'no credential is ever sent for the login page');
    res.end('<span class="productVersion">v. 7.1.2.0</span>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const asked: UnknownCertificate[] = [];
  const trust = { pins: new MemoryPinStore(), sessionPins: new Map<string, string>(), prompt: async (c: UnknownCertificate) => (asked.push(c), 'always' as const) };
  try {
    const a = await fetchLoginPage(`https://127.0.0.1:${port}/`, trust);
    const b = await fetchLoginPage(`https://127.0.0.1:${port}/`, trust);
    assert.deepEqual(a, { ok: true, status: 200, version: '7.1.2.0' });
    assert.deepEqual(b, a);
    assert.equal(asked.length, 1, 'asked once, then pinned');
    const fp = execFileSync('openssl', ['x509', '-in', `${dir}/c`, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().replace(/^.*=/, '');
    assert.equal(asked[0].fingerprint256, fp);
    const down = await fetchLoginPage('https://127.0.0.1:1/', trust, { timeoutMs: 2000 });
    assert.equal(down.ok, false);
  } finally {
    server.close();
  }
});
