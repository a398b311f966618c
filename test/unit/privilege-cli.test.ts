// The command line's sudo password: from a descriptor or the variable the file names, never a value.
import assert from 'node:assert/strict';
import test from 'node:test';
import { parseArgs } from '../../src/cli/args';
import { sudoPasswordsFromEnv } from '../../src/core/remote/sudoPasswords';
import type { ClusterNode } from '../../src/core/cluster/types';

const node = (passwordEnv?: string): ClusterNode => ({ name: 'ucd1', host: 'h', sshPort: 22, os: 'linux', installDir: '/opt/ucd/server', httpsPort: 8443, jmsPort: 7918, startCommand: 's', stopCommand: 't', service: { manager: 'auto' }, rights: { privilege: { method: 'sudo', as: 'root', password: true, ...(passwordEnv ? { passwordEnv } : {}) }, installOwner: 'ucd' } });

test('--sudo-password is refused; --sudo-password-fd N is taken', () => {
  assert.throws(() => parseArgs(['run', '4', '--sudo-password', 'hunter2'], '/w'), /not accepted: a secret on the command line/);
  assert.equal(parseArgs(['run', '4', '--sudo-password-fd', '5'], '/w').sudoPasswordFd, 5);
});

test('the file\'s passwordEnv wins; else the descriptor, read once', async () => {
  let reads = 0;
  const seen: string[] = [];
  const pw = sudoPasswordsFromEnv({ NODE_PW: 'env-pw' }, (v) => seen.push(v), () => (reads++, 'fd-pw'));
  assert.equal(await pw.get(node('NODE_PW'), 'alice'), 'env-pw');
  assert.equal(await pw.get(node(), 'alice'), 'fd-pw');
  assert.equal(await pw.get({ ...node(), name: 'ucd2' }, 'alice'), 'fd-pw');
  assert.equal(reads, 1, 'a descriptor can be read only once');
  assert.deepEqual(seen, ['env-pw', 'fd-pw', 'fd-pw']);
});
