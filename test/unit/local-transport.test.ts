import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalTransport } from '../../src/core/remote/local';
import { RemoteError } from '../../src/core/remote/transport';

const local = new LocalTransport();

test('local exec streams output, feeds stdin, and reports the exit code', async () => {
  const chunks: string[] = [];
  const r = await local.exec('read x; echo "got $x"; echo oops >&2; exit 3', { stdin: 'hello\n', onStdout: (c) => chunks.push(c) });
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'got hello\n');
  assert.equal(r.stderr, 'oops\n');
  assert.equal(chunks.join(''), 'got hello\n');
});

test('a timeout stops the whole process group, not only the shell', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-local-'));
  const marker = path.join(dir, 'still-alive');
  // The child loop would keep touching the marker if only the shell died.
  await assert.rejects(
    local.exec(`(while true; do date > '${marker}'; sleep 0.1; done) & wait`, { timeoutMs: 400 }),
    (e: unknown) => e instanceof RemoteError && e.kind === 'timeout',
  );
  await new Promise((r) => setTimeout(r, 300));
  const before = fs.statSync(marker).mtimeMs;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(fs.statSync(marker).mtimeMs, before, 'the background loop was killed with its group');
});

test('cancel stops a running command and says so', async () => {
  const ac = new AbortController();
  const p = local.exec('sleep 30', { signal: ac.signal, timeoutMs: 60_000 });
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  await assert.rejects(p, (e: unknown) => e instanceof RemoteError && e.kind === 'cancelled');
  assert.ok(Date.now() - t0 < 5_000);
});
