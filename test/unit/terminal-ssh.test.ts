// Open Terminal on Node: ssh trusts the keys the extension verified and never asks; its exit 255 is explained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../../src/core/cluster/load';
import type { ClusterNode } from '../../src/core/cluster/types';
import { sshPathList, terminalExitMessage, terminalSshArgs } from '../../src/core/remote/terminalSsh';
import { VALID_CLUSTER } from '../fixtures/clusters';

function node(): ClusterNode {
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cluster.nodes[0]!;
}

test('the terminal\'s ssh gets the extension\'s known_hosts files and refuses a key it has not verified', () => {
  const args = terminalSshArgs(node(), ['/root/.ssh/known_hosts', '/root/.local/share/code-server/User/globalStorage/x/known_hosts']);
  assert.deepEqual(args, [
    '-p', '22',
    '-o', 'UserKnownHostsFile="/root/.ssh/known_hosts" "/root/.local/share/code-server/User/globalStorage/x/known_hosts"',
    '-o', 'StrictHostKeyChecking=yes',
    '--', 'ucd@10.0.0.1',
  ]);
});

test('a path with a space or a quote stays one path for ssh\'s own tokenizer', () => {
  assert.equal(sshPathList(['/Users/me/Library/Application Support/Code/known_hosts', '/tmp/a"b']), '"/Users/me/Library/Application Support/Code/known_hosts" "/tmp/a\\"b"');
});

test('exit 255 (ssh\'s own failure) is explained with what to do; a shell\'s exit code is not', () => {
  const m = terminalExitMessage(node(), 255);
  assert.ok(m);
  assert.match(m, /ucd1/);
  assert.match(m, /exit code 255/);
  assert.match(m, /host key/);
  assert.match(m, /Run Check on a step of ucd1/);
  assert.equal(terminalExitMessage(node(), 0), undefined);
  assert.equal(terminalExitMessage(node(), 1), undefined);
  assert.equal(terminalExitMessage(node(), undefined), undefined);
});
