import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostKeyChangedError, HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { HostKeyAnswer, HostKeyQuestion } from '../../src/core/remote/interaction';
import { RemoteError } from '../../src/core/remote/transport';

let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fp: string }> = {};

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-hk-unit-'));
  for (const [name, type] of [['a', 'ed25519'], ['b', 'ed25519'], ['r', 'rsa']] as const) {
    const f = path.join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f], { stdio: 'ignore' });
    const [t, b64] = fs.readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
    keys[name] = { line: `${t} ${b64}`, blob: Buffer.from(b64, 'base64'), fp: execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1] as string };
  }
});

function policy(knownHosts: string, answers: HostKeyAnswer[]): { p: HostKeyPolicy; asked: HostKeyQuestion[]; store: string } {
  const sub = fs.mkdtempSync(path.join(dir, 'case-'));
  const kh = path.join(sub, 'known_hosts');
  fs.writeFileSync(kh, knownHosts);
  const store = path.join(sub, 'ext', 'known_hosts');
  const asked: HostKeyQuestion[] = [];
  const p = new HostKeyPolicy({
    knownHostsFiles: [kh, path.join(sub, 'missing')],
    storeFile: store,
    prompt: async (q) => {
      asked.push(q);
      await new Promise((r) => setTimeout(r, 20));
      return answers.shift() ?? 'cancel';
    },
  });
  return { p, asked, store };
}

test('known and equal: accepted without asking', async () => {
  const { p, asked } = policy(`[10.0.0.1]:2222 ${keys.a!.line}\n`, []);
  assert.equal(await p.verify('n1', '10.0.0.1', 2222, keys.a!.blob), 'known');
  assert.equal(asked.length, 0);
});

