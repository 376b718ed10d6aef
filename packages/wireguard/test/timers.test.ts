// SPDX-License-Identifier: Apache-2.0
// Every timer of section 6 with a simulated clock: no wall-clock waits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_TIMERS } from '../src/index.js';
import { deliverHop, ipv4Packet, memoryPair } from '../src/testing/memory-bind.js';
import { advance, send, T0, trace } from './helpers.js';

const isInitiation = (d: { data: Uint8Array }) => d.data[0] === 1;
const isKeepalive = (d: { data: Uint8Array }) => d.data[0] === 4 && d.data.length === 32;

/** A pair with an established session (A initiated at T0). */
function established(opts: Parameters<typeof memoryPair>[0] = {}) {
  const p = memoryPair(opts);
  send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
  p.net.deliver(T0);
  assert.equal(p.deliveredB.length, 1);
  p.net.log.length = 0;
  return p;
}

function fromA(p: ReturnType<typeof memoryPair>) {
  return (d: { from: { address: string } }) => d.from.address === p.endpointA.address;
}

describe('timers', () => {
  test('REKEY_AFTER_TIME: the initiator starts a new handshake when sending after 120 s', () => {
    const p = established();
    let now = T0;
    for (let t = 1000; t <= 125_000; t += 1000) {
      now = advance(p, now, T0 + t);
      send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), now);
      send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), now);
      p.net.deliver(now);
    }
    const inits = p.net.log.filter(isInitiation);
    assert.equal(
      inits.length,
      1,
      trace(p)
        .filter((x) => !x.includes(' 4:'))
        .join(','),
    );
    assert.equal(inits[0].at, T0 + 121_000, 'first send after 120 s triggers it');
    assert.ok(fromA(p)(inits[0]), 'only the initiator rekeys on time');
    assert.equal(p.deliveredB.length, 1 + 125);
    assert.equal(p.deliveredA.length, 125);
  });

  test('REJECT_AFTER_TIME: a key pair older than 180 s neither sends nor receives', () => {
    const p = established();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 1);
    const held = p.net.queue.shift()!; // an authentic packet, delivered late
    const now = advance(p, T0, T0 + 180_000);
    p.b.receiveDatagram(held.data, held.from, now);
    assert.equal(p.b.drops.expired, 1);
    p.net.log.length = 0;
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), now), 'queued', 'expired pair is not used');
    assert.equal(p.net.log[0].data[0], 1, 'a new handshake starts instead');
    p.net.deliver(now);
    assert.equal(p.deliveredB.length, 2);
  });

  test('REKEY_TIMEOUT with jitter, retried for REKEY_ATTEMPT_TIME, then give up and drop staged packets', () => {
    const p = memoryPair();
    p.net.setFaults({ loss: 1 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    advance(p, T0, T0 + 200_000);
    const at = p.net.log.filter(isInitiation).map((d) => d.at! - T0);
    // As wireguard-go: the retransmit timer gives up once attempts exceed REKEY_ATTEMPT_TIME / REKEY_TIMEOUT
    // (18), i.e. the first initiation plus 19 retries, the last one past 90 s.
    assert.equal(at.length, 2 + Math.ceil(90_000 / 5000), `initiations at ${at.join(',')}`);
    for (let i = 1; i < at.length; i++) {
      const gap = at[i] - at[i - 1];
      assert.ok(gap >= 5000 && gap < 5000 + DEFAULT_TIMERS.rekeyTimeoutJitterMax, `gap ${gap}`);
    }
    assert.ok(new Set(at.slice(1).map((t, i) => t - at[i])).size > 1, 'jitter varies');
    assert.ok(at[at.length - 1] >= 95_000 && at[at.length - 1] <= 95_000 + 19 * 334);
    // Given up: nothing armed but the key-wipe timer; the staged packet is gone.
    p.net.setFaults({});
    const before = p.net.log.length;
    advance(p, T0 + 200_000, T0 + 400_000);
    assert.equal(p.net.log.length, before, 'no further initiations after giving up');
    assert.equal(p.deliveredB.length, 0);
  });

  test('KEEPALIVE_TIMEOUT: receive-only data is answered by a keepalive after 10 s, once', () => {
    const p = established(); // B received one data packet at T0 and has nothing to send
    advance(p, T0, T0 + 60_000);
    assert.deepEqual(trace(p), ['B>A 4:32']);
    assert.equal(p.net.log[0].at, T0 + 10_000);
  });

  test('KEEPALIVE_TIMEOUT: data arriving while the keepalive is pending earns one more keepalive', () => {
    const p = established();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 1000);
    advance(p, T0 + 1000, T0 + 60_000);
    const fromB = p.net.log.filter((d) => !fromA(p)(d));
    assert.ok(fromB.every(isKeepalive));
    assert.deepEqual(
      fromB.map((d) => d.at! - T0),
      [10_000, 20_000],
    );
  });

  test('KEEPALIVE_TIMEOUT: no keepalive when the receiver had data of its own to send', () => {
    const p = established();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 1000);
    p.net.deliver(T0 + 1000);
    send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), T0 + 2000);
    p.net.deliver(T0 + 2000);
    p.net.log.length = 0;
    advance(p, T0 + 2000, T0 + 11_500);
    assert.equal(p.net.log.filter((d) => !fromA(p)(d)).length, 0);
  });

  test('persistent keepalive: sent every N seconds while idle, and counts as traffic', () => {
    const p = established({ persistentKeepaliveA: 25 });
    advance(p, T0, T0 + 100_000);
    const ka = p.net.log.filter((d) => fromA(p)(d) && isKeepalive(d)).map((d) => d.at! - T0);
    // B's keepalive at 10 s is traffic too: the interval restarts from there (any authenticated packet).
    assert.deepEqual(ka, [35_000, 60_000, 85_000]);
  });

  test('a peer added with a persistent keepalive and an endpoint connects at once', () => {
    const p = memoryPair();
    p.a.removePeer(p.keyB);
    p.net.now = T0;
    p.a.addPeer(
      { publicKey: p.keyB, endpoint: p.endpointB, allowedIps: ['10.0.0.2/32'], persistentKeepalive: 25 },
      T0,
    );
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 2', 'A>B 4:32']);
    assert.equal(p.b.status()[0].latestHandshake, T0);
  });

  test('connect() starts a handshake at once even right after an unanswered initiation', () => {
    const p = memoryPair();
    p.net.setFaults({ loss: 1 });
    p.a.connect(p.keyB, T0);
    p.net.setFaults({});
    p.net.now = T0 + 100;
    p.a.connect(p.keyB, T0 + 100);
    p.net.deliver(T0 + 100);
    assert.deepEqual(trace(p), ['A>B 1', 'A>B 1', 'B>A 2', 'A>B 4:32']);
  });

  test('persistent keepalive can be turned on at runtime (sends one at once) and off', () => {
    const p = established();
    p.net.now = T0 + 5000;
    p.a.updatePeer({ publicKey: p.keyB, persistentKeepalive: 10 }, T0 + 5000);
    advance(p, T0 + 5000, T0 + 26_000);
    p.a.updatePeer({ publicKey: p.keyB, persistentKeepalive: 0 }, T0 + 26_000);
    advance(p, T0 + 26_000, T0 + 60_000);
    const ka = p.net.log.filter((d) => fromA(p)(d) && isKeepalive(d)).map((d) => d.at! - T0);
    // On at 5 s sends one; B's keepalive at 10 s restarts the interval (next at 20 s); off at 26 s.
    assert.deepEqual(ka, [5000, 20_000]);
  });

  test('REKEY_AFTER_MESSAGES (lowered to 10): the sender starts a handshake after 10 messages', () => {
    const p = established({ timers: { rekeyAfterMessages: 10 } });
    const now = T0 + 6000; // initiations are at least REKEY_TIMEOUT apart
    for (let i = 0; i < 12; i++) send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), now);
    const kinds = p.net.log.map((d) => d.data[0]);
    assert.deepEqual(kinds, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1, 4, 4], 'initiation after the 11th message');
    p.net.deliver(now);
    assert.equal(p.deliveredB.length, 1 + 12);
  });

  test('REJECT_AFTER_MESSAGES (lowered): a pair that reached it is not used; packets wait for the new one', () => {
    const p = established({ timers: { rejectAfterMessages: 5, rekeyAfterMessages: 1000 } });
    const now = T0 + 6000;
    const results = Array.from({ length: 6 }, () => send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), now));
    assert.deepEqual(
      results,
      ['sent', 'sent', 'sent', 'sent', 'queued', 'queued'],
      '1 + 4 = 5 messages on the pair',
    );
    p.net.deliver(now);
    assert.equal(p.deliveredB.length, 7);
  });

  test('new handshake when data sent gets no answer for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT', () => {
    const p = established(); // A sent data at T0: the timer is armed from then (a pending one is not re-armed)
    p.net.setFaults({ loss: 1 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 1000);
    advance(p, T0 + 1000, T0 + 15_400);
    const inits = p.net.log.filter(isInitiation).map((d) => d.at! - T0);
    assert.equal(inits.length, 1);
    assert.ok(inits[0] >= 15_000 && inits[0] < 15_334, `at ${inits[0]}`);
  });

  test('key material is wiped after REJECT_AFTER_TIME * 3 without a new session', () => {
    const p = established();
    assert.equal(p.a.indexCount, 1);
    advance(p, T0, T0 + 540_000);
    assert.equal(p.a.indexCount, 0);
    assert.equal(p.b.indexCount, 0);
    assert.equal(p.a.pollAt(), undefined, 'nothing left to do');
  });

  test('the initiator rekeys "last minute" when only receiving near REJECT_AFTER_TIME', () => {
    // REKEY_AFTER_TIME pushed past the last-minute point so A's own keepalives do not rekey first.
    const p = established({ timers: { rekeyAfterTime: 170_000 } });
    let now = T0;
    for (let t = 1000; t <= 170_000; t += 1000) {
      now = advance(p, now, T0 + t);
      send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), now);
      p.net.deliver(now);
    }
    const inits = p.net.log.filter((d) => isInitiation(d) && fromA(p)(d)).map((d) => d.at! - T0);
    assert.ok(inits.length >= 1, 'A initiated');
    assert.ok(inits[0] > 165_000 && inits[0] <= 166_000, `at ${inits[0]}`);
    assert.equal(p.deliveredA.length, 170);
  });
});

