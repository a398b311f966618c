// The SSH transport against a real Debian sshd on loopback (test/support/sshd.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { AuthPrompt, HostKeyAnswer, HostKeyQuestion, SecretSource } from '../../src/core/remote/interaction';
import { execFileSync, spawn } from 'node:child_process';
import { SshPool, type SshPoolOptions, type SshTarget } from '../../src/core/remote/ssh';
import { RemoteError } from '../../src/core/remote/transport';
import { ensurePasswordUser, keygen, sshdSkipReason, sshKeygenFingerprint, startSshd, type Sshd } from '../support/sshd';
import { sh } from '../../src/core/remote/quote';
import { freePort } from '../support/sshd';

const skip = sshdSkipReason();

interface Rig {
  pool: SshPool;
  asked: HostKeyQuestion[];
  store: string;
  log: string[];
}

function rig(sshd: Sshd, answer: HostKeyAnswer, extra: Partial<SshPoolOptions> & { knownHosts?: string[] } = {}): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-transport-'));
  const store = path.join(dir, 'store', 'known_hosts');
  const asked: HostKeyQuestion[] = [];
  const log: string[] = [];
  const hostKeys = new HostKeyPolicy({
    knownHostsFiles: extra.knownHosts ?? [],
    storeFile: store,
    prompt: async (q) => {
      asked.push(q);
      return answer;
    },
    log: (l) => log.push(l),
  });
  const pool = new SshPool({ hostKeys, sshConfigFile: null, agentSocket: null, defaultIdentityFiles: [], log: (l) => log.push(l), ...extra });
  return { pool, asked, store, log };
}

function target(sshd: Sshd, name = 'node1', more: Partial<SshTarget> = {}): SshTarget {
  return { name, host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.clientKey, ...more };
}

async function rejectsWith(p: Promise<unknown>, kind: string): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RemoteError, `expected a RemoteError, got ${String(e)}`);
    assert.equal(e.kind, kind, `kind; message was: ${e.message}`);
    return e;
  }
  assert.fail(`expected a ${kind} RemoteError, but it resolved`);
}

/** A command that prints how many copies of itself (same tag) run right now, then runs 0.3 s more. */
function concurrencyProbe(sshd: Sshd, tag: string): string {
  const marker = path.join(sshd.dir, `concurrency-${tag}-${process.pid}`);
  return sh`echo x >> ${marker}.start; n=$(wc -l < ${marker}.start); m=$(wc -l < ${marker}.end 2>/dev/null || echo 0); echo $((n - m)); sleep 0.3; echo x >> ${marker}.end`.text;
}

