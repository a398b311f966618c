// Issue 13 item 4: the pure half of the trust pass. What was collected, compared with what is
// stored: unknown is offered, known is shown as known, a changed or revoked key and a changed
// certificate are never accepted, whatever the dialog sends.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { Decision } from '../../src/core/journal/events';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { lookupKnownHosts, parseKnownHosts } from '../../src/core/remote/knownHosts';
import { SshPool } from '../../src/core/remote/ssh';
import { MemoryPinStore, type TlsTrust } from '../../src/core/ucd/rest/tls';
import { acceptTrust, describeItem, judgeCertificate, judgeSshKey, roleOf, sshEndpoints, summarize, tlsEndpoints, type TrustItem } from '../../src/core/trust';
import { variant, VALID_CLUSTER } from '../fixtures/clusters';

let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fp: string }> = {};

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-trust-unit-'));
  for (const name of ['a', 'b']) {
    const f = path.join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f], { stdio: 'ignore' });
    const [t, b64] = fs.readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
    keys[name] = { line: `${t} ${b64}`, blob: Buffer.from(b64, 'base64'), fp: execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1] as string };
  }
});

function cluster(text = VALID_CLUSTER): Cluster {
  const r = loadCluster(text);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return r.cluster;
}

const ep = { kind: 'ssh' as const, host: '10.0.0.1', port: 22, roles: [{ name: 'ucd1', what: 'SSH to node ucd1' }] };
const lookupOf = (text: string) => lookupKnownHosts(parseKnownHosts(text, 'known_hosts').entries, '10.0.0.1', 22);

test('a host key: unknown when nothing is stored, known when it is, CHANGED when another is, revoked wins', () => {
  const a = keys.a!;
  const b = keys.b!;
  const unknown = judgeSshKey(ep, lookupOf(''), { blob: a.blob });
  assert.equal(unknown.status, 'unknown');
  // The fingerprint is the one ssh-keygen -lf prints for the same key.
  assert.equal(unknown.fingerprint, a.fp);
  assert.equal(unknown.keyType, 'ssh-ed25519');

  const known = judgeSshKey(ep, lookupOf(`10.0.0.1 ${a.line}\n`), { blob: a.blob });
  assert.equal(known.status, 'known');
  assert.match(known.why, /known_hosts line 1/);

  const changed = judgeSshKey(ep, lookupOf(`10.0.0.1 ${b.line}\n`), { blob: a.blob });
  assert.equal(changed.status, 'changed');
  assert.match(changed.why, /HOST KEY CHANGED/);
  assert.ok(changed.why.includes(a.fp) && changed.why.includes(b.fp), changed.why);

  const revoked = judgeSshKey(ep, lookupOf(`10.0.0.1 ${a.line}\n@revoked 10.0.0.1 ${a.line}\n`), { blob: a.blob });
  assert.equal(revoked.status, 'revoked');
});

test('a certificate: a pin wins over a CA; the same pin is known, another is CHANGED; unpinned and unverified is unknown', () => {
  const tep = { kind: 'tls' as const, host: 'ucd1', port: 8443, roles: [{ name: 'ucd1', what: 'HTTPS of node ucd1' }] };
  const fp = 'aa:bb:' + '00:'.repeat(29) + 'ff';
  const cert = { fingerprint256: fp, subject: 'CN=ucd1', issuer: 'CN=ucd1', validFrom: 'Jan 1 2026', validTo: 'Jan 1 2027', authorized: false, reason: 'DEPTH_ZERO_SELF_SIGNED_CERT' };
  const unknown = judgeCertificate(tep, undefined, cert);
  assert.equal(unknown.status, 'unknown');
  assert.equal(unknown.certificate?.fingerprint256, fp.toUpperCase(), 'normalized as openssl prints it');
  assert.match(unknown.why, /DEPTH_ZERO_SELF_SIGNED_CERT/);
  assert.equal(judgeCertificate(tep, fp.replace(/:/g, ''), cert).status, 'known', 'a pin without colons is the same fingerprint');
  assert.equal(judgeCertificate(tep, undefined, { ...cert, authorized: true }).status, 'known');
  const changed = judgeCertificate(tep, 'AB:' + fp.slice(3).toUpperCase(), { ...cert, authorized: true });
  assert.equal(changed.status, 'changed', 'a CA-valid certificate that is not the pinned one is still refused');
  assert.match(changed.why, /CHANGED/);
});

