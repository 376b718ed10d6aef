// SPDX-License-Identifier: Apache-2.0
// The Node binding on loopback: two WireGuardNode instances talk over real UDP sockets, IPv4 and IPv6.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, describe, test } from 'node:test';
import {
  encodeKey,
  generatePrivateKey,
  publicKeyFromPrivate,
  WireGuardError,
  WireGuardNode,
} from '../src/index.js';
import { parseIp } from '../src/ip.js';
import { ipv4Packet, ipv6Packet } from '../src/testing/memory-bind.js';

const open: WireGuardNode[] = [];
after(async () => {
  await Promise.all(open.map((n) => n.close()));
});

function keypair() {
  const priv = generatePrivateKey();
  return { priv: encodeKey(priv), pub: encodeKey(publicKeyFromPrivate(priv)) };
}

/** Resolves with the next packet delivered to `node`, or rejects after `ms`. */
function nextPacket(
  node: WireGuardNode,
  ms = 5000,
): Promise<{ packet: Uint8Array; peer: string; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no packet within ${ms} ms`)), ms);
    node.onPacket = (packet, peer) => {
      clearTimeout(timer);
      node.onPacket = undefined;
      resolve({ packet: new Uint8Array(packet), peer, at: Date.now() });
    };
  });
}

async function pair(family: 4 | 6, batchedIo = true) {
  const ka = keypair();
  const kb = keypair();
  const loopback = family === 4 ? '127.0.0.1' : '::1';
  const a = await WireGuardNode.open({
    privateKey: ka.priv,
    listenPort: 0,
    socketBufferBytes: 1 << 20,
    batchedIo,
  });
  open.push(a);
  const b = await WireGuardNode.open({
    privateKey: kb.priv,
    listenPort: 0,
    batchedIo,
    peers: [
      {
        publicKey: ka.pub,
        endpoint: { address: loopback, port: a.port },
        allowedIps: ['10.7.0.1/32', 'fd07::1/128'],
      },
    ],
  });
  open.push(b);
  a.addPeer({ publicKey: kb.pub, allowedIps: ['10.7.0.2/32', 'fd07::2/128'] });
  return { a, b, ka, kb };
}

describe('WireGuardNode over loopback', () => {
  // Linux builds @nexodus/native: sendmmsg with GSO, recvmmsg with GRO. dgram is the fallback.
  const batchedPath = process.platform === 'linux' ? 'mmsg+gso' : 'dgram';
  for (const [family, batchedIo] of [
    [4, true],
    [6, true],
    [4, false],
    [6, false],
  ] as const) {
    const path = batchedIo ? batchedPath : 'dgram';
    test(`handshake and data both ways over IPv${family}, I/O through ${path}`, async () => {
      const { a, b, ka, kb } = await pair(family, batchedIo);
      assert.equal(a.sendPath, path);
      assert.ok(a.port > 0 && b.port > 0);
      assert.equal(a.publicKey, ka.pub);
      const got = nextPacket(a);
      assert.equal(b.send(ipv4Packet('10.7.0.2', '10.7.0.1', 300, 0x5a)), 'queued');
      const first = await got;
      assert.equal(first.peer, kb.pub);
      assert.equal(first.packet.length, 300);
      assert.equal(first.packet[299], 0x5a);
      // A learnt B's endpoint from the handshake (roaming) and can answer, here with IPv6 inside.
      const back = nextPacket(b);
      assert.equal(a.send(ipv6Packet(parseIp('fd07::1')!, parseIp('fd07::2')!, 1000, 7)), 'sent');
      const reply = await back;
      assert.equal(reply.peer, ka.pub);
      assert.equal(reply.packet.length, 1040);
      const [sa] = a.status();
      assert.equal(sa.endpoint?.address, family === 4 ? '127.0.0.1' : '::1');
      assert.equal(sa.endpoint?.port, b.port);
      assert.ok(sa.latestHandshake !== undefined && Math.abs(sa.latestHandshake - Date.now()) < 10_000);
      assert.ok(sa.rxBytes > 300 && sa.txBytes > 1000);
      assert.equal(totalDrops(a), 0);
      assert.equal(totalDrops(b), 0);
    });
  }

  for (const batchedIo of [true, false]) {
    test(`many packets in bursts all arrive in order (${batchedIo ? 'batched I/O' : 'dgram: the send ring wraps and reuses its slots'})`, async () => {
      const { a, b } = await pair(4, batchedIo);
      const first = nextPacket(a);
      b.send(ipv4Packet('10.7.0.2', '10.7.0.1', 100));
      await first;
      // More packets than SEND_RING_SLOTS (512), so slots are reused. Bursts stay small enough for the
      // kernel's default receive buffer (rmem_max 208 KiB on a fresh machine): this process is also the
      // receiver and cannot read while it sends, so one 600-packet burst would overflow the socket.
      const BURST = 50;
      const TOTAL = 600;
      const seen: number[] = [];
      let waiting: (() => void) | undefined;
      a.onPacket = (p) => {
        seen.push(p[40] | (p[41] << 8));
        if (seen.length % BURST === 0) waiting?.();
      };
      for (let i = 0; i < TOTAL; i += BURST) {
        const arrived = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`only ${seen.length} of ${i + BURST} arrived`)),
            5000,
          );
          waiting = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        for (let k = i; k < i + BURST; k++) {
          const pkt = ipv4Packet('10.7.0.2', '10.7.0.1', 1200);
          pkt[40] = k & 0xff;
          pkt[41] = k >> 8;
          assert.equal(b.send(pkt), 'sent');
        }
        await arrived;
      }
      assert.deepEqual(
        seen,
        Array.from({ length: TOTAL }, (_, i) => i),
      );
    });
  }

  test('timers run from the single adapter timer: a keepalive answers received data (KEEPALIVE_TIMEOUT 200 ms)', async () => {
    const ka = keypair();
    const kb = keypair();
    const timers = { keepaliveTimeout: 200 };
    const a = await WireGuardNode.open({ privateKey: ka.priv, timers });
    open.push(a);
    const b = await WireGuardNode.open({
      privateKey: kb.priv,
      timers,
      peers: [
        { publicKey: ka.pub, endpoint: { address: '127.0.0.1', port: a.port }, allowedIps: ['10.7.0.1/32'] },
      ],
    });
    open.push(b);
    a.addPeer({ publicKey: kb.pub, allowedIps: ['10.7.0.2/32'] });
    const got = nextPacket(a);
    b.send(ipv4Packet('10.7.0.2', '10.7.0.1'));
    const { at: receivedAt } = await got; // a's keepalive timer was armed when this arrived
    const rxAfterData = b.status()[0].rxBytes;
    const started = Date.now();
    while (b.status()[0].rxBytes === rxAfterData && Date.now() - started < 5000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(b.status()[0].rxBytes, rxAfterData + 32, 'one keepalive (32 bytes) arrived');
    assert.ok(Date.now() - receivedAt >= 190, 'not before KEEPALIVE_TIMEOUT');
  });

  test('reports the socket buffer sizes the kernel granted, on the diagnostics channel too', async () => {
    const events: unknown[] = [];
    const onBind = (m: unknown) => events.push(m);
    diagnostics.subscribe('wireguard:bind', onBind);
    try {
      const n = await WireGuardNode.open({ privateKey: keypair().priv, socketBufferBytes: 4 << 20 });
      open.push(n);
      assert.ok(n.socketBuffers.length >= 1);
      for (const s of n.socketBuffers) {
        assert.equal(s.requested, 4 << 20);
        assert.ok(s.recvBufferBytes > 0 && s.sendBufferBytes > 0);
        assert.equal(s.port, n.port);
      }
      assert.equal(events.length, n.socketBuffers.length);
    } finally {
      diagnostics.unsubscribe('wireguard:bind', onBind);
    }
  });

  test('a taken port is a WG_ERR_BIND error; a bad key fails before binding', async () => {
    const { a } = await pair(4);
    await assert.rejects(
      WireGuardNode.open({ privateKey: keypair().priv, listenPort: a.port }),
      (e: unknown) => {
        return e instanceof WireGuardError && e.code === 'WG_ERR_BIND' && /listenPort|::/.test(e.message);
      },
    );
    await assert.rejects(WireGuardNode.open({ privateKey: 'short' }), { code: 'WG_ERR_BAD_KEY' });
  });

  test('an invalid socketBufferBytes is a WG_ERR_BAD_CONFIG error, not silently the kernel default', async () => {
    for (const socketBufferBytes of [0, -1, 1.5, 2 ** 31]) {
      await assert.rejects(
        WireGuardNode.open({ privateKey: keypair().priv, socketBufferBytes }),
        (e: unknown) =>
          e instanceof WireGuardError &&
          e.code === 'WG_ERR_BAD_CONFIG' &&
          /socketBufferBytes/.test(e.message),
      );
    }
  });

  test('an open() that fails after binding (a bad peer) rejects and leaves no watcher on a closed socket', async () => {
    // The batched socket watches its fd from the start; closing the fd under a live watcher aborts
    // libuv (the whole process) at the next poll. So the node must stop watching before it gives up.
    await assert.rejects(
      WireGuardNode.open({ privateKey: keypair().priv, peers: [{ publicKey: 'not-a-key', allowedIps: [] }] }),
      (e: unknown) => e instanceof WireGuardError,
    );
    await new Promise((r) => setTimeout(r, 50)); // a few loop turns: still alive
  });

  test('datagrams the kernel refuses to send are counted in sendErrors, not lost silently', async () => {
    const a = await WireGuardNode.open({ privateKey: keypair().priv, bindAddress6: false });
    open.push(a);
    assert.equal(a.sendErrors, 0);
    // Sending to the broadcast address without SO_BROADCAST fails with EACCES in dgram's callback.
    a.addPeer({
      publicKey: keypair().pub,
      endpoint: { address: '255.255.255.255', port: 9 },
      allowedIps: ['10.7.0.9/32'],
    });
    assert.equal(a.send(ipv4Packet('10.7.0.1', '10.7.0.9')), 'queued'); // sends an initiation
    const started = Date.now();
    while (a.sendErrors === 0 && Date.now() - started < 5000) await new Promise((r) => setImmediate(r));
    assert.equal(a.sendErrors, 1);
  });

  test('tcpChecksumOffload: the sender fills the TCP checksum of a packet handed over without one', async () => {
    const ka = keypair();
    const kb = keypair();
    const a = await WireGuardNode.open({ privateKey: ka.priv, bindAddress6: false });
    open.push(a);
    const b = await WireGuardNode.open({
      privateKey: kb.priv,
      bindAddress6: false,
      tcpChecksumOffload: true,
      peers: [
        { publicKey: ka.pub, endpoint: { address: '127.0.0.1', port: a.port }, allowedIps: ['10.7.0.1/32'] },
      ],
    });
    open.push(b);
    a.addPeer({ publicKey: kb.pub, allowedIps: ['10.7.0.2/32'] });
    const got = nextPacket(a);
    const pkt = ipv4Packet('10.7.0.2', '10.7.0.1', 221, 0x5a);
    pkt[9] = 6; // TCP
    pkt[32] = 5 << 4; // data offset 5 words; the checksum (bytes 36, 37) stays 0
    pkt[36] = pkt[37] = 0;
    b.send(pkt);
    const { packet } = await got;
    // RFC 1071 over the pseudo-header and the segment: all ones (0 after complement) when it verifies.
    let sum = 6 + (221 - 20);
    for (let i = 12; i < 20; i += 2) sum += (packet[i] << 8) | packet[i + 1];
    for (let i = 20; i < 221; i += 2) sum += (packet[i] << 8) | (i + 1 < 221 ? packet[i + 1] : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    assert.notEqual((packet[36] << 8) | packet[37], 0);
    assert.equal(~sum & 0xffff, 0);
  });

  test('the handshake is observable on the wireguard:handshake channel', async () => {
    const events: { event: string }[] = [];
    const on = (m: unknown) => events.push(m as { event: string });
    diagnostics.subscribe('wireguard:handshake', on);
    try {
      const { a, b } = await pair(4);
      const got = nextPacket(a);
      b.send(ipv4Packet('10.7.0.2', '10.7.0.1'));
      await got;
      const kinds = events.map((e) => e.event);
      for (const k of ['initiation-sent', 'initiation-received', 'response-sent', 'complete']) {
        assert.ok(kinds.includes(k), `${k} in ${kinds.join(',')}`);
      }
    } finally {
      diagnostics.unsubscribe('wireguard:handshake', on);
    }
  });
});

function totalDrops(n: WireGuardNode): number {
  return Object.values(n.drops).reduce((x, y) => x + y, 0);
}