describe('key rotation', () => {
  test('continuous traffic both ways across many rekeys (3 s), one hop of latency: nothing lost', () => {
    const p = established({ timers: { rekeyAfterTime: 3000 } });
    let now = T0;
    let sentA = 0;
    let sentB = 0;
    for (let step = 1; step <= 400; step++) {
      now = T0 + step * 50;
      p.net.now = now;
      p.a.poll(now);
      p.b.poll(now);
      // Packets sent now arrive on the next step: those encrypted with an old pair are in flight during rotation.
      deliverHop(p.net, now);
      for (let k = 0; k < 3; k++) {
        const ra = p.a.sendPacket(ipv4Packet('10.0.0.1', '10.0.0.2', 80, sentA++ & 0xff), now);
        const rb = p.b.sendPacket(ipv4Packet('10.0.0.2', '10.0.0.1', 80, sentB++ & 0xff), now);
        assert.ok(ra !== 'no-route' && rb !== 'no-route');
      }
    }
    advance(p, now, now + 1000);
    const handshakes = p.net.log.filter(isInitiation).length;
    // Age > 3 s triggers a rekey, but initiations are at least REKEY_TIMEOUT (5 s) apart: ~4 in 20 s.
    assert.ok(handshakes >= 3, `rekeyed ${handshakes} times`);
    assert.equal(p.deliveredB.length, 1 + sentA, 'every packet from A arrived');
    assert.equal(p.deliveredA.length, sentB, 'every packet from B arrived');
    for (let i = 0; i < sentA; i++) assert.equal(p.deliveredB[1 + i].packet[40], i & 0xff, `order at ${i}`);
    assert.equal(p.a.drops.decrypt + p.b.drops.decrypt + p.a.drops.replay + p.b.drops.replay, 0);
    assert.ok(p.a.indexCount <= 4 && p.b.indexCount <= 4, 'old pairs are released');
  });
});

