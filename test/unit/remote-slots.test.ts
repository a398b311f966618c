import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelSlots } from '../../src/core/remote/slots';
import { RemoteError } from '../../src/core/remote/transport';

test('never more than capacity at once; queued work starts in order as slots free', async () => {
  const slots = new ChannelSlots(3, 'n1');
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
  assert.equal(peak, 3);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(slots.active, 0);
});

test('an abort while queued rejects with cancelled and leaves the queue intact', async () => {
  const slots = new ChannelSlots(1, 'n1');
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
