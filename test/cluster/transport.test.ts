// The SSH transport against a real Debian sshd on loopback (test/support/sshd.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import type { HostKeyAnswer, HostKeyQuestion } from '../../src/core/remote/interaction';
import { SshPool, type SshPoolOptions, type SshTarget } from '../../src/core/remote/ssh';
import { RemoteError } from '../../src/core/remote/transport';
import { sshdSkipReason, sshKeygenFingerprint, startSshd, type Sshd } from '../support/sshd';

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
});
