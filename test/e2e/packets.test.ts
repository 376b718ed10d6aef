// SPDX-License-Identifier: Apache-2.0
// The hand-built packets of the interop tests must be right before they can judge the engine: known-answer
// checksums, round trips, a differential check of IPv6 text formatting against the WHATWG URL serializer,
// and corruption detection.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  buildEcho,
  buildUdp,
  echoReplyFor,
  formatAddress,
  internetChecksum,
  PacketError,
  parseAddress,
  parseEcho,
  parseIp,
  parseUdp,
} from './lib/packets.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

describe('internet checksum (RFC 1071)', () => {
  test('RFC 1071 section 3 example sums to 0xddf2, so the checksum is 0x220d', () => {
    assert.equal(internetChecksum(hex('0001 f203 f4f5 f6f7')), 0x220d);
  });

  test('a well-known IPv4 header checksums to 0xb861', () => {
    assert.equal(internetChecksum(hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7')), 0xb861);
  });

  test('odd lengths and split parts sum like one contiguous buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(64), (data, cut) => {
        const at = Math.min(cut, data.length) & ~1; // parts after the first must start at an even offset
        assert.equal(internetChecksum(data.subarray(0, at), data.subarray(at)), internetChecksum(data));
      }),
      { numRuns: 200 },
    );
  });
});

describe('addresses', () => {
  test('IPv6 text round-trips and matches the WHATWG URL serializer (RFC 5952 form)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(16), (bytes, zeros) => {
        bytes.fill(0, 4, 4 + Math.min(zeros, 12)); // make "::" runs likely
        const text = formatAddress(bytes);
        assert.deepEqual(parseAddress(text), bytes);
        assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
      }),
      { numRuns: 300 },
    );
  });

  test('IPv4 and edge forms', () => {
    assert.deepEqual(parseAddress('198.19.0.2'), Uint8Array.of(198, 19, 0, 2));
    assert.equal(formatAddress(parseAddress('fd00:19::2')), 'fd00:19::2');
    assert.equal(formatAddress(parseAddress('::')), '::');
    assert.equal(formatAddress(parseAddress('1:0:0:2:0:0:0:3')), '1:0:0:2::3');
    assert.throws(() => parseAddress('198.19.0.256'), PacketError);
    assert.throws(() => parseAddress('::ffff:1.2.3.4'), /plain IPv6/);
  });
});

describe('packet builders and parsers', () => {
  const v4 = { version: 4 as const, src: '198.19.0.2', dst: '198.19.0.1' };
  const v6 = { version: 6 as const, src: 'fd00:19::2', dst: 'fd00:19::1' };

  test('UDP over IPv4 and IPv6 round-trips with valid checksums', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ maxLength: 300 }),
        (six, srcPort, dstPort, data) => {
          const ip = six ? v6 : v4;
          const pkt = parseIp(buildUdp(ip, { srcPort, dstPort, data }));
          assert.equal(pkt.src, ip.src);
          assert.equal(pkt.dst, ip.dst);
          assert.deepEqual(parseUdp(pkt), { srcPort, dstPort, data });
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a flipped bit in an ICMP or UDP packet is detected', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat(), fc.nat(7), (six, udp, where, bit) => {
        const ip = six ? v6 : v4;
        const data = new TextEncoder().encode('nexodus e2e');
        const pkt = udp
          ? buildUdp(ip, { srcPort: 4000, dstPort: 7, data })
          : buildEcho(ip, { type: 'request', identifier: 7, sequence: 9, data });
        // Flip a bit in the transport part (IPv6 has no header checksum to catch header flips).
        const hdr = six ? 40 : 20;
        const at = hdr + (where % (pkt.length - hdr));
        pkt[at] ^= 1 << bit;
        assert.throws(() => {
          const p = parseIp(pkt);
          const got = udp ? parseUdp(p) : parseEcho(p);
          // A flip in a length/type field may be caught structurally instead of by the checksum.
          if (!got) throw new PacketError('not recognised');
        }, PacketError);
      }),
      { numRuns: 300 },
    );
  });

  test('echoReplyFor answers a request with swapped addresses and the same id, sequence and data', () => {
    for (const ip of [v4, v6]) {
      const req = buildEcho(ip, { type: 'request', identifier: 0x1234, sequence: 3, data: hex('cafe') });
      const reply = parseIp(echoReplyFor(req)!);
      assert.equal(reply.src, ip.dst);
      assert.equal(reply.dst, ip.src);
      assert.deepEqual(parseEcho(reply), {
        type: 'reply',
        identifier: 0x1234,
        sequence: 3,
        data: hex('cafe'),
      });
      assert.equal(echoReplyFor(echoReplyFor(req)!), undefined, 'a reply is not answered');
    }
  });

  test('truncated or foreign packets give a PacketError, never a crash', () => {
    const good = buildUdp(v4, { srcPort: 1, dstPort: 2, data: hex('00') });
    for (let n = 0; n < good.length; n++)
      assert.throws(() => parseUdp(parseIp(good.subarray(0, n))), PacketError);
    assert.throws(() => parseIp(hex('5000')), /not an IP packet/);
    assert.throws(() =>
      buildUdp({ version: 4, src: 'fd00::1', dst: '1.2.3.4' }, { srcPort: 1, dstPort: 2, data: hex('') }),
    );
  });
});
