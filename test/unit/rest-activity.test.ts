import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { blockingProcesses, describeProcess, parseCurrentActivity } from '../../src/core/ucd/rest/activity';
import { normalizeFingerprint } from '../../src/core/ucd/rest/tls';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/rest/current-activity.json');

test('currentActivity: every item kind is read, unknown fields ignored, non-objects counted', () => {
  const r = parseCurrentActivity(fs.readFileSync(FIXTURE, 'utf8'));
  assert.ok(r.ok);
  assert.equal(r.skipped, 1, 'the bare string is skipped');
  assert.deepEqual(r.items.map((i) => [i.kind, i.name, i.cancelId, i.by, i.startedMs]), [
    ['application', 'JPetStore / Deploy (PROD)', '17c1a2b3-0000-4000-8000-00000000f001', 'alice', 1795000005000],
    ['component', 'JPetStore / Install web tier (PROD)', '17c1a2b3-0000-4000-8000-00000000f002', 'alice', 1795000006000],
    ['generic', 'Nightly cleanup', '17c1a2b3-0000-4000-8000-00000000f003', 'bob', 1795000010000],
    ['other', 'Change window approval', '17c1a2b3-0000-4000-8000-00000000f004', undefined, undefined],
  ]);
  assert.equal(r.items[3].rawType, 'approval');
});

test('blocking = application + generic (+ unknown kinds), never component', () => {
  const r = parseCurrentActivity(fs.readFileSync(FIXTURE, 'utf8'));
  assert.ok(r.ok);
  assert.deepEqual(blockingProcesses(r.items).map((i) => i.kind), ['application', 'generic', 'other']);
});

test('a generic process is cancelled by its workflowTraceId, an application one by its traceId', () => {
  const r = parseCurrentActivity(JSON.stringify([
    { processRequestType: 'generic', traceId: 'wrong', workflowTraceId: 'wf-1', process: { name: 'g' } },
    { processRequestType: 'application', traceId: 'tr-1', workflowTraceId: 'other', application: { name: 'a' } },
  ]));
  assert.ok(r.ok);
  assert.deepEqual(r.items.map((i) => i.cancelId), ['wf-1', 'tr-1']);
});

test('wrapped lists are accepted; non-lists and non-JSON are problems, not crashes', () => {
  const wrapped = parseCurrentActivity('{"records":[{"processRequestType":"generic","workflowTraceId":"x","process":{"name":"p"}}]}');
  assert.ok(wrapped.ok && wrapped.items.length === 1);
  const obj = parseCurrentActivity('{"error":"nope"}');
  assert.equal(obj.ok, false);
  const html = parseCurrentActivity('<html>login</html>');
  assert.deepEqual(html, { ok: false, problem: 'the answer is not JSON' });
});

test('describeProcess names kind, name, start, user and state', () => {
  const r = parseCurrentActivity(fs.readFileSync(FIXTURE, 'utf8'));
  assert.ok(r.ok);
  assert.equal(describeProcess(r.items[0]), 'application: JPetStore / Deploy (PROD), started 2026-11-18T11:06:45.000Z, by alice, EXECUTING');
  assert.match(describeProcess(r.items[3]), /^approval: Change window approval$/);
});

test('fingerprints from node and from openssl normalise to the same text', () => {
  assert.equal(normalizeFingerprint('sha256 Fingerprint=ab:CD:01'), 'AB:CD:01');
  assert.equal(normalizeFingerprint('abcd01'), 'AB:CD:01');
});
