// Issue 13 item 4 on a real cluster (3 OpenSSH nodes, the UCD simulator's HTTPS, a real nginx):
// the trust pass collects every host key and certificate the run will meet, read-only and at
// once, and each fingerprint is the one ssh-keyscan | ssh-keygen -lf and openssl x509 print for
// the same endpoint. Known keys show as known, a changed one as changed and is never accepted;
// once the unknown ones are accepted the run's own connections (SSH, the login page, REST) ask
// nothing. The command line prints the same list and exits 3 while anything is unknown.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCluster } from '../../src/core/cluster/load';
import type { Cluster } from '../../src/core/cluster/types';
import type { Decision } from '../../src/core/journal/events';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { acceptTrust, collectTrust, type TrustItem } from '../../src/core/trust';
import { fetchLoginPage } from '../../src/core/ucd/loginPage';
import { credentialsFor, UcdRestClient } from '../../src/core/ucd/rest/client';
import { MemoryPinStore, type TlsTrust } from '../../src/core/ucd/rest/tls';
import type { ActionContext } from '../../src/core/runbook/actions';
import { actionContext } from '../../src/core/runbook/runner';
import { RunSession } from '../../src/core/runbook/session';
import type { StepId } from '../../src/core/runbook/steps';
import { startHandlers } from '../../src/core/steps/start';
import { processesHandlers } from '../../src/core/steps/processes';
import { stoppedHandlers } from '../../src/core/steps/stop';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';
import { untilBalancerAnswers } from './loadbalancer';

const skip = clusterPrerequisites();
const CLI = path.resolve(__dirname, '../../src/cli/main.js');

/** What OpenSSH's own tools say: `ssh-keyscan -t TYPE` piped to `ssh-keygen -lf -`. */
function keyscanFingerprint(host: string, port: number, keyType: string): string {
  const scanned = execFileSync('ssh-keyscan', ['-p', String(port), '-t', keyType, host], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
  assert.ok(scanned.trim(), `ssh-keyscan printed no ${keyType} key for ${host}:${port}`);
  const fp = execFileSync('ssh-keygen', ['-lf', '-'], { input: scanned, encoding: 'utf8' }).split(/\s+/)[1];
  assert.ok(fp, `ssh-keygen -lf printed no fingerprint for ${host}:${port}`);
  return fp;
}

/** What openssl says of the certificate host:port presents: SHA-256 fingerprint, subject, issuer. */
function opensslCertificate(host: string, port: number): { fingerprint: string; subject: string } {
  const pem = execFileSync('openssl', ['s_client', '-connect', `${host}:${port}`, '-showcerts'], { input: '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'], timeout: 20_000 });
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  assert.ok(first, `openssl s_client printed no certificate for ${host}:${port}`);
  const text = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-subject', '-nameopt', 'sep_comma_plus'], { input: first, encoding: 'utf8' });
  const fingerprint = /sha256 Fingerprint=([0-9A-F:]+)/i.exec(text)?.[1];
  const subject = /subject=\s*(.*)/.exec(text)?.[1]?.trim();
  assert.ok(fingerprint && subject, `openssl x509 output: ${text}`);
  return { fingerprint, subject };
}

