// SPDX-License-Identifier: Apache-2.0
// Two WireGuardDevices over a MemoryNetwork with a simulated clock: handshakes, data, rejection paths,
// roaming, status and configuration errors. Timers are in timers.test.ts.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import {
  decodeKey,
  encodeKey,
  generatePrivateKey,
  type KeypairEvent,
  WireGuardDevice,
  WireGuardError,
} from '../src/index.js';
import { parseIp } from '../src/ip.js';
import { paddingSize } from '../src/send.js';
import { ipv4Packet, ipv6Packet, memoryPair, seededRandom } from '../src/testing/memory-bind.js';
import { advance, send, T0, trace } from './helpers.js';

describe('handshake', () => {
  test('A initiates: initiation, response, then the staged packet (no separate keepalive)', () => {
    const p = memoryPair();
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 100, 0xab), T0), 'queued');
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 2', 'A>B 4:144']);
    assert.equal(p.deliveredB.length, 1);
    assert.equal(p.deliveredB[0].peer, p.keyA);
    assert.equal(p.deliveredB[0].packet.length, 100, 'padding removed using the IPv4 total length');
    assert.equal(p.deliveredB[0].packet[50], 0xab);
    assert.equal(p.a.status()[0].latestHandshake, T0);
    assert.equal(p.b.status()[0].latestHandshake, T0, 'responder completes when the first data arrives');
  });

  test('key pairs are observable on wireguard:keypair: installed on both sides, then confirmed', () => {
    const events: string[] = [];
    const on = (m: unknown) => {
      const e = m as KeypairEvent;
      events.push(
        `${e.peer === p.keyB ? 'A' : 'B'} ${e.event}${e.isInitiator === undefined ? '' : ` ${e.isInitiator}`}`,
      );
    };
    const p = memoryPair();
    diagnostics.subscribe('wireguard:keypair', on);
    try {
      send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
      p.net.deliver(T0);
    } finally {
      diagnostics.unsubscribe('wireguard:keypair', on);
    }
    assert.deepEqual(events, ['B installed false', 'A installed true', 'B confirmed']);
  });

  test('B initiates towards A; then both directions flow on one key pair', () => {
    const p = memoryPair();
    send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1', 60), T0);
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['B>A 1', 'A>B 2', 'B>A 4:96'], '60 bytes padded to 64 + header + tag');
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 1400), T0 + 10), 'sent');
    assert.equal(send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1', 1400), T0 + 10), 'sent');
    p.net.deliver(T0 + 10);
    assert.equal(p.deliveredA.length, 2);
    assert.equal(p.deliveredB.length, 1);
    assert.equal(p.a.indexCount, 1);
    assert.equal(p.b.indexCount, 1);
  });

  test('simultaneous initiations from both sides still converge (after one REKEY_TIMEOUT)', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), T0);
    advance(p, T0, T0 + 6000);
    assert.equal(p.deliveredA.length, 1);
    assert.equal(p.deliveredB.length, 1);
    // Each overtaken initiation released its index: only live key pairs remain. A retried first, so
    // A holds current + previous (the responder pair from B's initiation); B holds its current pair.
    assert.deepEqual(trace(p), [
      'A>B 1',
      'B>A 1',
      'B>A 2',
      'A>B 2',
      'A>B 1',
      'B>A 2',
      'A>B 4:96',
      'B>A 4:96',
    ]);
    assert.deepEqual([p.a.indexCount, p.b.indexCount], [2, 1]);
  });

  test('with a preshared key on both sides', () => {
    const psk = generatePrivateKey(seededRandom(99));
    const p = memoryPair({ presharedKey: psk });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.equal(p.deliveredB.length, 1);
  });

  test('a preshared key on one side only: the response is refused, nothing is delivered', () => {
    const p = memoryPair();
    p.b.updatePeer({ publicKey: p.keyA, presharedKey: generatePrivateKey(seededRandom(5)) });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 2']);
    assert.equal(p.a.drops.handshake, 1);
    assert.equal(p.deliveredB.length, 0);
  });

  test('IPv6 packets route by destination and are checked by source', () => {
    const p = memoryPair();
    send(p, 'a', ipv6Packet(parseIp('fd00::1')!, parseIp('fd00::2')!, 33), T0);
    p.net.deliver(T0);
    assert.equal(p.deliveredB.length, 1);
    assert.equal(p.deliveredB[0].packet.length, 73);
  });
});

