// SPDX-License-Identifier: Apache-2.0
// Every dropped send is counted by its reason (issue 17, item 6), as receives are in `drops`: each case
// below makes one reason happen and checks that its counter, and only its counter, moved. The device's
// reasons run on a memoryPair with a simulated clock; the node's (kernel refusals, no socket of the
// family, after close) on real loopback sockets. The socket queue's are in batched-socket.test.ts.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MAX_CONTENT_SIZE } from '../src/constants.js';
import {
  encodeKey,
  generatePrivateKey,
  type NodeSendDropCounters,
  publicKeyFromPrivate,
  type SendDropCounters,
  WireGuardNode,
} from '../src/index.js';
import { parseIp } from '../src/ip.js';
import { ipv4Packet, ipv6Packet, memoryPair } from '../src/testing/memory-bind.js';
import { advance, send, T0 } from './helpers.js';

/** The counters that differ between `before` and `after`, with their increase. */
function moved<T extends object>(before: T, after: T): Partial<Record<keyof T, number>> {
  const out: Partial<Record<keyof T, number>> = {};
  for (const k of Object.keys(after) as (keyof T)[]) {
    const d = (after[k] as number) - (before[k] as number);
    if (d !== 0) out[k] = d;
  }
  return out;
}

describe('device send drops', () => {
  test('no route, malformed and too large: refused by sendPacket, each counted once under its reason', () => {
    const p = memoryPair();
    const cases: [Uint8Array, string, keyof SendDropCounters][] = [
      [ipv4Packet('10.0.0.1', '10.9.9.9'), 'no-route', 'noRoute'],
      [ipv6Packet(parseIp('fd00::1')!, parseIp('fd00::99')!), 'no-route', 'noRoute'],
      [new Uint8Array(0), 'malformed', 'malformed'],
      [new Uint8Array(10).fill(0x45), 'malformed', 'malformed'], // IPv4, shorter than its header
      [new Uint8Array(30).fill(0x20), 'malformed', 'malformed'], // version 2
      [new Uint8Array(MAX_CONTENT_SIZE + 1).fill(0x45), 'too-large', 'tooLarge'],
    ];
    for (const [packet, result, reason] of cases) {
      const before = { ...p.a.sendDrops };
      assert.equal(p.a.sendPacket(packet, T0), result);
      assert.deepEqual(moved(before, p.a.sendDrops), { [reason]: 1 }, `${result}: only ${reason} moved`);
    }
    assert.equal(p.net.queue.length, 0, 'nothing was sent');
    assert.equal(
      p.a.sendPacket(ipv4Packet('10.0.0.1', '10.0.0.2', MAX_CONTENT_SIZE), T0),
      'queued',
      'the bound is inclusive',
    );
  });

  test('staging overflow: the oldest staged packets are pushed out and counted', () => {
    const p = memoryPair();
    for (let i = 0; i < 130; i++) send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 40, i), T0);
    assert.deepEqual(moved({ ...p.b.sendDrops, stagedOverflow: 0 }, p.a.sendDrops), { stagedOverflow: 2 });
  });

  test('handshake gave up: the staged packets it held are counted, a staged keepalive is not', () => {
    const p = memoryPair();
    p.b.removePeer(p.keyA); // B ignores A's initiations (unknown peer): no response ever comes
    for (let i = 0; i < 5; i++) send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 40, i), T0);
    advance(p, T0, T0 + 120_000); // past REKEY_ATTEMPT_TIME (90 s)
    assert.ok(p.b.drops.unknownPeer > 1, 'A kept retrying');
    assert.deepEqual(moved({ ...p.b.sendDrops }, p.a.sendDrops), { handshakeTimeout: 5 });
    const q = memoryPair();
    q.b.removePeer(q.keyA);
    q.a.connect(q.keyB, T0); // a keepalive staged, not an IP packet
    advance(q, T0, T0 + 120_000);
    assert.equal(q.a.sendDrops.handshakeTimeout, 0);
  });

  test('peer removed: the packets staged for it are counted', () => {
    const p = memoryPair();
    for (let i = 0; i < 3; i++) send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 40, i), T0);
    p.a.removePeer(p.keyB);
    assert.deepEqual(moved({ ...p.b.sendDrops }, p.a.sendDrops), { peerRemoved: 3 });
  });

  test('a healthy exchange drops nothing', () => {
    const p = memoryPair();
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2'), T0);
    advance(p, T0, T0 + 1000);
    send(p, 'b', ipv4Packet('10.0.0.2', '10.0.0.1'), T0 + 1000);
    advance(p, T0 + 1000, T0 + 2000);
    assert.equal(p.deliveredA.length + p.deliveredB.length, 2);
    for (const d of [p.a.sendDrops, p.b.sendDrops]) assert.ok(Object.values(d).every((v) => v === 0));
  });
});