test('known but different: refused with both fingerprints and the ssh-keygen -R command; never asks', async () => {
  const { p, asked } = policy(`[10.0.0.1]:2222 ${keys.a!.line}\n`, ['always']);
  const err = await p.verify('n1', '10.0.0.1', 2222, keys.b!.blob).then(
    () => assert.fail('accepted a changed key'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HostKeyChangedError);
  assert.equal(err.kind, 'hostkey-changed');
  assert.equal(err.presentedFingerprint, keys.b!.fp);
  assert.deepEqual(err.knownFingerprints, [keys.a!.fp]);
  assert.ok(err.message.includes(keys.a!.fp) && err.message.includes(keys.b!.fp));
  assert.match(err.hint, /ssh-keygen -R '\[10\.0\.0\.1\]:2222' -f /);
  assert.equal(asked.length, 0);
});

test('a key of another type than the known one is also refused (we offer known types first)', async () => {
  const { p } = policy(`h ${keys.r!.line}\n`, ['always']);
  await assert.rejects(p.verify('n1', 'h', 22, keys.a!.blob), (e: unknown) => e instanceof RemoteError && e.kind === 'hostkey-changed');
});

test('@revoked key is refused even when also listed as known', async () => {
  const { p, asked } = policy(`@revoked * ${keys.a!.line}\nh ${keys.a!.line}\n`, ['always']);
  await assert.rejects(p.verify('n1', 'h', 22, keys.a!.blob), (e: unknown) => e instanceof RemoteError && e.kind === 'hostkey-revoked' && e.message.includes(keys.a!.fp));
  assert.equal(asked.length, 0);
});

test("unknown: 'always' stores (known next time), 'once' does not, 'cancel' declines", async () => {
  const { p, asked, store } = policy('', ['once', 'always', 'cancel']);
  assert.equal(await p.verify('n1', 'h', 2200, keys.a!.blob), 'accepted-once');
  assert.equal(fs.existsSync(store), false);
  assert.equal(await p.verify('n1', 'h', 2200, keys.a!.blob), 'accepted-stored');
  assert.equal(fs.readFileSync(store, 'utf8'), `[h]:2200 ${keys.a!.line}\n`);
  assert.equal(await p.verify('n1', 'h', 2200, keys.a!.blob), 'known');
  assert.equal(asked.length, 2);
  assert.deepEqual(asked[0], { node: 'n1', host: 'h', port: 2200, keyType: 'ssh-ed25519', fingerprintSha256: keys.a!.fp });
  await assert.rejects(p.verify('n2', 'other', 22, keys.b!.blob), (e: unknown) => e instanceof RemoteError && e.kind === 'hostkey-unknown-declined' && e.node === 'n2');
  // The stored key now makes a different key for h:2200 a changed key.
  await assert.rejects(p.verify('n1', 'h', 2200, keys.b!.blob), (e: unknown) => e instanceof RemoteError && e.kind === 'hostkey-changed');
});

test('concurrent connections to the same host ask one question', async () => {
  const { p, asked } = policy('', ['once']);
  const results = await Promise.all([p.verify('n1', 'h', 22, keys.a!.blob), p.verify('n1', 'h', 22, keys.a!.blob), p.verify('n1', 'h', 22, keys.a!.blob)]);
  assert.deepEqual(results, ['accepted-once', 'accepted-once', 'accepted-once']);
  assert.equal(asked.length, 1);
});

test('a changed key for a host written in capitals is refused against its hashed line, never offered', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'hashed-'));
  const kh = path.join(sub, 'known_hosts');
  fs.writeFileSync(kh, `ucd1.example.com ${keys.a!.line}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
  assert.match(fs.readFileSync(kh, 'utf8'), /^\|1\|/);
  const asked: HostKeyQuestion[] = [];
  const p = new HostKeyPolicy({ knownHostsFiles: [kh], globalKnownHostsFiles: [], storeFile: path.join(sub, 'store'), prompt: async (q) => (asked.push(q), 'always') });
  assert.equal(await p.verify('ucd1', 'UCD1.example.com', 22, keys.a!.blob), 'known');
  await assert.rejects(p.verify('ucd1', 'UCD1.example.com', 22, keys.b!.blob), (e: unknown) => e instanceof HostKeyChangedError && e.knownFingerprints[0] === keys.a!.fp);
  assert.equal(asked.length, 0);
});

test('the machine-wide known_hosts is read too: its keys, its @revoked lines, and a note for @cert-authority', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'global-'));
  const user = path.join(sub, 'known_hosts');
  const global = path.join(sub, 'ssh_known_hosts');
  fs.writeFileSync(user, `h ${keys.a!.line}\n`);
  fs.writeFileSync(global, `@revoked h ${keys.a!.line}\nother ${keys.b!.line}\n@cert-authority *.example.com ${keys.r!.line}\n`);
  const asked: HostKeyQuestion[] = [];
  const log: string[] = [];
  const p = new HostKeyPolicy({ knownHostsFiles: [user], globalKnownHostsFiles: [global, path.join(sub, 'ssh_known_hosts2')], storeFile: path.join(sub, 'store'), prompt: async (q) => (asked.push(q), 'always'), log: (l) => log.push(l) });
  await assert.rejects(p.verify('n1', 'h', 22, keys.a!.blob), (e: unknown) => e instanceof RemoteError && e.kind === 'hostkey-revoked' && e.message.includes(global) && e.message.includes(keys.a!.fp) && /never be accepted/.test(e.hint));
  assert.equal(await p.verify('n2', 'other', 22, keys.b!.blob), 'known', 'a key listed only machine-wide is known');
  assert.equal(await p.verify('n3', 'ucd3.example.com', 22, keys.a!.blob), 'accepted-stored');
  assert.equal(asked.length, 1, 'a host only a CA covers is still asked (certificates are not checked)');
  assert.ok(log.some((l) => /1 @cert-authority line\(s\) cover ucd3\.example\.com; host certificates are not checked/.test(l)), log.join('\n'));
});


test('a known hosts file that cannot be read: refused before asking, naming the file, the node and what to do', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'case-'));
  const unreadable = path.join(sub, 'known_hosts'); // a directory: EISDIR even for root
  fs.mkdirSync(unreadable);
  const asked: HostKeyQuestion[] = [];
  const p = new HostKeyPolicy({ knownHostsFiles: [unreadable], globalKnownHostsFiles: [], storeFile: path.join(sub, 'store'), prompt: async (q) => (asked.push(q), 'always') });
  const err = await p.verify('ucd2', '10.0.0.2', 22, keys.a!.blob).then(() => assert.fail('connected without reading a known hosts file'), (e: unknown) => e);
  assert.ok(err instanceof RemoteError, String(err));
  assert.equal(err.node, 'ucd2');
  assert.match(err.message, new RegExp(`^Cannot read the known hosts file ${unreadable.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(EISDIR\\).*ucd2 \\(10\\.0\\.0\\.2:22\\).*Nothing was sent to ucd2\\.$`));
  assert.match(err.hint ?? '', /readable/);
  assert.equal(asked.length, 0, 'the person was not asked to accept a key the file may refuse');
  assert.equal(fs.existsSync(path.join(sub, 'store')), false);
});
