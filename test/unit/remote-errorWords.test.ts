// The SSH library's raw words, mapped in one place to what happened, on which node, and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inPlainWords, libraryError, plainWords } from '../../src/core/remote/errorWords';
import { connectError } from '../../src/core/remote/sshErrors';
import { RemoteError } from '../../src/core/remote/transport';
import { cutOffOf } from '../../src/core/runbook/cutOff';

const RAW = ['Channel has been closed', 'Not connected', 'All configured authentication methods failed', 'No response from server', 'Timed out while waiting for handshake'];

test('each raw library message gets words that name the node and say what to do', () => {
  for (const raw of RAW) {
    const w = plainWords(raw, 'ucd2');
    assert.ok(w, `"${raw}" is mapped`);
    assert.match(w.what, /ucd2/, `${raw}: what happened names the node`);
    assert.doesNotMatch(w.what, new RegExp(raw, 'i'), `${raw}: the raw words are not repeated`);
    assert.match(w.todo, /\b(Check|check)\b/, `${raw}: says what to do`);
  }
  assert.equal(plainWords('mysqldump exited 2', 'ucd2'), undefined, 'anything else is left as it is');
});

test('libraryError turns a library Error into a RemoteError of the right kind; a RemoteError passes untouched', () => {
  const auth = libraryError(new Error('All configured authentication methods failed'), 'ucd1');
  assert.ok(auth instanceof RemoteError);
  assert.equal(auth.kind, 'auth');
  assert.equal(auth.node, 'ucd1');
  assert.match(auth.hint, /authorized_keys/);
  assert.equal(libraryError(new Error('Channel has been closed'), 'ucd1')?.kind, 'unreachable');
  assert.equal(libraryError(new RemoteError('auth', 'ucd1', 'x', 'y'), 'ucd1'), undefined);
  assert.equal(libraryError(new Error('EISDIR'), 'ucd1'), undefined);
});

test('a connect error in the library\'s words reaches the user in plain ones', () => {
  const e = connectError(new Error('All configured authentication methods failed'), { node: 'ucd3', host: '10.0.0.3', port: 22, user: 'ucd', via: '' });
  assert.equal(e.kind, 'auth');
  assert.doesNotMatch(e.message, /All configured authentication methods failed/);
  assert.match(e.message, /ucd3 refused the SSH login/);
});

test('inPlainWords keeps what the line says before the raw words and replaces them', () => {
  assert.equal(
    inPlainWords('Node ucd1 could not start a command over SSH: Not connected.', 'ucd1'),
    'Node ucd1 could not start a command over SSH: The SSH connection to node ucd1 was lost before the command could start. Check the step to see where ucd1 is now (a new connection is made automatically); if it goes on, check the network path to ucd1.',
  );
  assert.equal(inPlainWords('3/3 nodes proven stopped'), '3/3 nodes proven stopped');
  assert.match(inPlainWords('Channel has been closed'), /^The SSH connection to node a node was lost|^The SSH connection to node/);
});

test('the plain words of a dropped link are still recognised as a cut-off (recorded interrupted, not failed)', () => {
  const signal = new AbortController().signal;
  for (const raw of ['Channel has been closed', 'Not connected', 'No response from server']) {
    const plain = libraryError(new Error(raw), 'ucd2')!;
    assert.deepEqual(cutOffOf({ signal, evidence: [plain.message] }), { kind: 'connection-lost', node: 'ucd2' }, raw);
  }
});