describe('rejection', () => {
  test('wrong peer public key: mac1 fails at the responder, counted in drops.mac', () => {
    const p = memoryPair();
    const wrong = encodeKey(generatePrivateKey(seededRandom(77)));
    p.a.removePeer(p.keyB);
    p.a.addPeer({ publicKey: wrong, endpoint: p.endpointB, allowedIps: ['10.0.0.2/32'] });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1']);
    assert.equal(p.b.drops.mac, 1);
  });

  test('an initiation from a key that is not a configured peer: drops.unknownPeer', () => {
    const p = memoryPair();
    p.b.removePeer(p.keyA);
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.equal(p.b.drops.unknownPeer, 1);
    assert.equal(p.b.indexCount, 0);
  });

  test('a flipped bit in mac1, in the encrypted static, or in a transport message is refused', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    const init = p.net.queue[0].data;
    const badMac = new Uint8Array(init);
    badMac[120] ^= 1;
    p.b.receiveDatagram(badMac, p.endpointA, T0);
    assert.equal(p.b.drops.mac, 1);
    p.net.deliver(T0);
    assert.equal(p.deliveredB.length, 1);
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 1);
    const data = p.net.queue.shift()!.data;
    for (const at of [0 + 16, data.length - 1, 9]) {
      const flipped = new Uint8Array(data);
      flipped[at] ^= 0x80;
      p.b.receiveDatagram(flipped, p.endpointA, T0 + 1);
    }
    assert.equal(p.b.drops.decrypt, 3, 'payload, tag and counter are all authenticated');
    p.b.receiveDatagram(new Uint8Array(data), p.endpointA, T0 + 1);
    assert.equal(p.deliveredB.length, 2, 'the intact original still decrypts');
    p.b.receiveDatagram(new Uint8Array(data), p.endpointA, T0 + 1);
    assert.equal(p.b.drops.replay, 1, 'and a second copy is a replay');
  });

  test('a replayed initiation is stale and changes nothing', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    const init = new Uint8Array(p.net.queue[0].data);
    p.net.deliver(T0);
    const before = p.net.log.length;
    p.b.receiveDatagram(init, p.endpointA, T0 + 60_000);
    assert.equal(p.b.drops.staleInitiation, 1);
    assert.equal(p.net.log.length, before, 'no response to a replay');
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 60_001), 'sent');
    p.net.deliver(T0 + 60_001);
    assert.equal(p.deliveredB.length, 2, 'the session survives the replay');
  });

  test("inner source address outside the peer's allowed IPs: drops.allowedIps", () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    send(p, 'a', ipv4Packet('10.0.0.99', '10.0.0.2'), T0 + 1);
    send(p, 'a', ipv6Packet(parseIp('fd00::99')!, parseIp('fd00::2')!), T0 + 1);
    p.net.deliver(T0 + 1);
    assert.equal(p.b.drops.allowedIps, 2);
    assert.equal(p.deliveredB.length, 1);
  });

  test('sendPacket: no-route, malformed', () => {
    const p = memoryPair();
    assert.equal(p.a.sendPacket(ipv4Packet('10.0.0.1', '10.9.9.9'), T0), 'no-route');
    assert.equal(p.a.sendPacket(new Uint8Array(0), T0), 'malformed');
    assert.equal(p.a.sendPacket(new Uint8Array(10).fill(0x45), T0), 'malformed');
    assert.equal(p.a.sendPacket(new Uint8Array(30).fill(0x20), T0), 'malformed');
    assert.equal(p.net.queue.length, 0);
  });

  test('staged packets are bounded: the oldest are dropped and counted', () => {
    const p = memoryPair();
    for (let i = 0; i < 200; i++) send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 40, i), T0);
    assert.equal(p.a.sendDrops.stagedOverflow, 72);
    p.net.deliver(T0);
    assert.equal(p.deliveredB.length, 128);
    assert.equal(p.deliveredB[0].packet[30], 72, 'oldest 72 were dropped, order kept');
  });
});

describe('roaming', () => {
  test('an authenticated packet from a new address moves the endpoint; garbage from one does not', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    assert.deepEqual(p.b.status()[0].endpoint, p.endpointA);
    const moved = { address: '2001:db8::7', port: 40000 };
    p.b.receiveDatagram(new Uint8Array(64).fill(4), moved, T0 + 1);
    assert.deepEqual(p.b.status()[0].endpoint, p.endpointA, 'unauthenticated input does not roam');
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0 + 2);
    const d = p.net.queue.shift()!;
    p.b.receiveDatagram(d.data, moved, T0 + 2);
    assert.deepEqual(p.b.status()[0].endpoint, moved);
    p.net.attach(moved, p.a);
    send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), T0 + 3);
    assert.deepEqual(p.net.queue[0].to, moved, 'replies go to the new endpoint');
    p.net.deliver(T0 + 3);
    assert.equal(p.deliveredA.length, 1);
  });
});

