// SPDX-License-Identifier: Apache-2.0
// mac1/mac2 and cookie replies (whitepaper 5.4.4, 5.4.7) at the unit level, with a simulated clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MESSAGE_COOKIE_REPLY_SIZE, MESSAGE_INITIATION_SIZE } from '../src/constants.js';
import { CookieChecker, CookieGenerator } from '../src/cookie.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../src/keys.js';
import { seededRandom } from '../src/testing/memory-bind.js';
import { T0 } from './helpers.js';

const REFRESH = 120_000;
const responder = publicKeyFromPrivate(generatePrivateKey(seededRandom(31)));
const from = { address: '198.51.100.9', port: 40000 };

function message(fill: number): Uint8Array {
  const m = new Uint8Array(MESSAGE_INITIATION_SIZE).fill(fill);
  m[0] = 1;
  m[1] = m[2] = m[3] = 0;
  return m;
}

function setup() {
  return {
    checker: new CookieChecker(responder, seededRandom(32), REFRESH),
    generator: new CookieGenerator(responder, REFRESH),
  };
}

describe('mac1', () => {
  test('mac1 made for the responder key verifies; for another key it does not', () => {
    const { checker, generator } = setup();
    const m = message(7);
    generator.addMacs(m, T0);
    assert.ok(checker.checkMac1(m));
    const other = new CookieGenerator(publicKeyFromPrivate(generatePrivateKey(seededRandom(33))), REFRESH);
    const m2 = message(7);
    other.addMacs(m2, T0);
    assert.ok(!checker.checkMac1(m2));
  });

  test('mac1 covers every byte before it', () => {
    const { checker, generator } = setup();
    const m = message(9);
    generator.addMacs(m, T0);
    for (const at of [0, 4, 50, 115]) {
      const c = new Uint8Array(m);
      c[at] ^= 1;
      assert.ok(!checker.checkMac1(c), `byte ${at}`);
    }
    const c = new Uint8Array(m);
    c[140] ^= 1; // inside mac2: not covered by mac1
    assert.ok(checker.checkMac1(c));
  });
});

describe('cookie reply and mac2', () => {
  test('without a cookie mac2 is zero and fails; after a reply it verifies for the same source only', () => {
    const { checker, generator } = setup();
    const m = message(1);
    generator.addMacs(m, T0);
    assert.ok(m.subarray(132).every((b) => b === 0));
    assert.ok(!checker.checkMac2(m, from, T0));
    const reply = checker.createReply(m, 0x01020304, from, T0)!;
    assert.equal(reply.length, MESSAGE_COOKIE_REPLY_SIZE);
    assert.deepEqual([...reply.subarray(0, 8)], [3, 0, 0, 0, 4, 3, 2, 1]);
    assert.ok(generator.consumeReply(reply, T0));
    const retry = message(2);
    generator.addMacs(retry, T0 + 1000);
    assert.ok(checker.checkMac2(retry, from, T0 + 1000));
    assert.ok(!checker.checkMac2(retry, { ...from, port: 40001 }, T0 + 1000), 'bound to the source port');
    assert.ok(!checker.checkMac2(retry, { ...from, address: '198.51.100.10' }, T0 + 1000), 'and address');
  });

  test('a cookie reply is bound to the mac1 of the message it answers', () => {
    const { checker, generator } = setup();
    const first = message(1);
    generator.addMacs(first, T0);
    const reply = checker.createReply(first, 1, from, T0)!;
    const second = message(2);
    generator.addMacs(second, T0 + 10); // our last mac1 is now the second message's
    assert.ok(!generator.consumeReply(reply, T0 + 10));
  });

  test('the cookie secret rotates every 2 minutes: an old cookie stops verifying', () => {
    const { checker, generator } = setup();
    const m = message(1);
    generator.addMacs(m, T0);
    generator.consumeReply(checker.createReply(m, 1, from, T0)!, T0);
    const early = message(3);
    generator.addMacs(early, T0 + 119_000);
    assert.ok(checker.checkMac2(early, from, T0 + 119_000));
    assert.ok(!checker.checkMac2(early, from, T0 + 121_000), 'secret rotated at 120 s');
  });

  test('a held cookie is used for mac2 only while younger than 120 s', () => {
    const { checker, generator } = setup();
    const m = message(1);
    generator.addMacs(m, T0);
    generator.consumeReply(checker.createReply(m, 1, from, T0)!, T0);
    assert.ok(generator.hasCookie(T0 + 119_999));
    assert.ok(!generator.hasCookie(T0 + 120_000));
    const late = message(4);
    generator.addMacs(late, T0 + 120_000);
    assert.ok(
      late.subarray(132).every((b) => b === 0),
      'stale cookie: mac2 zero',
    );
  });

  test('replies to the same message use fresh random nonces', () => {
    const { checker } = setup();
    const m = message(1);
    const r1 = checker.createReply(m, 1, from, T0)!;
    const r2 = checker.createReply(m, 1, from, T0)!;
    assert.notDeepEqual(r1.subarray(8, 32), r2.subarray(8, 32));
  });

  test('an unparsable source address yields no cookie rather than an exception', () => {
    const { checker } = setup();
    assert.equal(checker.createReply(message(1), 1, { address: 'not-an-ip', port: 1 }, T0), undefined);
    assert.equal(checker.checkMac2(message(1), { address: 'not-an-ip', port: 1 }, T0), false);
  });
});
