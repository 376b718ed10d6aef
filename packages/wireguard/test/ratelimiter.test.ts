// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  RATE_LIMIT_BURST,
  RATE_LIMIT_MAX_ENTRIES,
  RATE_LIMIT_PER_SECOND,
  RateLimiter,
} from '../src/ratelimiter.js';
import { ipv4Packet, memoryPair } from '../src/testing/memory-bind.js';
import { send, T0 } from './helpers.js';

describe('handshake rate limiter', () => {
  test('a burst, then the sustained rate, per source address', () => {
    const r = new RateLimiter();
    let allowed = 0;
    for (let i = 0; i < 20; i++) if (r.allow('192.0.2.1', T0)) allowed++;
    assert.equal(allowed, RATE_LIMIT_BURST);
    assert.ok(r.allow('192.0.2.2', T0), 'another source has its own bucket');
    allowed = 0;
    for (let ms = 1; ms <= 1000; ms++) if (r.allow('192.0.2.1', T0 + ms)) allowed++;
    assert.ok(Math.abs(allowed - RATE_LIMIT_PER_SECOND) <= 1, `allowed ${allowed} in 1 s`);
  });

  test('the table is bounded and idle entries are swept', () => {
    const r = new RateLimiter();
    for (let i = 0; i < RATE_LIMIT_MAX_ENTRIES + 100; i++)
      r.allow(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, T0);
    assert.equal(r.size, RATE_LIMIT_MAX_ENTRIES);
    assert.equal(r.allow('198.51.100.1', T0), false, 'new sources wait for the sweep when full');
    assert.ok(r.allow('198.51.100.1', T0 + 2000));
    assert.equal(r.size, 1);
  });

  test('under load, a replayed initiation with a valid mac2 is rate limited after the burst', () => {
    const p = memoryPair({ cookieLoadThresholdB: 0 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0); // cookie reply: A now holds a cookie
    p.net.log.length = 0;
    p.a.connect(p.keyB, T0 + 10);
    const withMac2 = new Uint8Array(p.net.queue.shift()!.data);
    for (let i = 0; i < 10; i++) p.b.receiveDatagram(new Uint8Array(withMac2), p.endpointA, T0 + 10 + i);
    assert.equal(p.b.drops.rateLimited, 10 - RATE_LIMIT_BURST);
    assert.equal(
      p.b.drops.staleInitiation,
      RATE_LIMIT_BURST - 1,
      'the rest passed the limiter and were replays',
    );
  });
});
