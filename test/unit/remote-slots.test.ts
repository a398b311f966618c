import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelRefused, ChannelSlots } from '../../src/core/remote/slots';
import { RemoteError } from '../../src/core/remote/transport';

test('never more than capacity minus the kill slot at once; queued work starts in order as slots free', async () => {
  const slots = new ChannelSlots(4, 'n1');
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const release = await slots.acquire();
      order.push(i);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      release();
      release(); // a double release must not free two slots
    }),
  );
  assert.equal(peak, 3, 'one of the 4 stays free for kills');
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(slots.active, 0);
});

test('a kill gets the slot commands leave free, and goes ahead of queued commands', async () => {
  const slots = new ChannelSlots(3, 'n1');
  const a = await slots.acquire();
  await slots.acquire();
  const queuedCommand = slots.acquire();
  const kill = await slots.acquire(undefined, 'kill');
  assert.equal(slots.active, 3, 'the kill did not wait for the queued command');
  const secondKill = slots.acquire(undefined, 'kill');
  const order: string[] = [];
  void queuedCommand.then(() => order.push('command'));
  void secondKill.then(() => order.push('kill'));
  kill();
  await secondKill;
  a();
  await queuedCommand;
  assert.deepEqual(order, ['kill', 'command']);
});

test('with a limit of 1, commands and kills share the one slot', async () => {
  const slots = new ChannelSlots(1, 'n1');
  const a = await slots.acquire();
  const k = slots.acquire(undefined, 'kill');
  assert.equal(slots.queued, 1);
  a();
  (await k)();
  assert.equal(slots.active, 0);
});

test('an abort while queued rejects with cancelled and leaves the queue intact', async () => {
  const slots = new ChannelSlots(2, 'n1');
  const hold = await slots.acquire();
  const ac = new AbortController();
  const waiting = slots.acquire(ac.signal);
  const next = slots.acquire();
  assert.equal(slots.queued, 2);
  ac.abort();
  await assert.rejects(waiting, (e: unknown) => e instanceof RemoteError && e.kind === 'cancelled' && e.node === 'n1');
  assert.equal(slots.queued, 1);
  hold();
  (await next)();
  assert.equal(slots.active, 0);
  await assert.rejects(slots.acquire(AbortSignal.abort()), (e: unknown) => e instanceof RemoteError && e.kind === 'cancelled');
});

test('failAll rejects the queue (the connection is gone)', async () => {
  const slots = new ChannelSlots(1, 'n1');
  await slots.acquire();
  const w = slots.acquire();
  slots.failAll(new Error('gone'));
  await assert.rejects(w, /gone/);
  assert.throws(() => new ChannelSlots(0, 'x'), /positive/);
});

/**
 * OpenSSH as it counts sessions: an open beyond maxSessions is refused, and a closed session is
 * freed only once the server has read the close and finished that read, so an open read in the
 * same batch as a close still finds the session taken. Each call to `open` is one such read.
 */
class FakeSshd {
  sessions = 0;
  peak = 0;
  refusals = 0;
  private closing = 0;
  constructor(private readonly maxSessions: number) {}

  open(): Promise<{ close: () => void }> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        const taken = this.sessions + this.closing;
        this.closing = 0; // garbage-collected after this read
        if (taken >= this.maxSessions) {
          this.refusals++;
          return reject(new ChannelRefused('(SSH) Channel open failure: open failed'));
        }
        this.sessions++;
        this.peak = Math.max(this.peak, this.sessions);
        resolve({
          close: () => {
            this.sessions--;
            this.closing++;
          },
        });
      });
    });
  }
}

async function runMany(slots: ChannelSlots, server: FakeSshd, n: number, busyMs = 3): Promise<number> {
  let done = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const { channel, release } = await slots.open(() => server.open());
      await new Promise((r) => setTimeout(r, busyMs));
      channel.close(); // the server's close arrives…
      release(); // …and only then is the slot free
      done++;
    }),
  );
  return done;
}

