// The REST client against a real local HTTPS server with openssl-made self-signed certificates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { credentialOrigin, credentialsFor, UcdRestClient, type BoundCredentials, type CredentialOriginAnswer, type CredentialOriginQuestion, type CredentialSource, type UcdCredentials } from '../../src/core/ucd/rest/client';
import { UcdRestError } from '../../src/core/ucd/rest/errors';
import { MemoryPinStore, type CertDecision, type UnknownCertificate } from '../../src/core/ucd/rest/tls';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/rest/current-activity.json');
const PASSWORD = 'pa55-Wörd:with$pecials';
const TOKEN = 'tok-7f3a9c0e51d2';

interface Cert { key: string; cert: string; fingerprint: string }

function makeCert(dir: string, name: string, ...extra: string[]): Cert {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=ucd-${name}.test`, ...extra], { stdio: 'pipe' });
  const fp = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  // e.g. "sha256 Fingerprint=AB:CD:..." (OpenSSL 3) — keep openssl's own hex, only drop the label.
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(crt, 'utf8'), fingerprint: fp.trim().replace(/^.*=/, '') };
}

interface Seen { method: string; url: string; authorization?: string }

class FakeUcd {
  readonly seen: Seen[] = [];
  items: unknown[] = [];
  cancelled: string[] = [];
  server!: https.Server;
  constructor(private cert: Cert) {}

  async start(): Promise<number> {
    this.server = https.createServer({ key: this.cert.key, cert: this.cert.cert }, (req, res) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const auth = req.headers.authorization ?? '';
      const ok = [`admin:${PASSWORD}`, `PasswordIsAuthToken:${TOKEN}`].some((c) => auth === `Basic ${Buffer.from(c).toString('base64')}`);
      if (!ok) {
        // A hostile or careless server echoing what it got: the client must not repeat it.
        res.writeHead(401, { 'content-type': 'text/plain' }).end(`bad credentials: ${auth} ${Buffer.from(auth.replace('Basic ', ''), 'base64').toString()}`);
        return;
      }
      if (req.method === 'GET' && req.url === '/rest/workflow/currentActivity?orderField=startDate&sortType=desc') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.items));
        return;
      }
      const m = /^\/rest\/workflow\/([^/]+)\/cancel$/.exec(req.url ?? '');
      if (req.method === 'PUT' && m) {
        const id = decodeURIComponent(m[1]);
        const hit = this.items.find((i) => { const o = i as Record<string, unknown>; return o.traceId === id || o.workflowTraceId === id; }) as Record<string, unknown> | undefined;
        if (!hit) {
          res.writeHead(404).end('no such trace');
          return;
        }
        // Like the product: cancelling a request ends its component children too.
        this.items = this.items.filter((i) => i !== hit && (i as Record<string, unknown>).parentRequestId !== hit.id);
        this.cancelled.push(id);
        res.writeHead(200).end();
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  swapCert(c: Cert): void {
    this.server.setSecureContext({ key: c.key, cert: c.cert });
  }

  stop(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

let dir: string;
let certA: Cert;
let certB: Cert;
let certIp: Cert;
let ucd: FakeUcd;
let port: number;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-rest-'));
  certA = makeCert(dir, 'a');
  certB = makeCert(dir, 'b');
  certIp = makeCert(dir, 'ip', '-addext', 'subjectAltName=IP:127.0.0.1');
  ucd = new FakeUcd(certA);
  port = await ucd.start();
});
after(async () => {
  await ucd.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function reset(): void {
  ucd.seen.length = 0;
  ucd.cancelled = [];
  ucd.items = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
  ucd.swapCert(certA);
}

/** Secret storage in memory: one credential, the origins it is bound to, and scripted answers. */
class MemoryCredentials implements CredentialSource {
  readonly questions: CredentialOriginQuestion[] = [];
  gets = 0;
  constructor(public bound: BoundCredentials | undefined, private readonly answer: CredentialOriginAnswer = 'cancel') {}
  async get(): Promise<BoundCredentials | undefined> {
    this.gets++;
    return this.bound;
  }
  async allow(origin: string): Promise<void> {
    if (this.bound) this.bound = { ...this.bound, origins: [...this.bound.origins, origin] };
  }
  async confirmOrigin(q: CredentialOriginQuestion): Promise<CredentialOriginAnswer> {
    this.questions.push(q);
    return this.answer;
  }
}

function client(opts: { decide?: CertDecision; creds?: UcdCredentials; pins?: MemoryPinStore; asked?: UnknownCertificate[] } = {}) {
  const asked = opts.asked ?? [];
  const store = new MemoryCredentials({ credentials: opts.creds ?? { kind: 'basic', user: 'admin', password: PASSWORD }, origins: [`https://127.0.0.1:${port}`] });
  const c = new UcdRestClient({
    baseUrl: `https://127.0.0.1:${port}`,
    credentials: store,
    pins: opts.pins ?? new MemoryPinStore(),
    prompt: async (cert) => {
      asked.push(cert);
      return opts.decide ?? 'once';
    },
    credentialName: 'ucd-admin',
    requestTimeoutMs: 5_000,
  });
  return { c, asked, credCalls: () => store.gets };
}