describe('faulty link', () => {
  test('seeded loss, duplication and reordering across rekeys: no duplicate or forged delivery, tunnel recovers', () => {
    const p = established({ timers: { rekeyAfterTime: 3000 } });
    p.net.setFaults({ loss: 0.05, duplicate: 0.1, reorder: 0.3, seed: 4242 });
    let now = T0;
    let seq = 0;
    for (let step = 1; step <= 300; step++) {
      now = T0 + step * 50;
      p.net.now = now;
      p.a.poll(now);
      p.b.poll(now);
      deliverHop(p.net, now);
      for (let k = 0; k < 2; k++) {
        const pkt = ipv4Packet('10.0.0.1', '10.0.0.2', 64);
        pkt[40] = seq & 0xff;
        pkt[41] = seq >> 8;
        seq++;
        p.a.sendPacket(pkt, now);
      }
      p.b.sendPacket(ipv4Packet('10.0.0.2', '10.0.0.1', 64), now);
    }
    p.net.setFaults({});
    now = advance(p, now, now + 20_000);
    const seen = p.deliveredB.slice(1).map((d) => d.packet[40] | (d.packet[41] << 8));
    assert.equal(new Set(seen).size, seen.length, 'duplicates are never delivered twice');
    assert.ok(seen.every((x) => x < seq));
    assert.ok(seen.length > seq * 0.8, `delivered ${seen.length} of ${seq}`);
    assert.ok(p.b.drops.replay > 0, 'duplicates were seen and refused by the replay window');
    const before = p.deliveredB.length;
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), now);
    advance(p, now, now + 6000);
    assert.equal(p.deliveredB.length, before + 1, 'the tunnel works after the faults stop');
  });
});

