// SPDX-License-Identifier: Apache-2.0
// Parser and state-machine fuzzing with fast-check (seeded, time-boxed): random bytes and mutated valid
// segments go into input(); nothing may throw, and tables and buffers must stay within their bounds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Interface } from '../src/index.js';
import { MAX_RANGES } from '../src/tcp/assembler.js';
import { IpProtocol } from '../src/wire/error.js';
import { emitIpv4Header } from '../src/wire/ipv4.js';
import { fillTcpChecksum, TcpSegment } from '../src/wire/tcp.js';
import { established, LOCAL, LOCAL_PORT, PEER, PEER_PORT } from './trace-helpers.js';

const SEED = 0x5eed;
const TIME_LIMIT_MS = 3_000;

function checkBounds(iface: Interface): void {
  const st = iface.stats();
  assert.ok(st.tcp.connections <= iface.limits.maxConnections);
  assert.ok(st.fragments.bufferedBytes <= 1 << 20);
  assert.ok(
    st.schedulerEntries <= 4 * (st.tcp.connections + st.tcp.timeWait) + 64,
    `heap ${st.schedulerEntries}`,
  );
  for (const s of iface.allConnections()) {
    assert.ok(s.recvBuf.length <= s.recvBuf.capacity);
    assert.ok(s.sendBuf.length <= s.sendBuf.capacity);
    assert.ok(s.assembler.count <= MAX_RANGES);
    assert.ok(s.scoreboard.left.length <= 16);
  }
}

function poll(iface: Interface, now: number): number {
  let n = 0;
  iface.poll(now, {
    send: (p) => {
      n++;
      assert.ok(p.length <= iface.mtu, 'never emits more than the MTU');
    },
  });
  iface.dispatchEvents();
  return n;
}

describe('fuzz', () => {
  it('random bytes (biased to IPv4/IPv6 headers) never throw', () => {
    const { h } = established();
    let now = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1600 }),
        fc.constantFrom(0x40, 0x45, 0x60, 0x00),
        (bytes, first) => {
          if (bytes.length > 0 && first !== 0) bytes[0] = first | (bytes[0] & 0x0f);
          now += 1;
          h.iface.input(bytes, now);
          poll(h.iface, now);
          checkBounds(h.iface);
        },
      ),
      { seed: SEED, numRuns: 20_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  const segArb = fc.record({
    flags: fc.integer({ min: 0, max: 0x3f }),
    seqOff: fc.oneof(fc.integer({ min: -70_000, max: 70_000 }), fc.integer({ min: 0, max: 0xffffffff })),
    ackOff: fc.oneof(fc.integer({ min: -70_000, max: 70_000 }), fc.integer({ min: 0, max: 0xffffffff })),
    window: fc.integer({ min: 0, max: 0xffff }),
    len: fc.integer({ min: 0, max: 1380 }),
    mss: fc.integer({ min: 0, max: 0xffff }),
    ws: fc.integer({ min: -1, max: 20 }),
    sack: fc.array(fc.tuple(fc.integer({ min: -70_000, max: 70_000 }), fc.integer({ min: 0, max: 70_000 })), {
      maxLength: 3,
    }),
    ts: fc.option(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }))),
    mutate: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    fixChecksum: fc.boolean(),
    dt: fc.integer({ min: 0, max: 3000 }),
    port: fc.constantFrom(PEER_PORT, PEER_PORT + 1, 1234),
  });

  it('mutated valid segments against an established connection and a listener never throw; state stays bounded', () => {
    const cfg = { recvBufferSize: 16 * 1024 };
    let { h, sock } = established(cfg);
    sock.send(new Uint8Array(20_000));
    let now = 0;
    let reopened = 0;
    let inEstablished = 0;
    const buf = new Uint8Array(20 + 60 + 1380);
    const seg = new TcpSegment();
    fc.assert(
      fc.property(segArb, (a) => {
        if (sock.state === 'closed' || sock.state === 'time-wait') {
          // A RST or FIN ended it: start over so most inputs hit a live connection.
          ({ h, sock } = established(cfg));
          sock.send(new Uint8Array(20_000));
          now = 0;
          reopened++;
        }
        if (sock.state === 'established') inEstablished++;
        now += a.dt;
        seg.reset();
        seg.srcPort = a.port;
        seg.dstPort = LOCAL_PORT;
        seg.seq = (sock.rcvNxt + a.seqOff) >>> 0;
        seg.ack = (sock.sndUna + a.ackOff) >>> 0;
        seg.flags = a.flags;
        seg.window = a.window;
        seg.mss = a.mss;
        seg.windowScale = a.ws;
        if (a.ts) {
          seg.tsPresent = true;
          seg.tsVal = a.ts[0];
          seg.tsEcr = a.ts[1];
        }
        seg.sackCount = a.sack.length;
        a.sack.forEach(([l, n], i) => {
          seg.sackLeft[i] = (sock.sndUna + l) >>> 0;
          seg.sackRight[i] = (sock.sndUna + l + n) >>> 0;
        });
        const hl = seg.emitHeader(buf, 20);
        const end = 20 + hl + a.len;
        buf.fill(0x61, 20 + hl, end);
        for (const [pos, v] of a.mutate) buf[20 + (pos % (end - 20))] = v;
        if (a.fixChecksum) fillTcpChecksum(buf, 20, end, PEER, LOCAL);
        emitIpv4Header(buf, 0, PEER, LOCAL, IpProtocol.Tcp, end - 20, 64, 0);
        h.iface.input(buf.subarray(0, end), now);
        poll(h.iface, now);
        checkBounds(h.iface);
        // The application keeps draining, so the connection can keep accepting data.
        if (a.dt % 3 === 0) sock.recv(new Uint8Array(4096));
      }),
      { seed: SEED + 1, numRuns: 20_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    assert.ok(
      inEstablished > 100,
      `the fuzzer reached ESTABLISHED often (${inEstablished}, reopened ${reopened})`,
    );
  });
});
