// SPDX-License-Identifier: Apache-2.0
// Packets addressed to one of the stack's own addresses are delivered locally, as a host's loopback does:
// they never reach the link (a tunnel has no peer for its own address and would drop them).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { NetStack, type RemoteInfo } from '../src/index.js';
import { Prng } from '../src/testing/index.js';

function lonelyStack(opts: { tcpChecksumOffload?: boolean } = {}) {
  const sent: Uint8Array[] = [];
  const stack = new NetStack({
    addresses: ['100.100.0.1/16', '200::1/64'],
    link: { send: (p) => void sent.push(p.slice()) },
    random: new Prng(7).fill,
    tcp: { minRto: 20, initialRto: 50, timeWaitMs: 100, delayedAckMs: 5 },
    ...opts,
  });
  return { stack, sent };
}

describe('loopback: traffic to our own addresses', () => {
  for (const host of ['100.100.0.1', '200::1']) {
    it(`TCP to our own ${host} connects and echoes without touching the link`, async () => {
      const { stack, sent } = lonelyStack();
      try {
        stack.listen({ port: 80 }, (s) => s.pipe(s));
        const c = stack.connect({ host, port: 80 });
        await once(c, 'connect');
        assert.equal(c.remoteAddress, host);
        assert.equal(c.localAddress, host);
        const chunks: Buffer[] = [];
        c.on('data', (d: Buffer) => chunks.push(d));
        c.end('hello, me');
        await once(c, 'end');
        assert.equal(Buffer.concat(chunks).toString(), 'hello, me');
        assert.equal(sent.length, 0, 'no packet went to the link');
        assert.ok(stack.stats().loopbackPackets > 0);
      } finally {
        stack.close();
      }
    });
  }

  it('TCP to ourselves with checksum offload still verifies (the loopback fills the checksum)', async () => {
    const { stack, sent } = lonelyStack({ tcpChecksumOffload: true });
    try {
      stack.listen({ port: 81 }, (s) => s.end('ok'));
      const c = stack.connect({ host: '100.100.0.1', port: 81 });
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      await once(c, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'ok');
      assert.equal(stack.stats().drops.checksum, 0);
      assert.equal(sent.length, 0);
    } finally {
      stack.close();
    }
  });

  it('UDP to our own address arrives with our address as the source', async () => {
    const { stack, sent } = lonelyStack();
    try {
      const srv = stack.createUdpSocket({ port: 53 });
      const cli = stack.createUdpSocket();
      cli.send('query', 53, '100.100.0.1');
      const [msg, rinfo] = (await once(srv, 'message')) as [Buffer, RemoteInfo];
      assert.equal(msg.toString(), 'query');
      assert.equal(rinfo.address, '100.100.0.1');
      assert.equal(sent.length, 0);
    } finally {
      stack.close();
    }
  });

  it('a closed port on our own address refuses at once (RST), not after a timeout', async () => {
    const { stack } = lonelyStack();
    try {
      const c = stack.connect({ host: '100.100.0.1', port: 9 });
      const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED');
    } finally {
      stack.close();
    }
  });

  it('packets to other addresses still go to the link', async () => {
    const { stack, sent } = lonelyStack();
    try {
      const cli = stack.createUdpSocket();
      cli.send('away', 53, '100.100.0.2');
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.equal(sent.length, 1);
    } finally {
      stack.close();
    }
  });
});
