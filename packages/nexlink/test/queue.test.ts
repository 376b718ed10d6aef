// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkQueue } from '../src/queue.js';

describe('work queue', () => {
  test('a key added while queued is processed once', async () => {
    const q = new WorkQueue();
    const seen: string[] = [];
    q.add('a');
    q.add('a');
    q.add('b');
    const done = q.run(
      async (k) => {
        seen.push(k);
        if (seen.length === 2) q.stop();
        return undefined;
      },
      () => {},
    );
    await done;
    assert.deepEqual(seen, ['a', 'b']);
  });

  test('a key added while processing is processed again afterwards, never concurrently', async () => {
    const q = new WorkQueue();
    const seen: string[] = [];
    let running = 0;
    q.add('a');
    await q.run(
      async (k) => {
        assert.equal(++running, 1);
        seen.push(k);
        if (seen.length === 1) q.add('a');
        await new Promise((r) => setImmediate(r));
        running--;
        if (seen.length === 2) q.stop();
        return undefined;
      },
      () => {},
    );
    assert.deepEqual(seen, ['a', 'a']);
  });

  test('failures back off exponentially per key and a success resets it', async () => {
    const q = new WorkQueue({ baseMs: 5, maxMs: 20 });
    const delays: number[] = [];
    let calls = 0;
    q.add('k');
    await q.run(
      async () => {
        calls++;
        if (calls <= 4) throw new Error('boom');
        q.stop();
        return undefined;
      },
      (_k, _e, ms) => delays.push(ms),
    );
    assert.deepEqual(delays, [5, 10, 20, 20]);
    assert.equal(q.failures('k'), 0);
  });
});