describe('cookies under load', () => {
  test('responder under load answers with a cookie reply; the retry carries mac2 and is accepted', () => {
    const p = memoryPair({ cookieLoadThresholdB: 0 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 3']);
    assert.equal(p.b.drops.cookie, 1);
    const first = p.net.log[0].data;
    assert.ok(
      first.subarray(132).every((b) => b === 0),
      'no cookie yet: mac2 is zero',
    );
    advance(p, T0, T0 + 5400);
    const t = trace(p);
    assert.deepEqual(t.slice(2, 5), ['A>B 1', 'B>A 2', 'A>B 4:96']);
    const retry = p.net.log[2].data;
    assert.ok(!retry.subarray(132).every((b) => b === 0), 'mac2 present');
    assert.equal(p.deliveredB.length, 1);
    assert.equal(p.a.drops.mac, 0);
  });

  test('both sides under load: the response earns a cookie too, and the next retry completes', () => {
    const p = memoryPair({ cookieLoadThreshold: 0 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    advance(p, T0, T0 + 10_800);
    // Responses are not retransmitted: B learns A's cookie from the reply to its response and uses
    // it for mac2 when A's second retry arrives.
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 3', 'A>B 1', 'B>A 2', 'A>B 3', 'A>B 1', 'B>A 2', 'A>B 4:96']);
    assert.equal(p.deliveredB.length, 1);
    assert.equal(p.b.drops.cookie, 1);
    assert.equal(p.a.drops.cookie, 1);
  });

  test('a wrong mac2 under load gets another cookie reply, not a handshake', () => {
    const p = memoryPair({ cookieLoadThreshold: 0 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    advance(p, T0, T0 + 4900);
    p.net.log.length = 0;
    p.net.setFaults({ loss: 1 });
    advance(p, T0 + 4900, T0 + 5400); // A retries with mac2; capture it
    p.net.setFaults({});
    const retry = new Uint8Array(p.net.log[0].data);
    retry[140] ^= 1; // corrupt mac2 only
    p.net.log.length = 0;
    p.b.receiveDatagram(retry, p.endpointA, T0 + 5400);
    assert.equal(p.b.drops.cookie, 2);
    assert.equal(p.net.queue.length, 1);
    assert.equal(p.net.queue[0].data[0], 3);
  });

  test('load threshold: under the threshold no cookies are demanded', () => {
    const p = memoryPair({ cookieLoadThreshold: 3 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.equal(p.b.drops.cookie, 0);
    assert.equal(p.deliveredB.length, 1);
  });

  test('a cookie reply that does not authenticate is counted and ignored', () => {
    const p = memoryPair({ cookieLoadThreshold: 0 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    deliverHop(p.net, T0);
    const reply = p.net.queue.shift()!;
    reply.data[40] ^= 1;
    p.a.receiveDatagram(reply.data, reply.from, T0);
    assert.equal(p.a.drops.mac, 1);
  });
});