test('the endpoints are named for what they are to the run; one host:port serving two roles is listed once', () => {
  const c = cluster();
  const tls = tlsEndpoints(c);
  // Three nodes' :8443, and lb.example.test:443 both as the load balancer and the UCD URL.
  assert.deepEqual(tls.map((t) => `${t.host}:${t.port}`), ['10.0.0.1:8443', '10.0.0.2:8443', '10.0.0.3:8443', 'lb.example.test:443']);
  assert.deepEqual(tls[3]!.roles.map((r) => r.name), ['load balancer', 'UCD URL']);
  assert.match(roleOf(c, '10.0.0.2', 8443) ?? '', /HTTPS of node ucd2 .*login page/);
  assert.equal(roleOf(c, '10.9.9.9', 8443), undefined);
  const split = tlsEndpoints(cluster(variant('"ucd": { "url": "https://lb.example.test"', '"ucd": { "url": "https://ucd.example.test:9443"')));
  assert.deepEqual(split.slice(3).map((t) => `${t.host}:${t.port} ${t.roles.map((r) => r.name).join('+')}`), ['lb.example.test:443 load balancer', 'ucd.example.test:9443 UCD URL']);
});

test('jump hosts from ~/.ssh/config are endpoints too, before the nodes behind them', () => {
  const cfg = path.join(dir, 'ssh_config');
  fs.writeFileSync(cfg, 'Host 10.0.0.2\n  ProxyJump ops@bastion.example.test:2222\n');
  const pool = new SshPool({ hostKeys: new HostKeyPolicy({ knownHostsFiles: [], globalKnownHostsFiles: [], storeFile: path.join(dir, 'none'), prompt: async () => 'cancel' }), sshConfigFile: cfg, agentSocket: null });
  const ssh = sshEndpoints(cluster(), pool);
  assert.deepEqual(ssh.map((e) => `${e.host}:${e.port} ${e.roles.map((r) => r.name).join('+')} via ${e.via.map((v) => v.host).join(',')}`), [
    '10.0.0.1:22 ucd1 via ',
    'bastion.example.test:2222 bastion.example.test via ',
    '10.0.0.2:22 ucd2 via bastion.example.test via bastion.example.test',
    '10.0.0.3:22 ucd3 via ',
  ]);
  assert.match(ssh[1]!.roles[0]!.what, /jump host in front of node ucd2/);
});

test('accepting stores exactly what the in-step "remember" answers store, records each, and refuses anything not unknown', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'accept-'));
  const store = path.join(sub, 'ext', 'known_hosts');
  const decided: Decision[] = [];
  const hostKeys = new HostKeyPolicy({
    knownHostsFiles: [], globalKnownHostsFiles: [], storeFile: store, prompt: async () => 'cancel',
    onAccepted: (k) => decided.push({ kind: 'host-key', node: k.node, endpoint: `${k.host}:${k.port}`, keyType: k.keyType, fingerprint: k.fingerprintSha256, remembered: k.remembered }),
  });
  const pool = new SshPool({ hostKeys, sshConfigFile: null, agentSocket: null });
  const pins = new MemoryPinStore();
  const tls: TlsTrust = { pins, sessionPins: new Map(), prompt: async () => 'cancel', onAccepted: (c, remembered) => decided.push({ kind: 'tls-certificate', endpoint: `${c.host}:${c.port}`, fingerprint: c.fingerprint256, subject: c.subject, remembered }) };
  const sshItem = judgeSshKey(ep, await hostKeys.lookup('10.0.0.1', 22), { blob: keys.a!.blob });
  const cert = { fingerprint256: 'AB:'.repeat(31) + 'CD', subject: 'CN=ucd1', issuer: 'CN=ucd1', validFrom: 'a', validTo: 'b', authorized: false };
  const tlsItem = judgeCertificate({ kind: 'tls', host: 'UCD1', port: 8443, roles: [{ name: 'ucd1', what: '' }] }, undefined, cert);
  const changed: TrustItem = { ...sshItem, status: 'changed' };

  await assert.rejects(acceptTrust([tlsItem, changed], { pool, tls }), /is changed, not unknown: it cannot be accepted/);
  assert.equal(fs.existsSync(store), false, 'nothing stored when one of the chosen is refused');
  assert.equal(await pins.get('ucd1:8443'), undefined);

  await acceptTrust([sshItem, tlsItem], { pool, tls });
  // The line the run's HostKeyPolicy then finds: the same key is known now.
  assert.equal(fs.readFileSync(store, 'utf8'), `10.0.0.1 ${keys.a!.line}\n`);
  assert.equal(judgeSshKey(ep, await hostKeys.lookup('10.0.0.1', 22), { blob: keys.a!.blob }).status, 'known');
  assert.equal(await pins.get('ucd1:8443'), cert.fingerprint256, 'pinned under the lower-cased host, as connectTrusted looks it up');
  assert.deepEqual(decided, [
    { kind: 'host-key', node: 'ucd1', endpoint: '10.0.0.1:22', keyType: 'ssh-ed25519', fingerprint: keys.a!.fp, remembered: true },
    { kind: 'tls-certificate', endpoint: 'UCD1:8443', fingerprint: cert.fingerprint256, subject: 'CN=ucd1', remembered: true },
  ]);
  assert.deepEqual(summarize([sshItem, tlsItem, changed]), { known: 0, unknown: 2, refused: 1, unreachable: 0 });
  assert.match(describeItem(changed), /^CHANGED: ucd1 \(10\.0\.0\.1:22\): SSH host key ssh-ed25519 SHA256:/);
});