describe('the trust pass on a real 3-node cluster with a load balancer', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let cluster: Cluster;
  let dir: string;
  const pools: SshPool[] = [];

  before(async () => {
    tc = await startCluster({ nodes: 3, loadBalancer: true });
    await Promise.all(tc.nodes.map((n) => tc.startServer(n.name)));
    await untilBalancerAnswers(tc.loadBalancer!);
    const loaded = loadCluster(tc.clusterFile());
    assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.problems));
    cluster = loaded.cluster;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-trust-'));
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    await tc?.stop();
  });

  /** A pool and a TLS trust as the editor builds them, with prompts that count (and refuse). */
  function parts(knownHosts: readonly string[]) {
    const sub = fs.mkdtempSync(path.join(dir, 'case-'));
    const decided: Decision[] = [];
    const asked: string[] = [];
    const hostKeys = new HostKeyPolicy({
      knownHostsFiles: [...knownHosts], globalKnownHostsFiles: [], storeFile: path.join(sub, 'ext', 'known_hosts'),
      prompt: async (q) => (asked.push(`host key ${q.node} ${q.host}:${q.port}`), 'cancel'),
      onAccepted: (k) => decided.push({ kind: 'host-key', node: k.node, endpoint: `${k.host}:${k.port}`, keyType: k.keyType, fingerprint: k.fingerprintSha256, remembered: k.remembered }),
    });
    const pool = new SshPool({ hostKeys, sshConfigFile: null, agentSocket: null, connectTimeoutMs: 20_000 });
    pools.push(pool);
    const tls: TlsTrust = {
      pins: new MemoryPinStore(), sessionPins: new Map(),
      prompt: async (c) => (asked.push(`certificate ${c.host}:${c.port}`), 'cancel'),
      onAccepted: (c, remembered) => decided.push({ kind: 'tls-certificate', endpoint: `${c.host}:${c.port}`, fingerprint: c.fingerprint256, subject: c.subject, remembered }),
    };
    return { pool, tls, decided, asked, store: path.join(sub, 'ext', 'known_hosts') };
  }

  const lbHostPort = (): { host: string; port: number } => {
    const u = new URL(tc.loadBalancer!.url);
    return { host: u.hostname, port: Number(u.port || 443) };
  };

  test('every endpoint at once, named, with the fingerprints OpenSSH and openssl print; nothing known yet', { timeout: 180_000 }, async () => {
    const p = parts([path.join(dir, 'empty_known_hosts')]);
    const items = await collectTrust(cluster, p);
    const lb = lbHostPort();
    assert.deepEqual(items.map((i) => `${i.kind} ${i.roles.map((r) => r.name).join('+')} ${i.host}:${i.port}`), [
      ...tc.nodes.map((n) => `ssh ${n.name} ${n.host}:${n.sshPort}`),
      ...tc.nodes.map((n) => `tls ${n.name} ${n.host}:8443`),
      `tls load balancer+UCD URL ${lb.host}:${lb.port}`,
    ]);
    assert.deepEqual(items.map((i) => i.status), items.map(() => 'unknown'), items.map((i) => i.why).join('\n'));
    for (const i of items) {
      if (i.kind === 'ssh') {
        assert.ok(i.keyType && i.fingerprint, `${i.host}: a key was collected`);
        assert.equal(i.fingerprint, keyscanFingerprint(i.host, i.port, i.keyType), `${i.roles[0]!.name}: the fingerprint ssh-keygen prints`);
      } else {
        const o = opensslCertificate(i.host, i.port);
        assert.equal(i.certificate?.fingerprint256, o.fingerprint.toUpperCase(), `${i.roles[0]!.name}: the SHA-256 openssl x509 prints`);
        // Subject fields as openssl lists them (CN=…), in the same order.
        const cn = /CN\s*=\s*([^,+]+)/.exec(o.subject)?.[1]?.trim();
        assert.ok(cn && i.certificate.subject.includes(`CN=${cn}`), `${i.host}:${i.port} subject ${i.certificate.subject} vs openssl ${o.subject}`);
        assert.ok(i.certificate.validFrom && i.certificate.validTo, 'validity collected');
      }
    }
    assert.deepEqual(p.asked, [], 'collecting asks nothing');
    assert.deepEqual(p.decided, [], 'collecting accepts nothing');
  });

  test('known keys show as known; a CHANGED one is shown as changed and never accepted', { timeout: 180_000 }, async () => {
    // ucd2 listed with another key, as after a reinstall or an interception.
    const other = path.join(dir, 'other');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other], { stdio: 'ignore' });
    const ucd2 = tc.nodes[1]!;
    const known = fs.readFileSync(tc.knownHostsFile, 'utf8').split('\n').filter((l) => l && !l.startsWith(`${ucd2.host} `) && !l.startsWith(`[${ucd2.host}]`));
    const kh = path.join(dir, 'changed_known_hosts');
    fs.writeFileSync(kh, [...known, `${ucd2.host} ${fs.readFileSync(`${other}.pub`, 'utf8').trim()}`, ''].join('\n'));
    const p = parts([kh]);
    const items = await collectTrust(cluster, p);
    const ssh = items.filter((i) => i.kind === 'ssh');
    assert.deepEqual(ssh.map((i) => `${i.roles[0]!.name} ${i.status}`), [`${tc.nodes[0]!.name} known`, `${ucd2.name} changed`, `${tc.nodes[2]!.name} known`]);
    const changed = ssh[1]!;
    assert.match(changed.why, /HOST KEY CHANGED/);
    await assert.rejects(acceptTrust([changed], p), /is changed, not unknown: it cannot be accepted/);
    assert.equal(fs.existsSync(p.store), false, 'nothing stored');
    // Even straight through the policy, the changed key is never stored.
    const chKey = changed as Extract<TrustItem, { kind: 'ssh' }>;
    await assert.rejects(p.pool.options.hostKeys.remember(ucd2.name, ucd2.host, ucd2.sshPort, chKey.blob!), /never stored/);
    assert.equal(fs.existsSync(p.store), false);
  });

  test('once accepted, the run meets no prompt: SSH, every login page, the load balancer and UCD REST', { timeout: 240_000 }, async () => {
    const p = parts([path.join(dir, 'empty_known_hosts')]);
    const items = await collectTrust(cluster, p);
    await acceptTrust(items.filter((i) => i.status === 'unknown'), p);
    assert.deepEqual(p.decided.map((d) => `${d.kind} ${'fingerprint' in d ? d.fingerprint : ''}`), items.map((i) => `${i.kind === 'ssh' ? 'host-key' : 'tls-certificate'} ${i.kind === 'ssh' ? i.fingerprint : i.certificate?.fingerprint256}`));
    assert.ok(p.decided.every((d) => 'remembered' in d && d.remembered));
    assert.equal(fs.readFileSync(p.store, 'utf8').trim().split('\n').length, tc.nodes.length, 'one known_hosts line per node');

    // A second pass shows everything as known.
    assert.deepEqual((await collectTrust(cluster, p)).map((i) => i.status), items.map(() => 'known'));

    for (const n of cluster.nodes) {
      const t = p.pool.transport(targetFromNode(n));
      const r = await t.exec('hostname');
      assert.equal(r.code, 0, `${n.name}: ${r.stderr}`);
      const page = await fetchLoginPage(`https://${n.host}:${n.httpsPort}/`, p.tls);
      assert.ok(page.ok, `${n.name}'s login page: ${!page.ok ? page.error : ''}`);
    }
    const lb = await fetchLoginPage(cluster.loadBalancerUrl, p.tls);
    assert.ok(lb.ok, `the load balancer: ${!lb.ok ? lb.error : ''}`);
    const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, { kind: 'basic', user: tc.ucdAdmin.user, password: tc.ucdAdmin.password }), pins: p.tls.pins, prompt: p.tls.prompt });
    const servers = await rest.servers();
    assert.ok(servers.length >= tc.nodes.length, JSON.stringify(servers));
    assert.deepEqual(p.asked, [], 'no prompt on the way');
  });

  test('ucd-upgrade trust prints the same list and exits 3 while anything is unknown, 0 when all is known', { timeout: 240_000 }, async () => {
    const ws = fs.mkdtempSync(path.join(dir, 'cli-'));
    fs.writeFileSync(path.join(ws, 'ucd-cluster.json'), tc.clusterFile());
    const cli = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
      execFile(process.execPath, [CLI, 'trust', '--dir', ws, '--ssh-config', '/dev/null', ...args], { timeout: 120_000 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr }));
    });
    const unknown = await cli(['--known-hosts', path.join(dir, 'empty_known_hosts')]);
    assert.equal(unknown.code, 3, unknown.stderr);
    assert.match(unknown.stderr, /waiting for a person: trust: 7 endpoints: 0 known, 7 not known, 0 changed or revoked, 0 not reachable; nothing was accepted/);
    for (const n of tc.nodes) {
      assert.match(unknown.stdout, new RegExp(`^unknown: ${n.name} \\(${n.host.replace(/\./g, '\\.')}:22\\): SSH host key ssh-\\S+ SHA256:`, 'm'));
      assert.match(unknown.stdout, new RegExp(`^unknown: ${n.name} \\(${n.host.replace(/\./g, '\\.')}:8443\\): TLS certificate SHA-256 [0-9A-F:]{95}; subject `, 'm'));
    }
    // Every unknown certificate comes with the flag that trusts it; given those, all is known.
    const pins = [...unknown.stdout.matchAll(/--tls-fingerprint (\S+)/g)].map((m) => m[1]!);
    assert.equal(pins.length, tc.nodes.length + 1, unknown.stdout);
    const known = await cli(['--known-hosts', tc.knownHostsFile, ...pins.flatMap((pin) => ['--tls-fingerprint', pin]), '--json']);
    assert.equal(known.code, 0, known.stderr + known.stdout);
    const lines = known.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; status: string; blob?: unknown });
    assert.deepEqual(lines.map((l) => `${l.event} ${l.status}`), lines.map(() => 'trust known'));
    assert.ok(lines.every((l) => l.blob === undefined), 'no raw key blob in the JSON');
    assert.match(known.stderr, /done: trust: 7 endpoints: 7 known/);
  });

  test('a node behind a jump host (ProxyJump in ~/.ssh/config) is reached through it once the jump host is known', { timeout: 180_000 }, async () => {
    const [ucd1, ucd2] = [tc.nodes[0]!, tc.nodes[1]!];
    const cfg = path.join(dir, 'ssh_config_jump');
    fs.writeFileSync(cfg, `Host ${ucd2.host}\n  ProxyJump ${tc.user}@${ucd1.host}\nHost ${ucd1.host}\n  IdentityFile ${tc.identityFile}\n`);
    const through = (knownHosts: string) => {
      const p = parts([knownHosts]);
      const pool = new SshPool({ hostKeys: p.pool.options.hostKeys, sshConfigFile: cfg, agentSocket: null, connectTimeoutMs: 20_000 });
      pools.push(pool);
      return { ...p, pool };
    };
    const known = await collectTrust(cluster, through(tc.knownHostsFile));
    const behind = known.find((i) => i.kind === 'ssh' && i.roles.some((r) => r.name === `${ucd2.name} via ${ucd1.host}`));
    assert.ok(behind?.kind === 'ssh', JSON.stringify(known.map((i) => i.roles)));
    assert.equal(behind.status, 'known', behind.why);
    assert.equal(behind.fingerprint, keyscanFingerprint(ucd2.host, ucd2.sshPort, behind.keyType!), 'the key seen through the jump host is the node\'s own');
    const jump = known.find((i) => i.kind === 'ssh' && i.host === ucd1.host);
    assert.deepEqual(jump?.roles.map((r) => r.what), [`SSH to node ${ucd1.name} (every step's remote work)`, `jump host in front of node ${ucd2.name}`]);

    // With nothing known, the node behind it is not scanned: the jump host's key comes first.
    const unknown = await collectTrust(cluster, through(path.join(dir, 'empty_known_hosts')));
    const blocked = unknown.find((i) => i.kind === 'ssh' && i.roles.some((r) => r.name === `${ucd2.name} via ${ucd1.host}`));
    assert.equal(blocked?.status, 'unreachable');
    assert.match(blocked.why, new RegExp(`reached through the jump host ${ucd1.host.replace(/\./g, '\\.')}:22, whose host key is unknown`));
  });

  test('a stopped server has no certificate to show: named as not reachable, and nothing of it can be accepted', { timeout: 240_000 }, async () => {
    const ucd3 = tc.nodes[2]!;
    await tc.stopServer(ucd3.name);
    const p = parts([tc.knownHostsFile]);
    const items = await collectTrust(cluster, p);
    const it = items.find((i) => i.kind === 'tls' && i.roles.some((r) => r.name === ucd3.name));
    assert.equal(it?.status, 'unreachable', JSON.stringify(it));
    assert.match(it.why, new RegExp(`cannot reach ${ucd3.host.replace(/\./g, '\\.')}:8443: ECONNREFUSED`));
    assert.match(it.hint ?? '', /a stopped UCD server has no certificate to show/);
    await assert.rejects(acceptTrust([it], p), /is unreachable, not unknown/);
  });
  test('a certificate dismissed mid-step is not a refusal for good: steps 2 and 8 end "waiting for trust", asked once', { timeout: 240_000 }, async () => {
    const p = parts([tc.knownHostsFile]);
    const ws = fs.mkdtempSync(path.join(dir, 'steps-'));
    const session = RunSession.open(cluster, ws);
    const lines: string[] = [];
    const ctx = (step: StepId, node?: string): ActionContext => actionContext({
      cluster, session, target: node ? { step, node } : { step }, signal: new AbortController().signal,
      log: { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) },
    });
    const state = (key: string) => {
      const o = session.state().get(key);
      assert.ok(o, `no result for ${key}`);
      return { status: o.status, evidence: 'evidence' in o ? o.evidence : [], hint: 'hint' in o ? o.hint : undefined };
    };

    // Step 2: the REST call's certificate is dismissed.
    const rest = new UcdRestClient({ baseUrl: cluster.ucd.url, credentials: credentialsFor(cluster.ucd.url, { kind: 'basic', user: tc.ucdAdmin.user, password: tc.ucdAdmin.password }), pins: p.tls.pins, prompt: p.tls.prompt });
    await processesHandlers({ client: () => rest, choose: async () => assert.fail('nothing is listed'), confirm: async () => assert.fail('nothing to cancel') }).check!(ctx('processes'));
    const s2 = state('processes');
    assert.equal(s2.status, 'failed');
    assert.match(s2.evidence[0] ?? '', /^waiting for trust: The TLS certificate of https:\/\/\S+ \(SHA-256 [0-9A-F:]+\) was not accepted/);
    assert.match(s2.hint ?? '', /The next Run asks again; or accept it beforehand with UCD Upgrade: Review Host Keys and Certificates/);

    // Step 8: ucd1 upgraded and started, its login page's certificate dismissed: asked once, not at every poll until the deadline.
    const ucd1 = cluster.nodes[0]!;
    await tc.stopServer(ucd1.name);
    tc.setInstalledVersion({ node: ucd1.name }, cluster.targetVersion);
    const before = p.asked.length;
    await startHandlers('startFirst', { transportFor: async (n) => p.pool.transport(targetFromNode(n)), trust: p.tls, startTimeoutMs: 120_000, pollMs: 300 }).run!(ctx('startFirst', ucd1.name));
    const s8 = state(`startFirst@${ucd1.name}`);
    assert.equal(s8.status, 'failed', lines.slice(-20).join('\n'));
    assert.ok(s8.evidence.some((e) => e === `waiting for trust: the certificate of ${ucd1.name}:${ucd1.httpsPort} was not accepted, so its login page was not read`), JSON.stringify(s8.evidence));
    assert.match(s8.hint ?? '', /^The server was started\. .*The next Run asks again; or accept it beforehand with UCD Upgrade: Review Host Keys and Certificates/);
    assert.deepEqual(p.asked.slice(before), [`certificate ${ucd1.host}:${ucd1.httpsPort}`], 'asked once');
  });

  test('a host key dismissed mid-step is not a refusal for good: that node waits for trust, the others are checked, the next Check asks again', { timeout: 240_000 }, async () => {
    const ucd2 = cluster.nodes[1]!;
    // Every key but ucd2's is known.
    const all = fs.readFileSync(tc.knownHostsFile, 'utf8').split('\n').filter(Boolean);
    const name = ucd2.sshPort === 22 ? ucd2.host : `[${ucd2.host}]:${ucd2.sshPort}`;
    const others = all.filter((l) => l.split(' ')[0] !== name);
    assert.equal(others.length, all.length - 1, `one known_hosts line of ${all.length} is ucd2's`);
    const known = path.join(dir, 'known_hosts_without_ucd2');
    fs.writeFileSync(known, `${others.join('\n')}\n`);
    const p = parts([known]);
    const session = RunSession.open(cluster, fs.mkdtempSync(path.join(dir, 'hostkey-')));
    const lines: string[] = [];
    const ctx = actionContext({
      cluster, session, target: { step: 'verifyStopped' }, signal: new AbortController().signal,
      log: { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) },
    });
    const { verifyStopped } = stoppedHandlers({ transportFor: async (n) => p.pool.transport(targetFromNode(n)), confirm: async () => assert.fail('a Check asks nothing') });
    const check = verifyStopped.check;
    assert.ok(typeof check === 'function');
    const result = (name: string) => {
      const o = session.state().get(`verifyStopped@${name}`);
      assert.ok(o && 'evidence' in o, `no result for ${name}`);
      return o;
    };

    await check(ctx);
    const w = result(ucd2.name);
    assert.equal(w.status, 'failed');
    assert.match(w.evidence[0] ?? '', new RegExp(`^waiting for trust: the host key of node ucd2 \\(${ucd2.host.replace(/\./g, '\\.')}:${ucd2.sshPort}, ssh-ed25519 SHA256:\\S+\\) is not known and was not accepted; nothing was sent to it\\.$`), w.evidence.join(' | '));
    assert.match(w.hint ?? '', /The next Run asks again; or accept it beforehand with UCD Upgrade: Review Host Keys and Certificates/);
    // The nodes whose keys are known were probed as usual (whether their servers run is the earlier tests' doing).
    for (const n of [cluster.nodes[0]!, cluster.nodes[2]!]) {
      const o = result(n.name);
      const said = o.evidence.join(' | ');
      assert.ok(!/waiting for trust|host key/.test(said), said);
      assert.match(said, /pid \d+ listening on|nothing on .*, no pid file, no server process/, `${n.name} was probed`);
    }
    assert.deepEqual(p.asked, [`host key ucd2 ${ucd2.host}:${ucd2.sshPort}`]);

    await check(ctx);
    assert.deepEqual(p.asked, [`host key ucd2 ${ucd2.host}:${ucd2.sshPort}`, `host key ucd2 ${ucd2.host}:${ucd2.sshPort}`], 'asked again, not refused for good');
    session.dispose();
  });
});