describe('SSH transport against a real sshd', { skip }, () => {
  let sshd: Sshd;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  test('exec: exit codes, stdout/stderr streaming, stdin', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      const chunks: string[] = [];
      const res = await t.exec('echo out; echo err >&2; exit 3', { onStdout: (c) => chunks.push(c) });
      assert.equal(res.code, 3);
      assert.equal(res.stdout, 'out\n');
      assert.equal(res.stderr, 'err\n');
      assert.equal(chunks.join(''), 'out\n');
      assert.ok(res.durationMs >= 0);
      const cat = await t.exec('cat; echo done', { stdin: 'héllo\n' });
      assert.equal(cat.stdout, 'héllo\ndone\n');
      assert.equal(cat.code, 0);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('stdout streams while the command runs, before it ends', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      let firstAt = 0;
      const res = await t.exec('echo first; sleep 1; echo second', {
        onStdout: (c) => {
          if (!firstAt && c.includes('first')) firstAt = Date.now();
        },
      });
      const endAt = Date.now();
      assert.equal(res.stdout, 'first\nsecond\n');
      assert.ok(firstAt > 0 && endAt - firstAt >= 800, `first chunk came ${endAt - firstAt} ms before the end`);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('a lost connection fails the running command with "unreachable" and the next exec reconnects', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      // The parent of the session shell is sshd's per-connection process; killing it drops the TCP connection.
      const before = (await t.exec('echo "$SSH_CONNECTION"')).stdout.split(' ')[1];
      const running = t.exec('sleep 5');
      const sessionPid = (await t.exec('echo $PPID')).stdout.trim();
      assert.match(sessionPid, /^\d+$/);
      process.kill(Number(sessionPid), 'SIGKILL');
      await rejectsWith(running, 'unreachable');
      const after = (await t.exec('echo "$SSH_CONNECTION"')).stdout.split(' ')[1];
      assert.notEqual(after, before, 'a new connection (new source port)');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('keepalive notices a frozen server: the exec fails as "unreachable" long before its own timeout', async () => {
    const r = rig(sshd, 'once', { keepaliveIntervalMs: 300, keepaliveCountMax: 2 });
    const t = r.pool.transport(target(sshd));
    let frozen = 0;
    try {
      frozen = Number((await t.exec('echo $PPID')).stdout.trim());
      assert.ok(frozen > 1);
      process.kill(frozen, 'SIGSTOP');
      const started = Date.now();
      const err = await rejectsWith(t.exec('echo never', { timeoutMs: 60_000 }), 'unreachable');
      assert.ok(Date.now() - started < 10_000, `noticed after ${Date.now() - started} ms`);
      assert.match(err.message, /node1/);
    } finally {
      if (frozen > 1) {
        process.kill(frozen, 'SIGKILL');
        process.kill(frozen, 'SIGCONT');
      }
      await r.pool.closeAll();
    }
  });

  test('a host name that does not resolve is "unreachable" and says so', async () => {
    const r = rig(sshd, 'once', { connectTimeoutMs: 8000 });
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd, 'ghost', { host: 'no-such-node.invalid' })).exec('true'), 'unreachable');
      assert.match(err.message, /ghost.*no-such-node\.invalid.*does not resolve/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('one TCP connection serves many channels (the source port stays the same)', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      const ports = new Set<string>();
      for (let i = 0; i < 5; i++) ports.add((await t.exec('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[1] as string);
      const parallel = await Promise.all(Array.from({ length: 5 }, () => t.exec('echo "$SSH_CONNECTION"')));
      for (const p of parallel) ports.add(p.stdout.trim().split(' ')[1] as string);
      assert.equal(ports.size, 1, `source ports: ${[...ports].join(', ')}`);
      assert.equal(r.pool.transport(target(sshd)), t, 'the pool hands out the same transport for the same node');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('25 parallel execs on one node all succeed (queued under MaxSessions 10)', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      const results = await Promise.all(Array.from({ length: 25 }, () => t.exec(concurrencyProbe(sshd, 'ms10'))));
      assert.equal(results.length, 25);
      for (const res of results) assert.equal(res.code, 0, res.stderr);
      const peak = Math.max(...results.map((res) => Number(res.stdout.trim())));
      // 8 channels per connection, one of them kept for kills: at most 7 commands at once.
      assert.ok(peak <= 7, `peak concurrency ${peak} stayed within the cap`);
      assert.ok(peak >= 2, `channels really ran in parallel (peak ${peak})`);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('exec timeout stops the remote command', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const marker = path.join(sshd.dir, 'timeout-marker');
    try {
      const started = Date.now();
      const err = await rejectsWith(t.exec(sh`while :; do date +%s%N > ${marker}; sleep 0.1; done`.text, { timeoutMs: 700 }), 'timeout');
      assert.ok(Date.now() - started < 6000, 'gave up promptly');
      assert.match(err.message, /node1/);
      const a = fs.readFileSync(marker, 'utf8');
      await new Promise((res) => setTimeout(res, 600));
      assert.equal(fs.readFileSync(marker, 'utf8'), a, 'the loop no longer writes its marker');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('cancellation really kills the remote command (checked through a second channel)', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const tag = `ucdcancel${process.pid}${Date.now()}`;
    // The sleeps' own arguments are unique too: pgrep sees every process of the machine.
    const stamp = `${process.pid}${Date.now() % 100000}`;
    try {
      const ac = new AbortController();
      const running = t.exec(`sh -c 'sleep 300.${stamp}; echo ${tag}' & sleep 301.${stamp}; echo ${tag}`, { signal: ac.signal, timeoutMs: 60_000 });
      // Wait until it runs on the node.
      for (let i = 0; i < 50; i++) {
        const ps = await t.exec(`pgrep -f ${tag} || true`);
        if (ps.stdout.trim() !== '') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.notEqual((await t.exec(`pgrep -f 'sleep 30[01][.]${stamp}' || true`)).stdout.trim(), '', 'the sleeps run before we cancel');
      ac.abort();
      await rejectsWith(running, 'cancelled');
      const left = await t.exec(`pgrep -af ${tag}; pgrep -x sleep -a | grep -E 'sleep 30[01][.]${stamp}$' || true`);
      assert.equal(left.stdout.replace(/^.*pgrep.*$/gm, '').trim(), '', 'no sleep of the cancelled command is left');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('cancelling 12 running commands at once kills all of them (kills are not blocked by the full queue)', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    // A separate connection watches: this node's own queue is full of sleeps.
    const watcher = rig(sshd, 'once').pool;
    const w = watcher.transport(target(sshd, 'watcher'));
    const tag = `ucdmany${process.pid}`;
    try {
      const ac = new AbortController();
      const runs = Array.from({ length: 12 }, (_, i) => t.exec(`exec -a ${tag}-${i} sleep 300`, { signal: ac.signal, timeoutMs: 60_000 }));
      let running = '';
      // 8 channels, one kept for kills: 7 run, 5 wait in the queue.
      for (let i = 0; i < 50 && running !== '7'; i++) {
        running = (await w.exec(`pgrep -c -f '^${tag}-' || true`)).stdout.trim();
        if (running !== '7') await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(running, '7', '7 run (the cap), 5 wait in the queue');
      ac.abort();
      const outcomes = await Promise.allSettled(runs);
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected');
        assert.equal((o as PromiseRejectedResult).reason.kind, 'cancelled');
      }
      assert.equal((await w.exec(`pgrep -af '^${tag}-' || true`)).stdout.trim(), '', 'nothing left running');
    } finally {
      await r.pool.closeAll();
      await watcher.closeAll();
    }
  });

  test('cancelling right after the call (before the channel is open) still stops the command', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const marker = path.join(sshd.dir, 'early-cancel');
    try {
      await t.connect();
      const ac = new AbortController();
      const run = t.exec(sh`sleep 1; touch ${marker}`.text, { signal: ac.signal });
      setImmediate(() => ac.abort());
      await rejectsWith(run, 'cancelled');
      await new Promise((res) => setTimeout(res, 1500));
      assert.equal(fs.existsSync(marker), false, 'the command never got to touch its marker');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('unknown host key: the prompt gets the SHA256 fingerprint ssh-keygen prints; cancel declines', async () => {
    const r = rig(sshd, 'cancel');
    const t = r.pool.transport(target(sshd));
    try {
      const logins = (sshd.log().match(/Accepted publickey/g) ?? []).length;
      const err = await rejectsWith(t.exec('true'), 'hostkey-unknown-declined');
      assert.equal(r.asked.length, 1);
      const q = r.asked[0] as HostKeyQuestion;
      assert.equal(q.fingerprintSha256, sshKeygenFingerprint(sshd.hostKeyPub));
      assert.equal(q.keyType, 'ssh-ed25519');
      assert.equal(q.port, sshd.port);
      assert.equal(q.node, 'node1');
      assert.ok(err.message.includes(q.fingerprintSha256));
      assert.equal(fs.existsSync(r.store), false, 'nothing stored');
      // Declined before authentication: sshd never saw a login attempt.
      assert.equal((sshd.log().match(/Accepted publickey/g) ?? []).length, logins);
    } finally {
      await r.pool.closeAll();
    }
  });

  test("'always' stores the key and a later connection is not asked again", async () => {
    const r = rig(sshd, 'always');
    try {
      await r.pool.transport(target(sshd)).exec('true');
      assert.equal(r.asked.length, 1);
      assert.match(fs.readFileSync(r.store, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
      await r.pool.closeAll();
      const again = r.pool.transport(target(sshd));
      assert.equal((await again.exec('echo again')).stdout, 'again\n');
      assert.equal(r.asked.length, 1, 'not asked a second time');
    } finally {
      await r.pool.closeAll();
    }
  });

  test("'once' connects but stores nothing", async () => {
    const r = rig(sshd, 'once');
    try {
      assert.equal((await r.pool.transport(target(sshd)).exec('echo hi')).stdout, 'hi\n');
      assert.equal(fs.existsSync(r.store), false);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('known key in ~/.ssh/known_hosts (hashed by ssh-keygen -H): connects without asking', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kh-'));
    const kh = path.join(dir, 'known_hosts');
    fs.writeFileSync(kh, sshd.knownHostsLine + '\n');
    require('node:child_process').execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
    assert.match(fs.readFileSync(kh, 'utf8'), /^\|1\|/);
    const r = rig(sshd, 'cancel', { knownHosts: [kh] });
    try {
      assert.equal((await r.pool.transport(target(sshd)).exec('echo ok')).stdout, 'ok\n');
      assert.equal(r.asked.length, 0);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('changed host key: refused with both fingerprints, the prompt is not called, nothing is sent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-kh-'));
    const other = keygen(path.join(dir, 'other'), 'ed25519');
    const kh = path.join(dir, 'known_hosts');
    const [type, b64] = other.publicKeyLine.split(' ');
    fs.writeFileSync(kh, `[127.0.0.1]:${sshd.port} ${type} ${b64}\n`);
    const r = rig(sshd, 'always', { knownHosts: [kh] });
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd)).exec('true'), 'hostkey-changed');
      assert.equal(r.asked.length, 0, 'never asked');
      const presented = sshKeygenFingerprint(sshd.hostKeyPub);
      const known = sshKeygenFingerprint(`${other.privateKey}.pub`);
      assert.ok(err.message.includes(presented), err.message);
      assert.ok(err.message.includes(known), err.message);
      assert.match(err.hint, /ssh-keygen -R/);
      assert.equal(fs.existsSync(r.store), false);
      assert.equal((sshd.log().match(/Accepted publickey/g) ?? []).length, before, 'no login happened');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('auth failure names the user and every method tried', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-key-'));
    const stranger = keygen(path.join(dir, 'stranger'));
    const r = rig(sshd, 'once');
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd, 'node1', { identityFile: stranger.privateKey })).exec('true'), 'auth');
      assert.match(err.message, new RegExp(`as ${sshd.user}`));
      assert.ok(err.message.includes(`key ${stranger.privateKey}`), err.message);
      assert.match(err.hint, /authorized_keys/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('connection refused on a closed port', async () => {
    const port = await freePort();
    const r = rig(sshd, 'once');
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd, 'node9', { port })).exec('true'), 'refused');
      assert.match(err.message, /node9/);
      assert.match(err.hint, /sshd/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('connect timeout when the server never answers the handshake', async () => {
    // A listener that accepts and says nothing: the TCP connect works, the SSH banner never comes.
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const r = rig(sshd, 'once', { connectTimeoutMs: 600 });
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd, 'node8', { port })).exec('true'), 'timeout');
      assert.match(err.message, /node8/);
    } finally {
      await r.pool.closeAll();
      silent.close();
    }
  });

  test('a hostile install dir is one quoted word: no command runs, the literal path arrives', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const marker = path.join(sshd.dir, 'pwned');
    const installDir = `/opt/ucd; touch ${marker}`;
    const weird = [installDir, `it's "q" $(touch ${marker}) \`touch ${marker}\` $HOME`, 'line1\nline2', 'ünïcødé ✓ 日本'];
    try {
      for (const v of weird) {
        const res = await t.exec(sh`printf '%s' ${v}`.text);
        assert.equal(res.stdout, v);
      }
      const res = await t.exec(sh`test -d ${installDir} || echo "no such dir: "${installDir}`.text);
      assert.equal(res.stdout, `no such dir: ${installDir}\n`);
      assert.equal(fs.existsSync(marker), false, 'the marker was never created');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('sftp upload with progress', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-up-')), 'pkg.zip');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    fs.writeFileSync(local, data);
    const remote = path.join(sshd.dir, 'uploaded.zip');
    const progress: number[] = [];
    try {
      const res = await t.upload(local, remote, { onProgress: (sent) => progress.push(sent) });
      assert.equal(res.bytes, data.length);
      assert.ok(fs.readFileSync(remote).equals(data));
      assert.ok(progress.length >= 2, 'progress reported more than once');
      assert.equal(progress[progress.length - 1], data.length);
      for (let i = 1; i < progress.length; i++) assert.ok((progress[i] as number) >= (progress[i - 1] as number));
    } finally {
      await r.pool.closeAll();
    }
  });

  test('execPty: a terminal session with input, output and exit code', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      const pty = await t.execPty('read -r name; echo "hello $name"; test -t 0 && echo tty; exit 4', { rows: 30, cols: 100 });
      let out = '';
      pty.onData((c) => (out += c));
      pty.write('world\n');
      const exit = await pty.exit;
      assert.equal(exit.code, 4);
      assert.match(out, /hello world/);
      assert.match(out, /tty/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('command not found becomes a command-not-found error when asked', async () => {
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    try {
      assert.equal((await t.exec('no-such-tool-xyz')).code, 127);
      const err = await rejectsWith(t.exec('no-such-tool-xyz', { commandNotFoundIsError: true }), 'command-not-found');
      assert.match(err.message, /no-such-tool-xyz/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('nodes in parallel: two servers, one pool', async () => {
    const second = await startSshd({ hostKeyType: 'ecdsa' });
    const r = rig(sshd, 'once');
    try {
      const [a, b] = await Promise.all([r.pool.transport(target(sshd, 'n1')).exec('sleep 0.5; echo a'), r.pool.transport(target(second, 'n2')).exec('sleep 0.5; echo b')]);
      assert.equal(a.stdout + b.stdout, 'a\nb\n');
      assert.deepEqual(r.asked.map((q) => q.keyType).sort(), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    } finally {
      await r.pool.closeAll();
      await second.stop();
    }
  });

  test('ssh-agent is tried first and works (no key file given)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-agent-'));
    const sock = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !fs.existsSync(sock); i++) await new Promise((res) => setTimeout(res, 50));
      execFileSync('ssh-add', [sshd.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const r = rig(sshd, 'once', { agentSocket: sock });
      try {
        const t = r.pool.transport(target(sshd, 'node1', { identityFile: path.join(dir, 'no-such-key') }));
        assert.equal((await t.exec('echo agent')).stdout, 'agent\n');
      } finally {
        await r.pool.closeAll();
      }
    } finally {
      agent.kill();
    }
  });

  test('encrypted key: passphrase asked once, kept in the SecretSource, never in a file or the log', async () => {
    const passphrase = 'Sekr1t pass-phrase \u00e9';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-enc-'));
    const enc = keygen(path.join(dir, 'enc_key'), 'ed25519', passphrase);
    sshd.authorize(sshd.user, enc.publicKeyLine);
    const secrets = new MemorySecrets([passphrase]);
    const r = rig(sshd, 'once', { secrets });
    try {
      await Promise.all([
        r.pool.transport(target(sshd, 'a', { identityFile: enc.privateKey })).exec('true'),
        r.pool.transport(target(sshd, 'b', { identityFile: enc.privateKey })).exec('true'),
      ]);
      assert.equal(secrets.asked.length, 1, 'asked once for two nodes connecting together');
      assert.equal(await secrets.get(`ssh-key-passphrase:${enc.privateKey}`), passphrase);
      await r.pool.closeAll();
      await r.pool.transport(target(sshd, 'c', { identityFile: enc.privateKey })).exec('true');
      assert.equal(secrets.asked.length, 1, 'a new connection uses the stored passphrase');
      assert.ok(!r.log.join('\n').includes(passphrase), 'not in the log');
      assert.ok(!fs.readdirSync(dir).some((f) => fs.readFileSync(path.join(dir, f), 'utf8').includes(passphrase)), 'not in a file');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('a wrong passphrase three times: auth error without the secret in it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-enc-'));
    const enc = keygen(path.join(dir, 'enc_key'), 'ed25519', 'right-one');
    const wrong = 'wrong-guess-1234';
    const secrets = new MemorySecrets([wrong, wrong, wrong]);
    const r = rig(sshd, 'once', { secrets });
    try {
      const err = await rejectsWith(r.pool.transport(target(sshd, 'node1', { identityFile: enc.privateKey })).exec('true'), 'auth');
      assert.equal(secrets.asked.length, 3);
      assert.match(err.message, /wrong passphrase/);
      assert.ok(!`${err.message} ${err.hint} ${r.log.join('\n')}`.includes(wrong));
      assert.equal(await secrets.get(`ssh-key-passphrase:${enc.privateKey}`), undefined, 'a wrong passphrase is not stored');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('~/.ssh/config alias: HostName, Port, User and IdentityFile (with ~ and %h) are honoured', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-home-'));
    fs.mkdirSync(path.join(home, '.ssh'));
    fs.copyFileSync(sshd.clientKey, path.join(home, '.ssh', 'key-127.0.0.1'));
    fs.chmodSync(path.join(home, '.ssh', 'key-127.0.0.1'), 0o600);
    const config = path.join(home, '.ssh', 'config');
    fs.writeFileSync(config, `Host ucd-*\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ~/.ssh/key-%h\n`);
    const r = rig(sshd, 'once', { sshConfigFile: config, home });
    try {
      const t = r.pool.transport({ name: 'n1', host: 'ignored.invalid', sshAlias: 'ucd-node1' });
      assert.equal((await t.exec('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[3], String(sshd.port));
      assert.equal(r.asked[0]?.host, '127.0.0.1', 'the host key is checked for the real HostName');
    } finally {
      await r.pool.closeAll();
    }
  });

  test('ProxyJump: a chain of two jump hosts reaches the node, every hop host-key checked', async () => {
    const target2 = await startSshd({ hostKeyType: 'rsa' });
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-home-'));
    fs.mkdirSync(path.join(home, '.ssh'));
    const config = path.join(home, '.ssh', 'config');
    target2.authorize(target2.user, fs.readFileSync(`${sshd.clientKey}.pub`, 'utf8').trim());
    fs.writeFileSync(
      config,
      [
        'Host jump1 jump2',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        `  IdentityFile ${sshd.clientKey}`,
        'Host behind',
        '  HostName 127.0.0.1',
        `  Port ${target2.port}`,
        `  ProxyJump ${sshd.user}@jump1,jump2:${sshd.port}`,
        `  IdentityFile ${sshd.clientKey}`,
        '',
      ].join('\n'),
    );
    const r = rig(sshd, 'once', { sshConfigFile: config, home });
    try {
      const t = r.pool.transport({ name: 'deep', host: 'behind' });
      const res = await t.exec('echo "$SSH_CONNECTION"');
      assert.equal(res.stdout.trim().split(' ')[3], String(target2.port));
      assert.deepEqual(
        r.asked.map((q) => `${q.node} ${q.port} ${q.keyType}`),
        [`deep via jump1 ${sshd.port} ssh-ed25519`, `deep via jump2 ${sshd.port} ssh-ed25519`, `deep ${target2.port} ssh-rsa`],
      );
    } finally {
      await r.pool.closeAll();
      await target2.stop();
    }
  });
});

/** A SecretSource in memory that answers prompts from a script. */
class MemorySecrets implements SecretSource {
  readonly asked: string[] = [];
  private readonly map = new Map<string, string>();
  constructor(private readonly answers: (string | undefined)[]) {}
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.map.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
  async ask(prompt: string): Promise<string | undefined> {
    this.asked.push(prompt);
    return this.answers.shift();
  }
}

describe('password and keyboard-interactive against a real sshd (PAM)', { skip }, () => {
  const password = `pw-${process.pid}-'"$(x)`;
  let sshd: Sshd;
  let user: string;
  before(async () => {
    user = ensurePasswordUser(password);
    sshd = await startSshd({ passwordAuth: true, keyboardInteractive: true });
  });
  after(async () => {
    await sshd?.stop();
  });

  function prompts(answers: { pw?: (string | undefined)[]; kbd?: (string[] | undefined)[] }): AuthPrompt & { pwAsked: number; kbdAsked: string[] } {
    const p = {
      pwAsked: 0,
      kbdAsked: [] as string[],
      password: async () => {
        p.pwAsked++;
        return answers.pw?.shift();
      },
      keyboardInteractive: async (q: { prompts: readonly { prompt: string }[] }) => {
        p.kbdAsked.push(...q.prompts.map((x) => x.prompt));
        return answers.kbd?.shift();
      },
    };
    return p;
  }

  test('password auth works; the password is asked for, used, and appears nowhere', async () => {
    const ap = prompts({ pw: [password] });
    const r = rig(sshd, 'once', { authPrompt: ap });
    try {
      const res = await r.pool.transport({ name: 'pw', host: sshd.host, port: sshd.port, user }).exec('id -un');
      assert.equal(res.stdout, `${user}\n`);
      assert.equal(ap.pwAsked, 1);
      assert.ok(!r.log.join('\n').includes(password));
    } finally {
      await r.pool.closeAll();
    }
  });

  test('keyboard-interactive works when password is declined', async () => {
    const ap = prompts({ pw: [undefined], kbd: [[password]] });
    const r = rig(sshd, 'once', { authPrompt: ap });
    try {
      const res = await r.pool.transport({ name: 'kbd', host: sshd.host, port: sshd.port, user }).exec('id -un');
      assert.equal(res.stdout, `${user}\n`);
      assert.match(ap.kbdAsked.join(' '), /assword/);
    } finally {
      await r.pool.closeAll();
    }
  });

  test('wrong passwords: auth error lists the methods and never contains the secrets', async () => {
    const wrong = ['nope-1-secret', 'nope-2-secret', 'nope-3-secret'];
    const ap = prompts({ pw: [...wrong], kbd: [['nope-4-secret']] });
    const r = rig(sshd, 'once', { authPrompt: ap, connectTimeoutMs: 30_000 });
    try {
      const err = await rejectsWith(r.pool.transport({ name: 'pw', host: sshd.host, port: sshd.port, user }).exec('true'), 'auth');
      assert.match(err.message, /tried: .*password, keyboard-interactive/);
      const all = `${err.message} ${err.hint} ${r.log.join('\n')}`;
      for (const w of [...wrong, 'nope-4-secret']) assert.ok(!all.includes(w), `${w} leaked`);
    } finally {
      await r.pool.closeAll();
    }
  });
});

// Hardened sshd configurations allow fewer sessions per connection than our default cap: the
// server's refusal is back-pressure, never a failed command.
describe('SSH transport against an sshd that allows fewer sessions (MaxSessions 2, 1, 0)', { skip }, () => {
  for (const maxSessions of [2, 1]) {
    test(`25 parallel execs on one node all succeed under MaxSessions ${maxSessions}, and the pool learns the limit`, async () => {
      const sshd = await startSshd({ maxSessions });
      const r = rig(sshd, 'once');
      const t = r.pool.transport(target(sshd));
      try {
        const results = await Promise.all(Array.from({ length: 25 }, () => t.exec(concurrencyProbe(sshd, `ms${maxSessions}`))));
        for (const res of results) assert.equal(res.code, 0, res.stderr);
        const peak = Math.max(...results.map((res) => Number(res.stdout.trim())));
        assert.ok(peak <= maxSessions, `peak concurrency ${peak} within MaxSessions ${maxSessions}`);
        assert.ok(
          r.log.some((l) => l.includes(`now at most ${maxSessions} at once`)),
          `the pool logged the limit it learned; log:\n${r.log.join('\n')}`,
        );
        assert.match(sshd.log(), /too many sessions|no more sessions|session open failed/i, 'the server did refuse (the test exercised the back-pressure)');
      } finally {
        await r.pool.closeAll();
        await sshd.stop();
      }
    });
  }

  test('under MaxSessions 1, uploads and commands side by side all succeed: the SFTP channel takes a slot, a refused open waits, and the slot is held until the channel closed', async () => {
    const sshd = await startSshd({ maxSessions: 1 });
    const r = rig(sshd, 'once', { maxChannels: 1 });
    const t = r.pool.transport(target(sshd));
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-up-')), 'pkg.zip');
    fs.writeFileSync(local, Buffer.alloc(256 * 1024, 3));
    try {
      for (let i = 0; i < 8; i++) {
        const [, after] = await Promise.all([t.upload(local, path.join(sshd.dir, `up-${i}.zip`)), t.exec('echo after')]);
        assert.equal(after.stdout, 'after\n');
      }
      // A slot freed while its channel was still open shows as the pool learning a lower limit.
      assert.ok(!r.log.some((l) => /now at most/.test(l)), `the pool learned a lower limit than it was given:\n${r.log.join('\n')}`);
    } finally {
      await r.pool.closeAll();
      await sshd.stop();
    }
  });

  test('under MaxSessions 2, a cancelled command is killed on the channel kept for kills while others queue', async () => {
    const sshd = await startSshd({ maxSessions: 2 });
    const r = rig(sshd, 'once');
    const t = r.pool.transport(target(sshd));
    const marker = path.join(sshd.dir, 'cancel-marker');
    try {
      // Teach the pool the limit first, so the long command and the queue meet a known cap.
      await Promise.all(Array.from({ length: 4 }, () => t.exec('true')));
      assert.ok(r.log.some((l) => l.includes('now at most 2 at once')), `learned the limit; log:\n${r.log.join('\n')}`);
      const ac = new AbortController();
      const long = t.exec(sh`while :; do date +%s%N > ${marker}; sleep 0.1; done`.text, { signal: ac.signal });
      const queued = Array.from({ length: 5 }, () => t.exec('echo queued'));
      await waitUntil(() => fs.existsSync(marker), 'the long command wrote its marker');
      ac.abort();
      await rejectsWith(long, 'cancelled');
      const a = fs.readFileSync(marker, 'utf8');
      await new Promise((res) => setTimeout(res, 600));
      assert.equal(fs.readFileSync(marker, 'utf8'), a, 'the loop was killed: its marker no longer changes');
      for (const q of await Promise.all(queued)) assert.equal(q.stdout, 'queued\n');
    } finally {
      await r.pool.closeAll();
      await sshd.stop();
    }
  });

  test('MaxSessions 0: the exec fails with a clear error naming the node and MaxSessions, after its deadline', async () => {
    const sshd = await startSshd({ maxSessions: 0 });
    const r = rig(sshd, 'once', { refusedChannelDeadlineMs: 1500 });
    const t = r.pool.transport(target(sshd));
    try {
      const started = Date.now();
      const err = await rejectsWith(t.exec('true'), 'protocol');
      assert.ok(Date.now() - started >= 1500, 'it waited out the deadline first');
      assert.match(err.message, /Node node1 refused every new SSH session for 2 s, even with no other session of ours open/);
      assert.match(err.hint ?? '', /MaxSessions/);
    } finally {
      await r.pool.closeAll();
      await sshd.stop();
    }
  });
});

async function waitUntil(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
