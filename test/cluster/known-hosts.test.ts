// Host keys by name against the cluster's real sshd: a node written in capitals in the cluster
// file is found in a hashed known_hosts (which holds the lower-case name, as ssh writes it), and
// the machine-wide /etc/ssh/ssh_known_hosts is read with its @revoked lines. The name resolves
// through /etc/hosts, so each connection runs in a child process with its own mount namespace
// where /etc/hosts and /etc/ssh are this test's files; the machine's own are never touched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterPrerequisites, startCluster, type TestCluster } from './harness';

const skip = clusterPrerequisites();
const NAME = 'UCD1.Example.test';

interface Outcome {
  readonly ok: boolean;
  readonly kind?: string;
  readonly message?: string;
  readonly asked: number;
  readonly log: readonly string[];
}

// Runs in the child: one connection through the core's SshPool, then a JSON line with the outcome.
const CHILD = `
const [core, spec] = [process.argv[1], JSON.parse(process.argv[2])];
const { HostKeyPolicy } = require(core + '/remote/hostKeys.js');
const { SshPool, targetFromNode } = require(core + '/remote/ssh.js');
(async () => {
  let asked = 0;
  const log = [];
  const hostKeys = new HostKeyPolicy({ knownHostsFiles: spec.knownHosts, storeFile: spec.store, prompt: async () => (asked++, 'always'), log: (l) => log.push(l) });
  const pool = new SshPool({ hostKeys, sshConfigFile: null, agentSocket: null, connectTimeoutMs: 5000 });
  let out;
  try {
    const t = await pool.transport(targetFromNode(spec.node));
    const r = await t.exec('hostname');
    out = { ok: r.code === 0, message: r.stdout.trim(), asked, log };
  } catch (e) {
    out = { ok: false, kind: e.kind, message: e.message, asked, log };
  }
  await pool.closeAll();
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

function connectByName(tc: TestCluster, opts: { knownHosts: string; globalKnownHosts?: string }): Promise<Outcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-khname-'));
  fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost\n${tc.nodes[0].host} ${NAME}\n`);
  const etcSsh = path.join(dir, 'etc-ssh');
  fs.mkdirSync(etcSsh);
  if (opts.globalKnownHosts !== undefined) fs.writeFileSync(path.join(etcSsh, 'ssh_known_hosts'), opts.globalKnownHosts);
  const spec = {
    knownHosts: [opts.knownHosts],
    store: path.join(dir, 'store', 'known_hosts'),
    node: { name: 'ucd1', host: NAME, sshPort: 22, user: tc.user, identityFile: tc.identityFile, os: 'linux' },
  };
  const core = path.resolve(__dirname, '../../src/core');
  const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/ssh && shift 2 && exec "$@"';
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', path.join(dir, 'hosts'), etcSsh, process.execPath, '-e', CHILD, core, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the connection to ${NAME} gave no outcome within 30 s; stderr: ${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Outcome);
      } catch {
        reject(new Error(`the child exited ${code} without an outcome; stdout: ${stdout} stderr: ${stderr}`));
      }
    });
  });
}

/** `ssh-keygen -H` of lines for the lower-case name, as ssh with HashKnownHosts leaves them. */
function hashed(file: string, keyOf: string): string {
  fs.writeFileSync(file, `${NAME.toLowerCase()} ${keyOf}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^\|1\|/, 'the line is hashed');
  assert.ok(!text.includes(NAME.toLowerCase()), 'no plain name left');
  return file;
}

describe('host keys by name against a real sshd', { skip, concurrency: 1 }, () => {
  let tc: TestCluster;
  let keyOf: (node: number) => string;
  before(async () => {
    tc = await startCluster({ nodes: 2 });
    const lines = fs.readFileSync(tc.knownHostsFile, 'utf8').trim().split('\n');
    keyOf = (i) => {
      const line = lines.find((l) => l.startsWith(`${tc.nodes[i].host} `));
      assert.ok(line, `the harness knows node ${i}'s key`);
      return line.split(' ').slice(1).join(' ');
    };
  });
  after(async () => {
    await tc?.stop();
  });

  test('a node written in capitals is known by its hashed line and connects without a question', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-khname-'));
    const r = await connectByName(tc, { knownHosts: hashed(path.join(dir, 'known_hosts'), keyOf(0)) });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.message, 'ucd1', 'it reached ucd1');
    assert.equal(r.asked, 0, 'a known key is not a question');
  });

  test('a changed key for a node written in capitals is refused, not offered for acceptance', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-khname-'));
    // The hashed line holds ucd2's key for the name: ucd1's real key is a changed key.
    const r = await connectByName(tc, { knownHosts: hashed(path.join(dir, 'known_hosts'), keyOf(1)) });
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.kind, 'hostkey-changed', r.message);
    assert.match(r.message ?? '', /HOST KEY CHANGED for node ucd1/);
    assert.equal(r.asked, 0, 'never offered for acceptance');
  });

  test('a key the machine-wide ssh_known_hosts marks @revoked is refused loudly, even if the user\'s file knows it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-khname-'));
    const r = await connectByName(tc, {
      knownHosts: hashed(path.join(dir, 'known_hosts'), keyOf(0)),
      globalKnownHosts: `# machine-wide\n@revoked * ${keyOf(0)}\n@cert-authority *.example.test ${keyOf(1)}\n`,
    });
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.kind, 'hostkey-revoked', r.message);
    assert.match(r.message ?? '', /line 2 of \/etc\/ssh\/ssh_known_hosts marks @revoked\. Not connecting/);
    assert.equal(r.asked, 0);
    assert.ok(r.log.some((l) => /@cert-authority line\(s\) cover ucd1\.example\.test; host certificates are not checked/i.test(l)), r.log.join('\n'));
  });

  test('a key only the machine-wide file lists is known', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-khname-'));
    const r = await connectByName(tc, { knownHosts: path.join(dir, 'none'), globalKnownHosts: `${NAME.toLowerCase()} ${keyOf(0)}\n` });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.asked, 0);
  });
});