describe('configuration and status', () => {
  test('status reports endpoint, handshake, byte counters, allowed IPs, keepalive', () => {
    const p = memoryPair({ persistentKeepaliveA: 25 });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 100), T0);
    p.net.deliver(T0);
    const [sa] = p.a.status();
    const [sb] = p.b.status();
    assert.equal(sa.publicKey, p.keyB);
    assert.deepEqual(sa.allowedIps, ['10.0.0.2/32', 'fd00::2/128']);
    assert.equal(sa.persistentKeepalive, 25);
    assert.equal(sa.txBytes, 148 + 144);
    assert.equal(sa.rxBytes, 92);
    assert.equal(sb.rxBytes, 148 + 144);
    assert.equal(sb.txBytes, 92);
    assert.equal(sb.persistentKeepalive, undefined);
  });

  test('updatePeer replaces allowed IPs; removePeer frees indices and routes', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    p.net.deliver(T0);
    p.a.updatePeer({ publicKey: p.keyB, allowedIps: ['10.0.0.0/24'] });
    assert.deepEqual(p.a.status()[0].allowedIps, ['10.0.0.0/24']);
    assert.equal(p.a.sendPacket(ipv6Packet(parseIp('fd00::1')!, parseIp('fd00::2')!), T0), 'no-route');
    assert.equal(p.a.sendPacket(ipv4Packet('10.0.0.1', '10.0.0.77'), T0), 'sent');
    p.a.removePeer(p.keyB);
    assert.equal(p.a.indexCount, 0);
    assert.deepEqual(p.a.status(), []);
    assert.equal(p.a.pollAt(), undefined);
    assert.equal(p.a.sendPacket(ipv4Packet('10.0.0.1', '10.0.0.2'), T0), 'no-route');
  });

  test('bad configuration throws typed errors that say what was expected', () => {
    const p = memoryPair();
    const cases: [() => void, string, RegExp][] = [
      [() => p.a.addPeer({ publicKey: p.keyB, allowedIps: [] }), 'WG_ERR_DUPLICATE_PEER', /already exists/],
      [() => p.a.addPeer({ publicKey: 'nope', allowedIps: [] }), 'WG_ERR_BAD_KEY', /44 characters/],
      [
        () => p.a.addPeer({ publicKey: encodeKey(new Uint8Array(32).fill(3)), allowedIps: ['10.0.0.0/40'] }),
        'WG_ERR_BAD_CIDR',
        /address\/prefix/,
      ],
      [
        () =>
          p.a.addPeer({
            publicKey: encodeKey(new Uint8Array(32).fill(3)),
            allowedIps: [],
            endpoint: { address: 'example.com', port: 1 },
          }),
        'WG_ERR_BAD_ENDPOINT',
        /IP literal/,
      ],
      [() => p.a.removePeer(encodeKey(new Uint8Array(32).fill(9))), 'WG_ERR_UNKNOWN_PEER', /add it first/],
      [
        () => p.a.updatePeer({ publicKey: p.keyB, persistentKeepalive: -1 }),
        'WG_ERR_BAD_CONFIG',
        /0\.\.65535/,
      ],
      [
        () =>
          new WireGuardDevice({
            privateKey: new Uint8Array(32),
            random: seededRandom(1),
            output: {} as never,
          }),
        'WG_ERR_BAD_CONFIG',
        /sendDatagram/,
      ],
      [
        () =>
          new WireGuardDevice({
            privateKey: new Uint8Array(32),
            random: seededRandom(1),
            output: { sendDatagram() {}, deliverPacket() {} },
            timers: { rekeyTimeout: -5 },
          }),
        'WG_ERR_BAD_CONFIG',
        /rekeyTimeout/,
      ],
    ];
    for (const [fn, code, msg] of cases) {
      assert.throws(
        fn,
        (e: unknown) => e instanceof WireGuardError && e.code === code && msg.test(e.message),
        code,
      );
    }
    assert.equal(p.a.status().length, 1, 'failed calls changed nothing');
    assert.ok(decodeKey(p.keyA));
  });
});

describe('padding', () => {
  test('padding to 16 stops at the MTU (wireguard-go calculatePaddingSize)', () => {
    assert.equal(paddingSize(0, 1420), 0, 'keepalive');
    assert.equal(paddingSize(100, 1420), 12);
    assert.equal(paddingSize(1419, 1420), 1);
    assert.equal(paddingSize(1420, 1420), 0);
    assert.equal(paddingSize(1421, 1420), 15, 'beyond the MTU: padded within the last unit');
    assert.equal(paddingSize(1420, 0), 4, 'no MTU: always to 16');
  });

  test('a full-MTU packet makes a 1452-byte datagram, the IPv6 maximum of a 1500-byte link', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 1420), T0);
    p.net.deliver(T0);
    assert.deepEqual(trace(p), ['A>B 1', 'B>A 2', 'A>B 4:1452']);
    assert.equal(p.deliveredB[0].packet.length, 1420);
  });
});
