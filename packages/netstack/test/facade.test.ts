// SPDX-License-Identifier: Apache-2.0
// The Node façade over MemoryLink with real streams: echo, large piped transfers with backpressure, error
// codes, UDP v4/v6 and ping. Wall-clock timers here are the stack's own (short RTOs keep tests fast).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { Cidr, IpAddress, NetStack, type NetStackError, type TcpSocketStream } from '../src/index.js';
import {
  describePacket,
  FaultyLink,
  fillPattern,
  MemoryLink,
  Prng,
  TracingLink,
} from '../src/testing/index.js';
import { checksum } from '../src/wire/checksum.js';
import { emitIpv4Header } from '../src/wire/ipv4.js';

const fastTcp = { minRto: 20, initialRto: 50, timeWaitMs: 100, delayedAckMs: 5 };

function pair(seed: number, tcpB = fastTcp) {
  const [la, lb] = MemoryLink.pair();
  const a = new NetStack({
    addresses: ['100.100.0.1/16', '200::1/64'],
    link: la,
    random: new Prng(seed).fill,
    tcp: fastTcp,
  });
  const b = new NetStack({
    addresses: ['100.100.0.2/16', '200::2/64'],
    link: lb,
    random: new Prng(seed + 1).fill,
    tcp: tcpB,
  });
  // Each link end delivers what its peer sent to the stack that owns this end.
  la.onReceive = (p) => a.input(p);
  lb.onReceive = (p) => b.input(p);
  return {
    a,
    b,
    la,
    lb,
    close: () => {
      a.close();
      b.close();
      la.close();
      lb.close();
    },
  };
}

