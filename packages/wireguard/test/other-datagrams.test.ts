// SPDX-License-Identifier: Apache-2.0
// The WireGuard socket shared with other protocols (STUN): datagrams not shaped like WireGuard go to
// onOtherDatagram and never to the engine, sendOther sends from the same socket, and a virtual route takes
// datagrams for its address instead of the socket.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { generatePrivateKey, WireGuardNode } from '../src/index.js';
import { seededRandom } from '../src/testing/memory-bind.js';

for (const batchedIo of [true, false]) {
  describe(`WireGuardNode other datagrams (batchedIo ${batchedIo})`, () => {
    it('non-WireGuard datagrams go to the hook, WireGuard-shaped ones to the engine; sendOther shares the socket', async () => {
      const node = await WireGuardNode.open({
        privateKey: generatePrivateKey(seededRandom(7)),
        bindAddress4: '127.0.0.1',
        bindAddress6: false,
        batchedIo,
      });
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      try {
        const seen: string[] = [];
        node.onOtherDatagram = (d, from) => seen.push(`${Buffer.from(d).toString('hex')} ${from.port}`);
        sock.send(Buffer.from('0101000c2112a442', 'hex'), node.port, '127.0.0.1');
        // A WireGuard-shaped datagram (type 1, three zero bytes): the engine's, dropped there as malformed.
        sock.send(Buffer.from('01000000deadbeef', 'hex'), node.port, '127.0.0.1');
        const deadline = Date.now() + 5000;
        while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(seen, [`0101000c2112a442 ${sock.address().port}`]);
        const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
        node.sendOther(new Uint8Array([1, 2, 3]), { address: '127.0.0.1', port: sock.address().port });
        assert.deepEqual([...(await got)], [1, 2, 3]);
        const routed: number[] = [];
        node.setVirtualRoute('127.3.3.40', (_d, to) => routed.push(to.port));
        node.sendOther(new Uint8Array([9]), { address: '127.3.3.40', port: 5 });
        assert.deepEqual(routed, [5]);
      } finally {
        sock.close();
        await node.close();
      }
    });
  });
}