test('unknown self-signed certificate: asks with the fingerprint openssl computes, then lists the running processes', async () => {
  reset();
  const { c, asked, credCalls } = client({ decide: 'once' });
  const all = await c.currentActivity();
  assert.equal(asked.length, 1);
  assert.equal(asked[0].fingerprint256, certA.fingerprint);
  assert.equal(asked[0].host, '127.0.0.1');
  assert.equal(asked[0].port, port);
  assert.match(asked[0].subject, /CN=ucd-a\.test/);
  assert.equal(asked[0].reason, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.deepEqual(all.map((p) => p.kind), ['application', 'component', 'generic', 'other']);
  // 'once' holds for this client: no second question.
  const blocking = await c.blocking();
  assert.equal(asked.length, 1);
  assert.deepEqual(blocking.map((p) => p.name), ['JPetStore / Deploy (PROD)', 'Nightly cleanup', 'Change window approval']);
  assert.equal(ucd.seen.length, 2);
  assert.equal(credCalls(), 1, 'credentials are asked once per client');
});

test('declined certificate: the server never receives a request, let alone the Authorization header', async () => {
  reset();
  const { c, asked, credCalls } = client({ decide: 'cancel' });
  await assert.rejects(c.currentActivity(), (e: unknown) => e instanceof UcdRestError && e.kind === 'tls-declined' && e.message.includes(certA.fingerprint));
  assert.equal(asked.length, 1);
  assert.deepEqual(ucd.seen, []);
  assert.equal(credCalls(), 0, 'credentials are not even read for a server that was not accepted');
});

test('pinned "always": a new client accepts the same certificate without asking', async () => {
  reset();
  const pins = new MemoryPinStore();
  await client({ decide: 'always', pins }).c.currentActivity();
  assert.equal(await pins.get(`127.0.0.1:${port}`), certA.fingerprint);
  const second = client({ decide: 'cancel', pins });
  await second.c.currentActivity();
  assert.equal(second.asked.length, 0);
});

test('changed certificate after pinning: refused loudly with both fingerprints, nothing sent', async () => {
  reset();
  const pins = new MemoryPinStore();
  await pins.set(`127.0.0.1:${port}`, certA.fingerprint);
  ucd.swapCert(certB);
  const { c, asked, credCalls } = client({ decide: 'always', pins });
  await assert.rejects(c.currentActivity(), (e: unknown) => {
    assert.ok(e instanceof UcdRestError);
    assert.equal(e.kind, 'tls-changed');
    assert.match(e.message, /CHANGED/);
    assert.ok(e.message.includes(certA.fingerprint) && e.message.includes(certB.fingerprint));
    assert.deepEqual(e.fingerprints, { pinned: certA.fingerprint, presented: certB.fingerprint });
    return true;
  });
  assert.equal(asked.length, 0, 'a changed certificate is not a question');
  assert.deepEqual(ucd.seen, []);
  assert.equal(credCalls(), 0);
});

test('a CA the certificate chains to makes it trusted without a prompt, but only if the name matches too', async () => {
  reset();
  const asked: UnknownCertificate[] = [];
  const withCa = (ca: string) => new UcdRestClient({ baseUrl: `https://127.0.0.1:${port}`, credentials: credentialsFor(`https://127.0.0.1:${port}`, { kind: 'basic', user: 'admin', password: PASSWORD }), pins: new MemoryPinStore(), prompt: async (x) => (asked.push(x), 'cancel'), ca });
  // certA names ucd-a.test, not 127.0.0.1: the chain verifies but the name does not, so it asks.
  await assert.rejects(withCa(certA.cert).currentActivity(), /not accepted/);
  assert.equal(asked.length, 1);
  assert.equal(asked[0].reason, 'ERR_TLS_CERT_ALTNAME_INVALID');
  ucd.swapCert(certIp);
  const all = await withCa(certIp.cert).currentActivity();
  assert.equal(all.length, 4);
  assert.equal(asked.length, 1, 'no prompt for a certificate that verifies');
});

test('cancel the chosen processes, then waiting ends once the server lists none', async () => {
  reset();
  const { c } = client({ decide: 'once' });
  const polls: number[] = [];
  const blocking = await c.blocking();
  for (const p of blocking) await c.cancel(p);
  assert.deepEqual(ucd.cancelled, ['17c1a2b3-0000-4000-8000-00000000f001', '17c1a2b3-0000-4000-8000-00000000f003', '17c1a2b3-0000-4000-8000-00000000f004']);
  const puts = ucd.seen.filter((s) => s.method === 'PUT').map((s) => s.url);
  assert.deepEqual(puts, ucd.cancelled.map((id) => `/rest/workflow/${id}/cancel`));
  await c.waitUntilNone({ intervalMs: 20, timeoutMs: 2_000, onPoll: (left) => polls.push(left.length) });
  assert.deepEqual(polls, [0]);
  assert.deepEqual(ucd.items, ['not an object'], 'the component child went with its parent');
});

test('waitUntilNone polls until the server empties its list, and times out naming what remains', async () => {
  reset();
  const { c } = client({ decide: 'once', creds: { kind: 'token', token: TOKEN } });
  const polls: number[] = [];
  // Something else (a person on the Dashboard) cancels one process per poll.
  const waited = c.waitUntilNone({
    intervalMs: 30, timeoutMs: 5_000,
    onPoll: (left) => {
      polls.push(left.length);
      const next = left[0];
      if (next?.cancelId) ucd.items = ucd.items.filter((i) => { const o = i as Record<string, unknown>; return o.traceId !== next.cancelId && o.workflowTraceId !== next.cancelId; });
    },
  });
  await waited;
  assert.deepEqual(polls, [3, 2, 1, 0]);
  assert.ok(ucd.seen.every((s) => s.authorization === `Basic ${Buffer.from(`PasswordIsAuthToken:${TOKEN}`).toString('base64')}`), 'token sent as PasswordIsAuthToken');

  reset();
  await assert.rejects(c.waitUntilNone({ intervalMs: 30, timeoutMs: 100 }), (e: unknown) => e instanceof UcdRestError && e.kind === 'timeout' && /Nightly cleanup/.test(e.message));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(c.waitUntilNone({ intervalMs: 10_000, timeoutMs: 60_000, signal: ac.signal }), (e: unknown) => e instanceof UcdRestError && e.kind === 'cancelled');
});

test('401: the message names the failure and the credential, never the password, token or Authorization header', async () => {
  reset();
  for (const creds of [{ kind: 'basic', user: 'admin', password: 'wrong-Secret-99' }, { kind: 'token', token: 'bad-token-1234' }] as const) {
    const { c } = client({ decide: 'once', creds });
    const secret = creds.kind === 'basic' ? creds.password : creds.token;
    const user = creds.kind === 'basic' ? creds.user : 'PasswordIsAuthToken';
    const header = Buffer.from(`${user}:${secret}`).toString('base64');
    await assert.rejects(c.currentActivity(), (e: unknown) => {
      assert.ok(e instanceof UcdRestError);
      assert.equal(e.kind, 'auth');
      assert.match(e.message, /HTTP 401/);
      assert.match(e.hint, /"ucd-admin"/);
      const all = `${e.message} ${e.hint} ${e.stack ?? ''} ${JSON.stringify(e)}`;
      assert.ok(!all.includes(secret), 'no password/token');
      assert.ok(!all.includes(header), 'no Authorization value');
      assert.ok(!/Basic /.test(all), 'no Authorization header');
      return true;
    });
    // The server did receive the (wrong) credentials: the check above is about our messages.
    assert.equal(ucd.seen.at(-1)?.authorization, `Basic ${header}`);
  }
});

test('cancelling an unknown trace reports 404 with the server\'s words; an http:// URL is refused before any request', async () => {
  reset();
  const { c } = client({ decide: 'once' });
  await assert.rejects(c.cancel('no-such-id'), (e: unknown) => e instanceof UcdRestError && e.kind === 'not-found' && /no such trace/.test(e.message));
  assert.throws(() => new UcdRestClient({ baseUrl: `http://127.0.0.1:${port}`, credentials: new MemoryCredentials(undefined), pins: new MemoryPinStore(), prompt: async () => 'cancel' }), (e: unknown) => e instanceof UcdRestError && e.kind === 'protocol');
});

test('no credentials given: nothing is sent after the TLS decision', async () => {
  reset();
  const c = new UcdRestClient({ baseUrl: `https://127.0.0.1:${port}`, credentials: new MemoryCredentials(undefined), pins: new MemoryPinStore(), prompt: async () => 'once' });
  await assert.rejects(c.currentActivity(), (e: unknown) => e instanceof UcdRestError && e.kind === 'no-credentials');
  assert.deepEqual(ucd.seen, []);
});

// "The UCD credential follows the file": it is bound to the origin it was given for.
function at(baseUrl: string, store: CredentialSource) {
  return new UcdRestClient({ baseUrl, credentials: store, pins: new MemoryPinStore(), prompt: async () => 'once', credentialName: 'ucd-admin', requestTimeoutMs: 5_000 });
}

test('a credential given for one origin is not sent to another without asking; declined, nothing is sent', async () => {
  reset();
  const given = `https://127.0.0.1:${port}`;
  // localhost is the same test server under another name: what a cluster file edited to point
  // elsewhere looks like to the client.
  const other = `https://localhost:${port}`;
  const store = new MemoryCredentials({ credentials: { kind: 'basic', user: 'admin', password: PASSWORD }, origins: [given] }, 'cancel');
  await assert.rejects(at(other, store).currentActivity(), (e: unknown) => {
    assert.ok(e instanceof UcdRestError);
    assert.equal(e.kind, 'no-credentials');
    assert.match(e.message, new RegExp(`credential "ucd-admin" was given for ${given.replace(/\./g, '\\.')}, not for ${other}.*not sent`));
    assert.ok(!`${e.message} ${e.hint}`.includes(PASSWORD));
    return true;
  });
  assert.deepEqual(store.questions, [{ credentialName: 'ucd-admin', origin: other, boundTo: [given] }]);
  assert.deepEqual(ucd.seen, [], 'the server received no request at all');
  // A credential held for one URL only (credentialsFor) is refused elsewhere without a question.
  await assert.rejects(at(other, credentialsFor(given, { kind: 'basic', user: 'admin', password: PASSWORD })).currentActivity(), (e: unknown) => e instanceof UcdRestError && e.kind === 'no-credentials');
  assert.deepEqual(ucd.seen, []);
});

test("'once' sends it for this client only; 'always' binds the credential to the new origin too", async () => {
  reset();
  const given = `https://127.0.0.1:${port}`;
  const other = `https://localhost:${port}`;
  const once = new MemoryCredentials({ credentials: { kind: 'basic', user: 'admin', password: PASSWORD }, origins: [given] }, 'once');
  const c = at(other, once);
  await c.currentActivity();
  await c.blocking();
  assert.equal(once.questions.length, 1, 'asked once for this client');
  assert.deepEqual(once.bound?.origins, [given], 'once is not remembered');
  assert.equal(ucd.seen.length, 2);
  await at(other, once).currentActivity();
  assert.equal(once.questions.length, 2, 'a new client asks again');

  const always = new MemoryCredentials({ credentials: { kind: 'basic', user: 'admin', password: PASSWORD }, origins: [given] }, 'always');
  await at(other, always).currentActivity();
  assert.deepEqual(always.bound?.origins, [given, other]);
  await at(other, always).currentActivity();
  assert.equal(always.questions.length, 1, 'remembered: not asked again');
});

test('a credential stored before origins were kept is asked for before its first use', async () => {
  reset();
  const legacy = new MemoryCredentials({ credentials: { kind: 'token', token: TOKEN }, origins: [] }, 'cancel');
  await assert.rejects(at(`https://127.0.0.1:${port}`, legacy).currentActivity(), /was stored without the server it belongs to/);
  assert.deepEqual(legacy.questions, [{ credentialName: 'ucd-admin', origin: `https://127.0.0.1:${port}`, boundTo: [] }]);
  assert.deepEqual(ucd.seen, []);
});

test('the origin is scheme, host and port: path, default port and letter case do not make another one', async () => {
  assert.equal(credentialOrigin('https://UCD.example.com/ucd/'), 'https://ucd.example.com:443');
  assert.equal(credentialOrigin('https://ucd.example.com:443'), 'https://ucd.example.com:443');
  assert.notEqual(credentialOrigin('https://ucd.example.com:8443'), credentialOrigin('https://ucd.example.com'));
  assert.notEqual(credentialOrigin('https://ucd.example.com.evil.test'), credentialOrigin('https://ucd.example.com'));
  assert.equal(credentialOrigin('https://[::1]:8443/x'), 'https://[::1]:8443');
  reset();
  const store = new MemoryCredentials({ credentials: { kind: 'basic', user: 'admin', password: PASSWORD }, origins: [`https://127.0.0.1:${port}`] });
  await at(`https://127.0.0.1:${port}/`, store).currentActivity();
  assert.equal(store.questions.length, 0, 'the same origin is not a question');
  assert.equal(ucd.seen.length, 1);
});