describe('façade over MemoryLink', () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
  });

  it('echo server and client over IPv4 and IPv6 report addresses and ports', async () => {
    const { a, b, close } = pair(1);
    cleanups.push(close);
    b.listen({ port: 7 }, (s) => s.pipe(s));
    for (const host of ['100.100.0.2', '200::2']) {
      const c = a.connect({ host, port: 7 });
      await once(c, 'connect');
      assert.equal(c.remoteAddress, host);
      assert.equal(c.remotePort, 7);
      assert.equal(c.localAddress, host.includes(':') ? '200::1' : '100.100.0.1');
      assert.ok(c.localPort >= 49152);
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      c.end('hello over the userspace stack');
      await once(c, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'hello over the userspace stack');
      c.destroy();
    }
  });

  it('pipes 4 MB each way with backpressure, byte-identical', async () => {
    const { a, b, close } = pair(2);
    cleanups.push(close);
    const total = 4 * 1024 * 1024;
    const make = (seed: number) => {
      const buf = Buffer.alloc(total);
      fillPattern(seed, 0, buf, 0, total);
      return buf;
    };
    const up = make(11);
    const down = make(12);
    const serverGot = createHash('sha256');
    let serverBytes = 0;
    b.listen({ port: 9000 }, (s) => {
      s.on('data', (d: Buffer) => {
        serverGot.update(d);
        serverBytes += d.length;
      });
      s.on('end', () => {
        // Write in 64 KiB pieces honouring write() === false.
        let off = 0;
        const pump = () => {
          while (off < total) {
            const piece = down.subarray(off, off + 65536);
            off += piece.length;
            if (!s.write(piece)) {
              s.once('drain', pump);
              return;
            }
          }
          s.end();
        };
        pump();
      });
    });
    const c = a.connect({ host: '100.100.0.2', port: 9000 });
    await once(c, 'connect');
    const clientGot = createHash('sha256');
    let clientBytes = 0;
    let sawBackpressure = false;
    c.on('data', (d: Buffer) => {
      clientGot.update(d);
      clientBytes += d.length;
    });
    for (let off = 0; off < total; off += 65536) {
      if (!c.write(up.subarray(off, off + 65536))) {
        sawBackpressure = true;
        await once(c, 'drain');
      }
    }
    c.end();
    await once(c, 'end');
    assert.equal(serverBytes, total);
    assert.equal(clientBytes, total);
    assert.equal(serverGot.digest('hex'), createHash('sha256').update(up).digest('hex'));
    assert.equal(clientGot.digest('hex'), createHash('sha256').update(down).digest('hex'));
    assert.ok(sawBackpressure, 'write() returned false at least once');
  });

  it('connect to a closed port fails with ECONNREFUSED (RST answers the SYN)', async () => {
    const { a, close } = pair(3);
    cleanups.push(close);
    const c = a.connect({ host: '100.100.0.2', port: 81 });
    const [err] = (await once(c, 'error')) as [NetStackError];
    assert.equal(err.code, 'ECONNREFUSED');
    assert.match(err.message, /connect ECONNREFUSED 100\.100\.0\.2:81/);
  });

  it('peer destroy() surfaces ECONNRESET', async () => {
    const { a, b, close } = pair(4);
    cleanups.push(close);
    b.listen({ port: 82 }, (s) => s.once('data', () => s.destroy()));
    const c = a.connect({ host: '100.100.0.2', port: 82 });
    await once(c, 'connect');
    c.write('trigger');
    const [err] = (await once(c, 'error')) as [NetStackError];
    assert.equal(err.code, 'ECONNRESET');
  });

  it('connect without any answer times out with ETIMEDOUT', async () => {
    const [la] = MemoryLink.pair(); // the peer end never answers
    const a = new NetStack({
      addresses: ['100.100.0.1/16'],
      link: la,
      random: new Prng(5).fill,
      tcp: { initialRto: 20, synRetries: 2 },
    });
    cleanups.push(() => a.close());
    const c = a.connect({ host: '100.100.0.9', port: 80 });
    const t0 = Date.now();
    const [err] = (await once(c, 'error')) as [NetStackError];
    assert.equal(err.code, 'ETIMEDOUT');
    assert.ok(Date.now() - t0 >= 20 + 40 + 80 - 10, 'waited for the backed-off SYN retransmissions');
  });

  it('UDP over IPv4 and IPv6: send, message with rinfo, reply', async () => {
    const { a, b, close } = pair(6);
    cleanups.push(close);
    const srv = b.createUdpSocket({ port: 5353 });
    srv.on('message', (msg, rinfo) => srv.send(Buffer.from(`echo:${msg}`), rinfo.port, rinfo.address));
    for (const host of ['100.100.0.2', '200::2']) {
      const cli = a.createUdpSocket();
      cli.send('ping', 5353, host);
      const [msg, rinfo] = (await once(cli, 'message')) as [
        Buffer,
        { address: string; port: number; family: string },
      ];
      assert.equal(msg.toString(), 'echo:ping');
      assert.equal(rinfo.address, host);
      assert.equal(rinfo.port, 5353);
      assert.equal(rinfo.family, host.includes(':') ? 'IPv6' : 'IPv4');
      cli.close();
    }
    // Above the MTU: fragmented on the way out, reassembled by the peer.
    const frag = a.createUdpSocket();
    frag.send(Buffer.alloc(4000, 7), 5353, '100.100.0.2');
    const [echo] = (await once(frag, 'message')) as [Buffer];
    assert.equal(echo.length, 5 + 4000);
    frag.close();
    const big = a.createUdpSocket();
    const [err] = await new Promise<[Error | null]>((r) =>
      big.send(Buffer.alloc(70_000), 5353, '100.100.0.2', (e) => r([e])),
    );
    assert.equal((err as NetStackError).code, 'EMSGSIZE');
  });

  it('answers ICMP echo (ping) with a valid reply', async () => {
    const replies: Uint8Array[] = [];
    const stack = new NetStack({
      addresses: ['100.100.0.1/16'],
      link: { send: (p) => replies.push(p.slice()) },
      random: new Prng(7).fill,
    });
    cleanups.push(() => stack.close());
    const pkt = new Uint8Array(20 + 8 + 4);
    const icmp = pkt.subarray(20);
    icmp.set([8, 0, 0, 0, 0x12, 0x34, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
    const c = checksum(icmp, 0, icmp.length);
    icmp[2] = c >> 8;
    icmp[3] = c & 0xff;
    emitIpv4Header(pkt, 0, IpAddress.from('100.100.0.7'), IpAddress.from('100.100.0.1'), 1, 12, 64, 1);
    stack.input(pkt);
    await new Promise((r) => setImmediate(r));
    assert.equal(replies.length, 1);
    const r = replies[0];
    assert.equal(r[20], 0, 'echo reply type');
    assert.deepEqual([...r.subarray(24, 32)], [0x12, 0x34, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
    assert.equal(checksum(r, 20, r.length), 0, 'ICMP checksum verifies');
    assert.equal(checksum(r, 0, 20), 0, 'IPv4 header checksum verifies');
    assert.ok(
      Cidr.parse('100.100.0.7/32').contains(
        IpAddress.v4((r[16] << 24) | (r[17] << 16) | (r[18] << 8) | r[19]),
      ),
    );
  });

  it('a paused reader leaves bytes in the core: the window closes, the writer sees backpressure, resume completes', async () => {
    const recvBufferSize = 64 * 1024;
    const { a, b, close } = pair(9, { ...fastTcp, recvBufferSize } as typeof fastTcp);
    cleanups.push(close);
    let server: TcpSocketStream | undefined;
    b.listen({ port: 9100 }, (s) => {
      server = s;
      s.pause();
    });
    const c = a.connect({ host: '100.100.0.2', port: 9100 });
    await once(c, 'connect');
    const total = 1 << 20;
    const data = Buffer.alloc(total);
    fillPattern(21, 0, data, 0, total);
    c.write(data);
    c.end();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(server, 'accepted');
    assert.ok(server.core.recvAvailable <= recvBufferSize, 'core receive buffer bounded');
    assert.ok(server.core.recvAvailable + server.readableLength < total, 'not everything was pulled in');
    assert.ok(c.writableLength > 0, 'the writer is holding data back');
    const got = createHash('sha256');
    let n = 0;
    server.on('data', (d: Buffer) => {
      got.update(d);
      n += d.length;
    });
    server.resume();
    await once(server, 'end');
    assert.equal(n, total);
    assert.equal(got.digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('over a FaultyLink (3 % loss, reordering, duplication) a 1 MB echo is byte-identical', async () => {
    const [la, lb] = MemoryLink.pair();
    const fa = new FaultyLink(la, { seed: 3, loss: 0.03, reorder: 0.03, duplicate: 0.02 });
    const fb = new FaultyLink(lb, { seed: 4, loss: 0.03, reorder: 0.03, duplicate: 0.02 });
    const a = new NetStack({
      addresses: ['100.100.0.1/16'],
      link: fa,
      random: new Prng(31).fill,
      tcp: fastTcp,
    });
    const b = new NetStack({
      addresses: ['100.100.0.2/16'],
      link: fb,
      random: new Prng(32).fill,
      tcp: fastTcp,
    });
    la.onReceive = (p) => a.input(p);
    lb.onReceive = (p) => b.input(p);
    // Held-back (reordered) packets must not wait forever: flush them every few ms.
    const flusher = setInterval(() => {
      fa.flush();
      fb.flush();
    }, 5);
    cleanups.push(() => {
      clearInterval(flusher);
      a.close();
      b.close();
    });
    b.listen({ port: 7 }, (s) => s.pipe(s));
    const c = a.connect({ host: '100.100.0.2', port: 7 });
    await once(c, 'connect');
    const data = Buffer.alloc(1 << 20);
    fillPattern(33, 0, data, 0, data.length);
    const got = createHash('sha256');
    let n = 0;
    c.on('data', (d: Buffer) => {
      got.update(d);
      n += d.length;
    });
    c.end(data);
    await once(c, 'end');
    assert.equal(n, data.length);
    assert.equal(got.digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.ok(
      fa.counts.lost > 0 && fa.counts.reordered > 0 && fa.counts.duplicated > 0,
      JSON.stringify(fa.counts),
    );
  });

  it('TracingLink describes each packet on one line', async () => {
    const lines: string[] = [];
    const [la, lb] = MemoryLink.pair();
    const a = new NetStack({
      addresses: ['100.100.0.1/16'],
      link: new TracingLink(la, (l) => lines.push(l), 'a> '),
      random: new Prng(41).fill,
    });
    const b = new NetStack({ addresses: ['100.100.0.2/16'], link: lb, random: new Prng(42).fill });
    la.onReceive = (p) => a.input(p);
    lb.onReceive = (p) => b.input(p);
    cleanups.push(() => {
      a.close();
      b.close();
    });
    b.listen({ port: 80 }, (s) => s.on('error', () => {})); // the client's destroy() resets it
    const c = a.connect({ host: '100.100.0.2', port: 80 });
    await once(c, 'connect');
    assert.match(lines[0], /^a> 100\.100\.0\.1 > 100\.100\.0\.2 TCP \d+>80 SYN seq=\d+ ack=0 win=\d+ len=0$/);
    assert.match(lines[1], /TCP \d+>80 ACK seq=/);
    assert.equal(describePacket(new Uint8Array([0x45])), 'malformed IPv4 (1)');
    c.destroy();
  });

  it('a link that throws loses the packet (counted), it does not crash the stack', async () => {
    let fail = true;
    const [la, lb] = MemoryLink.pair();
    const a = new NetStack({
      addresses: ['100.100.0.1/16'],
      link: {
        send: (p) => {
          if (fail) throw new Error('no route to peer');
          la.send(p);
        },
      },
      random: new Prng(51).fill,
      tcp: fastTcp,
    });
    const b = new NetStack({
      addresses: ['100.100.0.2/16'],
      link: lb,
      random: new Prng(52).fill,
      tcp: fastTcp,
    });
    la.onReceive = (p) => a.input(p);
    lb.onReceive = (p) => b.input(p);
    cleanups.push(() => {
      a.close();
      b.close();
    });
    b.listen({ port: 80 }, (s) => s.on('error', () => {})); // the client's destroy() resets it
    const c = a.connect({ host: '100.100.0.2', port: 80 });
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(a.stats().linkErrors >= 1);
    assert.match(a.stats().lastLinkError ?? '', /no route to peer/);
    fail = false; // the SYN retransmission gets through
    await once(c, 'connect');
    c.destroy();
  });

  it("setTimeout(ms) emits 'timeout' after idleness (activity postpones it); node:http serves over the stack", async () => {
    const { a, b, close } = pair(61);
    cleanups.push(close);
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello ${req.url}`);
    });
    server.timeout = 5_000; // node:http calls socket.setTimeout()
    b.listen({ port: 80 }, (s) => server.emit('connection', s));
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get(
        {
          host: '100.100.0.2',
          port: 80,
          path: '/x',
          createConnection: () => a.connect({ host: '100.100.0.2', port: 80 }) as never,
        },
        (res) => {
          let t = '';
          res.on('data', (d: Buffer) => (t += d));
          res.on('end', () => resolve(t));
        },
      );
      req.on('error', reject);
    });
    assert.equal(body, 'hello /x');
    const c = a.connect({ host: '100.100.0.2', port: 80 });
    await once(c, 'connect');
    const t0 = Date.now();
    let timeouts = 0;
    c.setTimeout(100, () => timeouts++);
    await new Promise((r) => setTimeout(r, 60));
    c.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'); // activity at ~60 ms
    await once(c, 'timeout');
    assert.ok(Date.now() - t0 >= 150, `timeout postponed by the write (${Date.now() - t0} ms)`);
    assert.equal(timeouts, 1);
    c.setTimeout(0);
    c.destroy();
  });

  it('listen twice on a port is EADDRINUSE; bad host is a TypeError', () => {
    const { a, close } = pair(8);
    cleanups.push(close);
    const s = a.listen({ port: 1000 });
    assert.throws(
      () => a.listen({ port: 1000 }),
      (e: NetStackError) => e.code === 'EADDRINUSE',
    );
    assert.throws(() => a.connect({ host: 'not-an-ip', port: 1 }), TypeError);
    s.close();
    a.listen({ port: 1000 }).close();
  });
});

export type { TcpSocketStream };