const open: WireGuardNode[] = [];
after(async () => {
  await Promise.all(open.map((n) => n.close()));
});

function keypair() {
  const priv = generatePrivateKey();
  return { priv: encodeKey(priv), pub: encodeKey(publicKeyFromPrivate(priv)) };
}

/** Waits (event-loop turns, at most 5 s) until `pred()` holds. */
async function until(what: string, pred: () => boolean): Promise<void> {
  const started = Date.now();
  while (!pred()) {
    if (Date.now() - started > 5000) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ZERO: NodeSendDropCounters = {
  noRoute: 0,
  malformed: 0,
  tooLarge: 0,
  stagedOverflow: 0,
  handshakeTimeout: 0,
  peerRemoved: 0,
  socketTooBig: 0,
  socketRefused: 0,
  socketQueueFull: 0,
  noSocket: 0,
  closed: 0,
};

describe('node send drops (loopback sockets)', () => {
  for (const batchedIo of [true, false]) {
    test(`${batchedIo ? 'batched' : 'dgram'}: EMSGSIZE is socketTooBig, EACCES is socketRefused`, async () => {
      const ka = keypair();
      const kb = keypair();
      const a = await WireGuardNode.open({ privateKey: ka.priv, bindAddress6: false, batchedIo });
      open.push(a);
      const b = await WireGuardNode.open({
        privateKey: kb.priv,
        bindAddress6: false,
        batchedIo,
        peers: [
          {
            publicKey: ka.pub,
            endpoint: { address: '127.0.0.1', port: a.port },
            allowedIps: ['10.7.0.1/32'],
          },
        ],
      });
      open.push(b);
      a.addPeer({
        publicKey: kb.pub,
        endpoint: { address: '127.0.0.1', port: b.port },
        allowedIps: ['10.7.0.2/32'],
      });
      let got = 0;
      b.onPacket = () => {
        got++;
      };
      a.send(ipv4Packet('10.7.0.1', '10.7.0.2'));
      await until('the session', () => got === 1);
      assert.deepEqual(a.sendDrops, ZERO);
      // The largest packet a transport message carries makes a 65,535-byte datagram; IPv4 UDP carries
      // at most 65,507: the kernel says EMSGSIZE.
      assert.equal(a.send(ipv4Packet('10.7.0.1', '10.7.0.2', MAX_CONTENT_SIZE)), 'sent');
      await until('socketTooBig', () => a.sendDrops.socketTooBig === 1);
      // Broadcast without SO_BROADCAST: EACCES (the initiation to this peer is refused).
      a.addPeer({
        publicKey: keypair().pub,
        endpoint: { address: '255.255.255.255', port: 9 },
        allowedIps: ['10.7.0.9/32'],
      });
      assert.equal(a.send(ipv4Packet('10.7.0.1', '10.7.0.9')), 'queued');
      await until('socketRefused', () => a.sendDrops.socketRefused === 1);
      assert.deepEqual(a.sendDrops, { ...ZERO, socketTooBig: 1, socketRefused: 1 });
      assert.equal(a.sendErrors, 2, 'sendErrors is still the sum of what the sockets refused');
    });
  }

  test('an IPv6 endpoint without an IPv6 socket is noSocket; a send after close is closed', async () => {
    const a = await WireGuardNode.open({ privateKey: keypair().priv, bindAddress6: false });
    open.push(a);
    a.addPeer({
      publicKey: keypair().pub,
      endpoint: { address: '::1', port: 9 },
      allowedIps: ['10.7.0.6/32'],
    });
    assert.equal(a.send(ipv4Packet('10.7.0.1', '10.7.0.6')), 'queued'); // its initiation has no socket
    assert.deepEqual(a.sendDrops, { ...ZERO, noSocket: 1 });
    a.addPeer({
      publicKey: keypair().pub,
      endpoint: { address: '127.0.0.1', port: 9 },
      allowedIps: ['10.7.0.7/32'],
    });
    await a.close();
    a.send(ipv4Packet('10.7.0.1', '10.7.0.7'));
    assert.deepEqual(a.sendDrops, { ...ZERO, noSocket: 1, closed: 1 });
  });
});
