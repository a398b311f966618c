// Issue 13: a host key or certificate a person accepts reaches the run's journal with the
// fingerprint they were shown; a declined one records nothing. Real keys (ssh-keygen), a real
// self-signed HTTPS server, the real REST client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostKeyPolicy, type AcceptedHostKey } from '../../src/core/remote/hostKeys';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore, type UnknownCertificate } from '../../src/core/ucd/rest/tls';

let dir = '';
let server: https.Server;
let port = 0;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-decisions-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k`, '-out', `${dir}/c`, '-days', '1', '-subj', '/CN=ucd-self-signed'], { stdio: 'ignore' });
  server = https.createServer({ key: fs.readFileSync(`${dir}/k`), cert: fs.readFileSync(`${dir}/c`) }, (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end('[]');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an accepted host key is reported with node, endpoint, type and fingerprint; a declined one is not', async () => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/hk`], { stdio: 'ignore' });
  const blob = Buffer.from(fs.readFileSync(`${dir}/hk.pub`, 'utf8').trim().split(/\s+/)[1]!, 'base64');
  const fp = execFileSync('ssh-keygen', ['-lf', `${dir}/hk.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!;
  const accepted: AcceptedHostKey[] = [];
  const answers = ['always', 'cancel'] as const;
  let asked = 0;
  const p = new HostKeyPolicy({
    knownHostsFiles: [path.join(dir, 'none')],
    globalKnownHostsFiles: [],
    storeFile: path.join(dir, 'store', 'known_hosts'),
    prompt: async () => answers[asked++]!,
    onAccepted: (a) => accepted.push(a),
  });
  assert.equal(await p.verify('ucd2', '10.0.0.2', 22, blob), 'accepted-stored');
  assert.deepEqual(accepted, [{ node: 'ucd2', host: '10.0.0.2', port: 22, keyType: 'ssh-ed25519', fingerprintSha256: fp, remembered: true }]);
  await assert.rejects(p.verify('ucd3', '10.0.0.3', 2222, blob));
  assert.equal(accepted.length, 1, 'a declined key is no decision to record as accepted');
});

test('a certificate accepted on the REST client\'s connection is reported with the fingerprint shown', async () => {
  const shown: UnknownCertificate[] = [];
  const accepted: { cert: UnknownCertificate; remembered: boolean }[] = [];
  const url = `https://127.0.0.1:${port}`;
  const c = new UcdRestClient({
    baseUrl: url, credentials: credentialsFor(url, { kind: 'basic', user: 'u', password: 'p' }), pins: new MemoryPinStore(),
    prompt: async (cert) => (shown.push(cert), 'once'), onAccepted: (cert, remembered) => accepted.push({ cert, remembered }), requestTimeoutMs: 5_000,
  });
  assert.deepEqual(await c.blocking(), []);
  assert.equal(shown.length, 1);
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0]!.cert.fingerprint256, shown[0]!.fingerprint256);
  assert.match(accepted[0]!.cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(accepted[0]!.remembered, false);
  assert.match(accepted[0]!.cert.subject, /CN=ucd-self-signed/);
});
