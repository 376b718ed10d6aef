// SPDX-License-Identifier: Apache-2.0
// Replay window edges (RFC 6479 ring): in order, out of order within the window, too old, duplicates, jumps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from '../src/constants.js';
import { ReplayFilter } from '../src/replay.js';

const LIMIT = REJECT_AFTER_MESSAGES;

describe('replay filter', () => {
  test('window is at least 2048 counters', () => {
    assert.ok(REPLAY_WINDOW_SIZE >= 2048);
  });

  test('in-order counters are accepted once; duplicates are refused', () => {
    const f = new ReplayFilter();
    for (let i = 0; i < 20_000; i++) assert.equal(f.validateCounter(i, LIMIT), true, `first ${i}`);
    for (let i = 20_000 - REPLAY_WINDOW_SIZE; i < 20_000; i++)
      assert.equal(f.validateCounter(i, LIMIT), false, `again ${i}`);
  });

  test('out of order inside the window is accepted exactly once', () => {
    const f = new ReplayFilter();
    const head = 20_000;
    assert.ok(f.validateCounter(head, LIMIT));
    assert.ok(f.validateCounter(head - REPLAY_WINDOW_SIZE, LIMIT), 'oldest counter still inside');
    assert.ok(!f.validateCounter(head - REPLAY_WINDOW_SIZE, LIMIT));
    assert.ok(!f.validateCounter(head - REPLAY_WINDOW_SIZE - 1, LIMIT), 'one older is outside');
    assert.ok(f.validateCounter(head - 1, LIMIT));
    assert.ok(f.validateCounter(head - 2048, LIMIT));
    assert.ok(!f.validateCounter(head - 2048, LIMIT));
  });

  test('counters behind the window are refused', () => {
    const f = new ReplayFilter();
    assert.ok(f.validateCounter(REPLAY_WINDOW_SIZE + 10, LIMIT));
    assert.ok(!f.validateCounter(9, LIMIT), 'last - counter > window');
    assert.ok(f.validateCounter(10, LIMIT), 'exactly window behind is inside');
  });

  test('a jump far ahead clears the ring: old bits do not alias new counters', () => {
    const f = new ReplayFilter();
    for (let i = 0; i < 64; i++) f.validateCounter(i, LIMIT);
    const jump = 1_000_000 * 32; // same ring slot as counter 0..31 modulo the ring
    assert.ok(f.validateCounter(jump + 64, LIMIT));
    for (let i = jump; i < jump + 64; i++) assert.ok(f.validateCounter(i, LIMIT), `after jump ${i}`);
    assert.ok(!f.validateCounter(5, LIMIT), 'pre-jump counters are far behind');
  });

  test('counters at or above the limit are refused; large counters near 2^53 work', () => {
    const f = new ReplayFilter();
    assert.ok(!f.validateCounter(100, 100));
    assert.ok(f.validateCounter(99, 100));
    const big = Number.MAX_SAFE_INTEGER - 1;
    assert.ok(f.validateCounter(big, LIMIT));
    assert.ok(!f.validateCounter(big, LIMIT));
    assert.ok(f.validateCounter(big - 100, LIMIT));
    assert.ok(!f.validateCounter(Number.POSITIVE_INFINITY, LIMIT));
  });

  test('a seeded random order within the window accepts each counter exactly once', () => {
    const f = new ReplayFilter();
    let s = 12345;
    const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const base = 10_000;
    const counters = Array.from({ length: 2048 }, (_, i) => base + i);
    for (let i = counters.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [counters[i], counters[j]] = [counters[j], counters[i]];
    }
    let accepted = 0;
    for (const c of [...counters, ...counters]) if (f.validateCounter(c, LIMIT)) accepted++;
    assert.equal(accepted, 2048);
  });

  test('reset() forgets everything', () => {
    const f = new ReplayFilter();
    f.validateCounter(7, LIMIT);
    f.reset();
    assert.ok(f.validateCounter(7, LIMIT));
  });
});
