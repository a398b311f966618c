// GET /rest/server's answer as the core reads it: names and hosts, and a clear problem otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerList } from '../../src/core/ucd/rest/servers';

test('a list of servers is read for name, host and active', () => {
  const r = parseServerList(JSON.stringify([{ id: 'a', name: 'ucd1', hostName: '10.0.0.1', active: true }, { name: 'ucd2', host: 'ucd2.example' }, { address: '10.0.0.3' }]));
  assert.deepEqual(r, { ok: true, servers: [{ name: 'ucd1', host: '10.0.0.1', active: true }, { name: 'ucd2', host: 'ucd2.example' }, { host: '10.0.0.3' }] });
  assert.deepEqual(parseServerList('{"records":[{"name":"x"}]}'), { ok: true, servers: [{ name: 'x' }] });
});

test('anything else is a problem, never an empty list', () => {
  assert.deepEqual(parseServerList('<html>'), { ok: false, problem: 'the answer is not JSON' });
  assert.deepEqual(parseServerList('{"a":1}'), { ok: false, problem: 'the answer is not a list of servers' });
  assert.deepEqual(parseServerList('[{"id":"x"}]'), { ok: false, problem: 'item 1 has neither a name nor a host' });
  assert.deepEqual(parseServerList('[3]'), { ok: false, problem: 'item 1 is not an object' });
});