for (const maxSessions of [10, 2, 1]) {
  test(`25 opens against a server with MaxSessions ${maxSessions} all succeed, never above its limit`, async () => {
    const learned: number[] = [];
    const slots = new ChannelSlots(8, 'n1', { onLimit: (l) => learned.push(l) });
    const server = new FakeSshd(maxSessions);
    assert.equal(await runMany(slots, server, 25), 25);
    assert.ok(server.peak <= maxSessions);
    if (maxSessions >= 8) {
      assert.equal(server.refusals, 0, 'below the server limit with a margin: never refused');
      assert.equal(slots.limit, 8);
    } else {
      assert.ok(server.refusals > 0);
      assert.deepEqual(learned, [maxSessions], 'learned exactly the server limit, once');
      assert.equal(slots.limit, maxSessions);
    }
  });
}

test('a refusal right behind a close (the server has not freed it yet) is tried again and does not lower the limit', async () => {
  const learned: number[] = [];
  const slots = new ChannelSlots(3, 'n1', { onLimit: (l) => learned.push(l) });
  const server = new FakeSshd(2);
  // Two sessions open; one closes, and the next open goes out in the same "read" as that close.
  const a = await slots.open(() => server.open());
  const b = await slots.open(() => server.open());
  a.channel.close();
  a.release();
  const c = await slots.open(() => server.open());
  assert.equal(server.refusals, 1, 'the first try met the not-yet-freed session');
  assert.deepEqual(learned, [], 'the lag did not lower the limit');
  assert.equal(slots.limit, 3);
  b.release();
  c.release();
});

test('other open errors free the slot and propagate at once', async () => {
  const slots = new ChannelSlots(2, 'n1');
  await assert.rejects(slots.open(() => Promise.reject(new Error('connection lost'))), /connection lost/);
  assert.equal(slots.active, 0);
});

test('refused with nothing of ours open: retried with pauses until the deadline, then a clear error', async () => {
  let clock = 0;
  const realNow = Date.now;
  Date.now = () => clock;
  try {
    const pauses: number[] = [];
    const slots = new ChannelSlots(8, 'ucd1', { refusedDeadlineMs: 5000, sleep: async (ms) => void (pauses.push(ms), (clock += ms)) });
    let tries = 0;
    const err = await slots.open(() => (tries++, Promise.reject(new ChannelRefused('(SSH) Channel open failure: open failed')))).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteError);
    assert.equal(err.kind, 'protocol');
    assert.match(err.message, /^Node ucd1 refused every new SSH session for 5 s, even with no other session of ours open: \(SSH\) Channel open failure: open failed\.$/);
    assert.match(err.hint, /MaxSessions/);
    assert.deepEqual(pauses.slice(0, 6), [50, 100, 200, 400, 800, 1000], 'backs off, capped at 1 s');
    assert.ok(tries >= 8);
    assert.equal(slots.active, 0);
  } finally {
    Date.now = realNow;
  }
});

test('a refusal that later succeeds (the server freed a session of another client) resolves', async () => {
  const slots = new ChannelSlots(8, 'n1', { sleep: async () => undefined });
  let tries = 0;
  const { channel } = await slots.open(() => (++tries < 3 ? Promise.reject(new ChannelRefused('open failed')) : Promise.resolve('ch')));
  assert.equal(channel, 'ch');
  assert.equal(tries, 3);
});

test('an abort during the pause after a refusal rejects with cancelled', async () => {
  const ac = new AbortController();
  const slots = new ChannelSlots(8, 'n1', { sleep: (_ms, signal) => new Promise((_r, rej) => signal?.addEventListener('abort', () => rej(new Error('aborted')))) });
  const p = slots.open(() => Promise.reject(new ChannelRefused('open failed')), { signal: ac.signal });
  setImmediate(() => ac.abort());
  await assert.rejects(p, (e: unknown) => e instanceof RemoteError && e.kind === 'cancelled' && e.node === 'n1');
  assert.equal(slots.active, 0);
});
