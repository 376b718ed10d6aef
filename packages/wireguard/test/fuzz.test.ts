// SPDX-License-Identifier: Apache-2.0
// Bad input, property-based (fast-check, seeded, bounded runs): random, truncated, oversized and
// bit-flipped datagrams are dropped and counted, nothing throws, and tables stay bounded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { DropCounters } from '../src/index.js';
import { ipv4Packet, type MemoryPair, memoryPair } from '../src/testing/memory-bind.js';
import { send, T0, xorshift32 } from './helpers.js';

const SEED = 20261124;
const totalDrops = (d: Readonly<DropCounters>) => Object.values(d).reduce((a, b) => a + b, 0);

/** An established pair plus real messages of every type to mutate. */
function corpus(): { p: MemoryPair; samples: Uint8Array[] } {
  const p = memoryPair({ cookieLoadThresholdB: 0 });
  send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 120), T0);
  p.net.deliver(T0); // initiation + cookie reply
  p.net.setFaults({});
  const q = memoryPair();
  send(q, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 120), T0);
  q.net.deliver(T0); // initiation, response, transport
  send(q, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 0x20), T0);
  q.net.deliver(T0);
  const samples = [...p.net.log, ...q.net.log].map((d) => d.data);
  return { p: q, samples };
}

describe('bad input is dropped and counted, never thrown', () => {
  const { p, samples } = corpus();
  const kinds = new Set(samples.map((s) => s[0]));
  test('corpus has every message type', () => {
    assert.deepEqual([...kinds].sort(), [1, 2, 3, 4]);
  });

  test('random datagrams (0..2000 bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2000 }), (data) => {
        const before = totalDrops(p.b.drops);
        const delivered = p.deliveredB.length;
        p.b.receiveDatagram(data, p.endpointA, T0 + 1);
        assert.equal(p.deliveredB.length, delivered);
        assert.equal(totalDrops(p.b.drops), before + 1, 'exactly one drop counted');
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  test('random datagrams with a valid type byte and exact sizes', () => {
    const sized = fc
      .constantFrom(148, 92, 64, 32, 48, 1452)
      .chain((n) => fc.tuple(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ minLength: n, maxLength: n })));
    fc.assert(
      fc.property(sized, ([type, data]) => {
        data[0] = type;
        data[1] = data[2] = data[3] = 0;
        const before = totalDrops(p.b.drops);
        p.b.receiveDatagram(data, p.endpointA, T0 + 1);
        p.a.receiveDatagram(new Uint8Array(data), p.endpointB, T0 + 1);
        assert.equal(totalDrops(p.b.drops), before + 1);
      }),
      { seed: SEED + 1, numRuns: 300 },
    );
  });

  test('truncated and oversized real messages', () => {
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.integer({ min: -200, max: 200 }), (i, delta) => {
        const s = samples[i];
        if (delta === 0) return;
        const data = new Uint8Array(Math.max(0, s.length + delta));
        data.set(s.subarray(0, Math.min(s.length, data.length)));
        const before = totalDrops(p.b.drops);
        p.b.receiveDatagram(data, p.endpointA, T0 + 2);
        // An oversized transport message may not be malformed per se, but it cannot authenticate.
        assert.equal(totalDrops(p.b.drops), before + 1);
      }),
      { seed: SEED + 2, numRuns: 400 },
    );
  });

  test('bit-flipped real messages (1..8 flips)', () => {
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }),
        (i, flips) => {
          const data = new Uint8Array(samples[i]);
          for (const [pos, bit] of flips) data[pos % data.length] ^= 1 << bit;
          if (data.every((b, k) => b === samples[i][k])) return; // flips cancelled out
          const before = totalDrops(p.b.drops);
          const delivered = p.deliveredB.length;
          p.b.receiveDatagram(data, p.endpointA, T0 + 3);
          p.a.receiveDatagram(new Uint8Array(data), p.endpointB, T0 + 3);
          assert.equal(p.deliveredB.length, delivered, 'nothing forged gets through');
          assert.equal(totalDrops(p.b.drops), before + 1);
        },
      ),
      { seed: SEED + 3, numRuns: 400 },
    );
  });

  test('sendPacket with arbitrary bytes returns a verdict, never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (data) => {
        const r = p.a.sendPacket(data, T0 + 4);
        assert.ok(['sent', 'queued', 'no-route', 'malformed'].includes(r));
      }),
      { seed: SEED + 4, numRuns: 300 },
    );
  });

  test('the session still works after all that garbage', () => {
    p.net.queue.length = 0;
    const n = p.deliveredB.length;
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 5), 'sent');
    p.net.deliver(T0 + 5);
    assert.equal(p.deliveredB.length, n + 1);
  });
});

describe('memory stays bounded', () => {
  test('a long run of garbage and handshake floods leaves index table, staged queue and peers bounded', () => {
    const p = memoryPair({ cookieLoadThreshold: 1_000_000 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    const init = new Uint8Array(p.net.queue[0].data);
    p.net.deliver(T0);
    const rnd = xorshift32(1);
    const junk = new Uint8Array(1500);
    for (let i = 0; i < 20_000; i++) {
      const now = T0 + i;
      const n = rnd() % 1500;
      for (let k = 0; k < n; k += 4) {
        const r = rnd();
        junk[k] = r;
        junk[k + 1] = r >>> 8;
        junk[k + 2] = r >>> 16;
        junk[k + 3] = r >>> 24;
      }
      junk[0] = (rnd() % 5) as number;
      if (i % 2 === 0) junk[1] = junk[2] = junk[3] = 0; // a valid type field half the time
      p.b.receiveDatagram(junk.subarray(0, n), p.endpointA, now);
      if (i % 100 === 0) p.b.receiveDatagram(new Uint8Array(init), p.endpointA, now); // replayed initiation
      if (i % 50 === 0) p.a.sendPacket(ipv4Packet('10.0.0.1', '10.9.0.1'), now); // no route
      p.net.queue.length = 0;
    }
    assert.ok(p.b.indexCount <= 4, `index table ${p.b.indexCount}`);
    assert.equal(p.b.status().length, 1);
    assert.equal(p.b.drops.staleInitiation, 200);
    assert.ok(p.b.drops.malformed > 10_000);
  });

  test('heap after GC does not grow across 100k garbage datagrams mixed with valid traffic', () => {
    const script = fileURLToPath(new URL('./fixtures/heap-garbage.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const { before, after, drops, index } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(drops.malformed > 40_000, 'random garbage was processed');
    assert.ok(
      drops.mac > 10_000 && drops.unknownIndex > 10_000,
      'shaped garbage reached the MAC and index checks',
    );
    assert.ok(index <= 4);
    assert.ok(after - before < 1024 * 1024, `heap grew ${after - before} bytes (${before} -> ${after})`);
  });

  test('repeated fresh initiations from a peer do not grow the index table', () => {
    const p = memoryPair();
    let now = T0;
    for (let i = 0; i < 300; i++) {
      now += 6000;
      p.a.connect(p.keyB, now);
      p.net.deliver(now);
    }
    assert.ok(p.a.indexCount <= 3, `A ${p.a.indexCount}`);
    assert.ok(p.b.indexCount <= 3, `B ${p.b.indexCount}`);
  });
});
