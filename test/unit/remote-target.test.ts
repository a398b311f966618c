import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostKeyPolicy } from '../../src/core/remote/hostKeys';
import { SshPool, targetFromNode } from '../../src/core/remote/ssh';
import { authFailedError, connectError } from '../../src/core/remote/sshErrors';

const base = { name: 'n1', host: 'h1', sshPort: 22, os: 'linux' as const };

test('targetFromNode: explicit values win; an alias keeps its own Port unless the node sets one', () => {
  assert.deepEqual(targetFromNode(base), { name: 'n1', host: 'h1', port: 22, shell: 'posix' });
  assert.deepEqual(targetFromNode({ ...base, sshAlias: 'a', sshPort: 22 }), { name: 'n1', host: 'h1', sshAlias: 'a', shell: 'posix' });
  assert.equal(targetFromNode({ ...base, sshAlias: 'a', sshPort: 2222 }).port, 2222);
  assert.equal(targetFromNode({ ...base, os: 'windows' }).shell, 'windows');
  assert.equal(targetFromNode({ ...base, user: 'u', identityFile: '~/.ssh/k' }).identityFile, '~/.ssh/k');
});

test('ssh config is resolved per hop, defaults fill in, and an edited file is re-read', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-target-'));
  const cfg = path.join(home, 'config');
  fs.writeFileSync(cfg, 'Host a\n  HostName 10.0.0.1\n  User admin\n  Port 2200\n  IdentityFile ~/k1\n');
  const pool = new SshPool({
    hostKeys: new HostKeyPolicy({ knownHostsFiles: [], storeFile: path.join(home, 'kh'), prompt: async () => 'cancel' }),
    sshConfigFile: cfg,
    home,
    localUser: 'me',
  });
  const a = pool.hop('n1', 'a', {}).hop;
  assert.deepEqual([a.host, a.port, a.user, [...a.identityFiles]], ['10.0.0.1', 2200, 'admin', [`${home}/k1`]]);
  const explicit = pool.hop('n1', 'a', { port: 22, user: 'root', identityFile: '~/k0' }).hop;
  assert.deepEqual([explicit.port, explicit.user, [...explicit.identityFiles]], [22, 'root', [`${home}/k0`, `${home}/k1`]]);
  const plain = pool.hop('n2', 'b', {}).hop;
  assert.deepEqual([plain.host, plain.port, plain.user], ['b', 22, 'me']);
  assert.deepEqual([...plain.identityFiles], ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(home, '.ssh', f)));
  assert.equal(plain.explicitIdentityFiles.size, 0, 'default keys are not "explicit": a missing one is not reported');
  fs.writeFileSync(cfg, 'Host a\n  HostName 10.0.0.2\n');
  fs.utimesSync(cfg, new Date(), new Date(Date.now() + 5000));
  assert.equal(pool.hop('n1', 'a', {}).hop.host, '10.0.0.2');
});

test('socket errors map to the kinds a user can act on, naming the node', () => {
  const ctx = { node: 'n3', host: 'h3', port: 2222, user: 'u', via: '' };
  const err = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code });
  assert.equal(connectError(err('ECONNREFUSED'), ctx).kind, 'refused');
  for (const c of ['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']) {
    const e = connectError(err(c), ctx);
    assert.equal(e.kind, 'unreachable', c);
    assert.match(e.message, /n3/);
    assert.ok(e.hint.length > 10);
  }
  assert.equal(connectError(err('ETIMEDOUT'), ctx).kind, 'timeout');
  assert.equal(connectError(new Error('weird'), ctx).kind, 'protocol');
  const auth = authFailedError(ctx, ['ssh-agent', 'key /k']);
  assert.equal(auth.kind, 'auth');
  assert.match(auth.message, /as u on node n3 .*tried: ssh-agent, key \/k/);
  assert.match(authFailedError(ctx, []).message, /tried: nothing/);
});
