// SPDX-License-Identifier: Apache-2.0
// Wire formats: checksum vectors, address parsing/formatting, parse/emit round trips per header, IPv6
// extension-header walking, TCP options, and ICMP echo reply bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Cidr,
  IpAddress,
  Ipv4Packet,
  Ipv4Repr,
  Ipv6Packet,
  Ipv6Repr,
  TcpSegment,
  UdpPacket,
  WireError,
} from '../src/index.js';
import { checksum, finish, pseudoHeaderSum, sumBytes } from '../src/wire/checksum.js';
import { IpProtocol } from '../src/wire/error.js';
import { IcmpPacket } from '../src/wire/icmp.js';
import { fillTcpChecksum, TcpFlag, verifyTcpChecksum } from '../src/wire/tcp.js';
import { emitUdp } from '../src/wire/udp.js';

const hex = (s: string) =>
  Uint8Array.from(
    s
      .replace(/\s+/g, '')
      .match(/../g)!
      .map((b) => Number.parseInt(b, 16)),
  );

describe('checksum', () => {
  it('RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d', () => {
    const b = hex('0001f203f4f5f6f7');
    assert.equal(finish(sumBytes(b, 0, b.length, 0)), 0x220d);
    assert.equal(checksum(b, 0, b.length), 0x220d);
  });

  it('odd length pads with a zero byte', () => {
    assert.equal(checksum(hex('01'), 0, 1), ~0x0100 & 0xffff);
  });

  it('the 32-bit word sum equals the sum of byte pairs at every alignment, length and odd tail', () => {
    // sumBytes switches to native-order 32-bit words for 4-aligned runs of 64+ bytes; the reference
    // here is the RFC 1071 definition, one big-endian 16-bit word at a time.
    const reference = (b: Uint8Array, start: number, end: number, acc: number) => {
      for (let i = start; i < end; i += 2) acc += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
      return finish(acc);
    };
    const backing = new Uint8Array(4096 + 8);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7919 + 13) & 0xff;
    backing.fill(0xff, 100, 1600); // long carry chains
    for (const viewOffset of [0, 1, 2, 3, 4]) {
      const b = backing.subarray(viewOffset);
      for (const start of [0, 1, 2, 4, 52]) {
        // 4100 runs past the end of the view: bytes beyond it count as zero, as they always did.
        for (const len of [0, 1, 63, 64, 65, 67, 1380, 1381, 1420, 4000, 4100]) {
          const end = start + len;
          assert.equal(
            finish(sumBytes(b, start, end, 0x1234)),
            reference(b, start, end, 0x1234),
            `${viewOffset}/${start}/${len}`,
          );
        }
      }
    }
  });

  it('a resizable ArrayBuffer that grows or shrinks between sums is summed as it is now', () => {
    const reference = (b: Uint8Array) => {
      let acc = 0;
      for (let i = 0; i < b.length; i += 2) acc += (b[i] << 8) | (b[i + 1] ?? 0);
      return finish(acc);
    };
    type Resizable = ArrayBuffer & { resize(n: number): void };
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(
      256,
      {
        maxByteLength: 4096,
      },
    );
    const fill = (b: Uint8Array) => {
      for (let i = 0; i < b.length; i++) b[i] = (i * 37 + 11) & 0xff;
    };
    fill(new Uint8Array(ab));
    assert.equal(finish(sumBytes(new Uint8Array(ab), 0, 256, 0)), reference(new Uint8Array(ab)));
    ab.resize(2048);
    const grown = new Uint8Array(ab);
    fill(grown);
    assert.equal(finish(sumBytes(grown, 0, 2048, 0)), reference(grown));
    ab.resize(128);
    const shrunk = new Uint8Array(ab);
    assert.equal(finish(sumBytes(shrunk, 0, 128, 0)), reference(shrunk));
  });

  it('a known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) has checksum b861', () => {
    const h = hex('450000730000400040110000c0a80001c0a800c7');
    assert.equal(checksum(h, 0, 20), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    const p = Ipv4Packet.check(h.length === 20 ? new Uint8Array([...h, ...new Uint8Array(0x73 - 20)]) : h);
    assert.ok(typeof p !== 'number');
    assert.ok(p.verifyChecksum());
  });
});

describe('ip-address', () => {
  it('parses and formats IPv4, IPv6 (RFC 5952 canonical), embedded IPv4', () => {
    const cases: [string, string][] = [
      ['100.100.0.1', '100.100.0.1'],
      ['200::1', '200::1'],
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::ffff:1.2.3.4', '::ffff:102:304'],
      ['fd00:0:0:1::', 'fd00:0:0:1::'],
      ['[fd00::2]', 'fd00::2'],
    ];
    for (const [i, o] of cases) assert.equal(IpAddress.from(i).toString(), o, i);
  });

  it('rejects bad text with undefined / a TypeError naming the input', () => {
    for (const bad of [
      '1.2.3',
      '256.1.1.1',
      '1.2.3.4.5',
      '1::2::3',
      'g::1',
      '',
      '01234::1',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      assert.equal(IpAddress.parse(bad), undefined, bad);
    }
    assert.throws(() => IpAddress.from('nope'), /invalid IP address "nope"/);
  });

  it('CIDR contains, equality and hashing do not depend on object identity', () => {
    const c = Cidr.parse('100.100.0.1/16');
    assert.ok(c.contains(IpAddress.from('100.100.255.3')));
    assert.ok(!c.contains(IpAddress.from('100.101.0.1')));
    assert.ok(!c.contains(IpAddress.from('::1')));
    const c6 = Cidr.parse('200::1/64');
    assert.ok(c6.contains(IpAddress.from('200::ffff:1')));
    assert.ok(!c6.contains(IpAddress.from('200:0:0:1::1')));
    assert.ok(IpAddress.from('200::1').equals(IpAddress.from('200:0::1')));
    assert.equal(IpAddress.from('200::1').hash(), IpAddress.from('200:0::1').hash());
    assert.throws(() => Cidr.parse('1.2.3.4/33'), /prefix length/);
  });
});

describe('ipv4', () => {
  it('emit -> check -> parse round trip', () => {
    const r = new Ipv4Repr();
    r.src = IpAddress.from('100.100.0.1');
    r.dst = IpAddress.from('100.100.0.2');
    r.protocol = IpProtocol.Udp;
    r.payloadLen = 12;
    r.ttl = 17;
    r.ident = 0x1234;
    const buf = new Uint8Array(r.bufferLen());
    r.emit(buf);
    const p = Ipv4Packet.check(buf);
    assert.ok(typeof p !== 'number');
    assert.ok(p.verifyChecksum());
    const back = Ipv4Repr.parse(p);
    assert.deepEqual(
      [back.src.toString(), back.dst.toString(), back.protocol, back.payloadLen, back.ttl, back.ident],
      ['100.100.0.1', '100.100.0.2', 17, 12, 17, 0x1234],
    );
    assert.equal(p.isFragment, false);
  });

  it('check() rejects short buffers, wrong versions, bad header and total lengths', () => {
    const good = new Uint8Array(20);
    const r = new Ipv4Repr();
    r.emit(good);
    assert.equal(Ipv4Packet.check(good.subarray(0, 19)), WireError.Truncated);
    const v = good.slice();
    v[0] = 0x65;
    assert.equal(Ipv4Packet.check(v), WireError.Malformed);
    const ihl = good.slice();
    ihl[0] = 0x44;
    assert.equal(Ipv4Packet.check(ihl), WireError.Malformed);
    const tl = good.slice();
    tl[3] = 40;
    assert.equal(Ipv4Packet.check(tl), WireError.Truncated);
  });
});

describe('ipv6', () => {
  function v6(next: number, ext: Uint8Array, upper: Uint8Array): Uint8Array {
    const r = new Ipv6Repr();
    r.src = IpAddress.from('200::2');
    r.dst = IpAddress.from('200::1');
    r.nextHeader = next;
    r.payloadLen = ext.length + upper.length;
    const buf = new Uint8Array(40 + r.payloadLen);
    r.emit(buf);
    buf.set(ext, 40);
    buf.set(upper, 40 + ext.length);
    return buf;
  }

  it('round trip without extension headers', () => {
    const p = Ipv6Packet.check(v6(IpProtocol.Udp, new Uint8Array(0), new Uint8Array(8)));
    assert.ok(typeof p !== 'number');
    const r = Ipv6Repr.parse(p);
    assert.equal(r.src.toString(), '200::2');
    assert.equal(r.nextHeader, IpProtocol.Udp);
    assert.equal(r.payloadLen, 8);
  });

  it('skips hop-by-hop, routing and destination options to find the upper layer', () => {
    // HbH (next=43, len 0 -> 8 bytes) | Routing (next=60, len 1 -> 16 bytes) | DestOpts (next=17, len 0)
    const ext = new Uint8Array(8 + 16 + 8);
    ext[0] = IpProtocol.Ipv6Route;
    ext[1] = 0;
    ext[8] = IpProtocol.Ipv6Opts;
    ext[9] = 1;
    ext[24] = IpProtocol.Udp;
    ext[25] = 0;
    const p = Ipv6Packet.check(v6(IpProtocol.HopByHop, ext, new Uint8Array([1, 2, 3, 4, 0, 8, 0, 0])));
    assert.ok(typeof p !== 'number');
    assert.equal(p.upperProtocol, IpProtocol.Udp);
    assert.equal(p.upperOffset, 40 + 32);
    assert.deepEqual([...p.payload().subarray(0, 4)], [1, 2, 3, 4]);
  });

  it('hop-by-hop after another extension header is malformed; ESP is unsupported; truncated chains are caught', () => {
    const ext = new Uint8Array(16);
    ext[0] = IpProtocol.HopByHop;
    ext[8] = IpProtocol.Udp;
    assert.equal(Ipv6Packet.check(v6(IpProtocol.Ipv6Opts, ext, new Uint8Array(0))), WireError.Malformed);
    assert.equal(
      Ipv6Packet.check(v6(IpProtocol.Esp, new Uint8Array(0), new Uint8Array(8))),
      WireError.Unsupported,
    );
    const long = new Uint8Array(8);
    long[0] = IpProtocol.Udp;
    long[1] = 5; // claims 48 bytes
    assert.equal(Ipv6Packet.check(v6(IpProtocol.Ipv6Opts, long, new Uint8Array(0))), WireError.Truncated);
  });

  it('fragment header: offset, M flag and identification; an atomic fragment is a plain packet', () => {
    const frag = hex('11 00 0009 deadbeef'); // next UDP, offset 8 bytes (1<<3), M=1
    const p = Ipv6Packet.check(v6(IpProtocol.Ipv6Frag, frag, new Uint8Array(16)));
    assert.ok(typeof p !== 'number');
    assert.deepEqual(
      [p.isFragment, p.fragmentOffset, p.moreFragments, p.fragmentIdent, p.upperProtocol],
      [true, 8, true, 0xdeadbeef, 17],
    );
    const atomic = Ipv6Packet.check(v6(IpProtocol.Ipv6Frag, hex('11 00 0000 00000001'), new Uint8Array(8)));
    assert.ok(typeof atomic !== 'number');
    assert.equal(atomic.isFragment, false);
    assert.equal(atomic.upperProtocol, IpProtocol.Udp);
  });
});

describe('udp', () => {
  it('emit fills a checksum that verifies over IPv4 and IPv6; zero is sent as ffff', () => {
    for (const [s, d] of [
      ['100.100.0.1', '100.100.0.2'],
      ['200::1', '200::2'],
    ]) {
      const src = IpAddress.from(s);
      const dst = IpAddress.from(d);
      const buf = new Uint8Array(8 + 5);
      buf.set([104, 101, 108, 108, 111], 8);
      emitUdp(buf, 0, 5353, 53, 5, src, dst);
      const u = UdpPacket.check(buf);
      assert.ok(typeof u !== 'number');
      assert.ok(u.verifyChecksum(src, dst));
      assert.notEqual(u.checksumField, 0);
      assert.deepEqual([u.srcPort, u.dstPort, u.length], [5353, 53, 13]);
      buf[9] ^= 1;
      assert.ok(!u.verifyChecksum(src, dst), 'a flipped bit fails');
    }
  });

  it('check() rejects a length field below 8 or beyond the buffer', () => {
    assert.equal(UdpPacket.check(hex('0001000200070000')), WireError.Malformed);
    assert.equal(UdpPacket.check(hex('0001000200100000')), WireError.Truncated);
  });
});

describe('tcp', () => {
  it('round trip of a SYN with MSS, window scale, SACK-permitted and timestamps', () => {
    const s = new TcpSegment();
    Object.assign(s, {
      srcPort: 1234,
      dstPort: 80,
      seq: 0xfffffff0,
      ack: 0,
      flags: TcpFlag.SYN,
      window: 65535,
    });
    Object.assign(s, {
      mss: 1380,
      windowScale: 7,
      sackPermitted: true,
      tsPresent: true,
      tsVal: 111,
      tsEcr: 0,
    });
    const buf = new Uint8Array(60);
    const hl = s.emitHeader(buf, 0);
    assert.equal(hl, 20 + 4 + 4 + 12);
    const src = IpAddress.from('100.100.0.2');
    const dst = IpAddress.from('100.100.0.1');
    fillTcpChecksum(buf, 0, hl, src, dst);
    assert.ok(verifyTcpChecksum(buf.subarray(0, hl), src, dst));
    const p = new TcpSegment();
    assert.equal(p.parse(buf.subarray(0, hl)), undefined);
    assert.deepEqual(
      [
        p.srcPort,
        p.dstPort,
        p.seq,
        p.flags,
        p.window,
        p.mss,
        p.windowScale,
        p.sackPermitted,
        p.tsVal,
        p.tsEcr,
        p.payloadLen,
      ],
      [1234, 80, 0xfffffff0, TcpFlag.SYN, 65535, 1380, 7, true, 111, 0, 0],
    );
  });

  it('round trip of SACK blocks next to timestamps (3 blocks fit in 40 option bytes)', () => {
    const s = new TcpSegment();
    Object.assign(s, {
      srcPort: 1,
      dstPort: 2,
      seq: 5,
      ack: 9,
      flags: TcpFlag.ACK,
      tsPresent: true,
      tsVal: 1,
      tsEcr: 2,
    });
    s.sackCount = 3;
    [10, 30, 50].forEach((l, i) => {
      s.sackLeft[i] = l;
      s.sackRight[i] = l + 10;
    });
    const buf = new Uint8Array(60);
    const hl = s.emitHeader(buf, 0);
    assert.equal(hl, 60);
    const p = new TcpSegment();
    assert.equal(p.parse(buf), undefined);
    assert.equal(p.sackCount, 3);
    assert.deepEqual(
      [p.sackLeft.slice(0, 3), p.sackRight.slice(0, 3)],
      [
        [10, 30, 50],
        [20, 40, 60],
      ],
    );
  });

  it('malformed options and data offsets are reported, never thrown', () => {
    const base = hex('0001000200000001000000005010ffff00000000');
    const bad = (patch: (b: Uint8Array) => void, err: number) => {
      const b = new Uint8Array(24);
      b.set(base);
      b[12] = 0x60; // 24-byte header
      patch(b);
      assert.equal(new TcpSegment().parse(b), err);
    };
    bad((b) => b.set([2, 3, 0, 0], 20), WireError.Malformed); // MSS with length 3
    bad((b) => b.set([8, 10, 0, 0], 20), WireError.Malformed); // timestamps running past the header
    bad((b) => b.set([5, 1, 0, 0], 20), WireError.Malformed); // option length < 2
    const short = base.slice();
    short[12] = 0x40; // data offset 16 < 20
    assert.equal(new TcpSegment().parse(short), WireError.Malformed);
    assert.equal(new TcpSegment().parse(base.subarray(0, 19)), WireError.Truncated);
  });

  it('pseudo-header sums differ by family and protocol (guards checksum mix-ups)', () => {
    const a = pseudoHeaderSum(IpAddress.from('1.2.3.4'), IpAddress.from('5.6.7.8'), 6, 20);
    const b = pseudoHeaderSum(IpAddress.from('1.2.3.4'), IpAddress.from('5.6.7.8'), 17, 20);
    assert.equal(b - a, 11);
  });
});

describe('icmp', () => {
  it('echo request view exposes identifier and sequence number', () => {
    const b = hex('0800 0000 1234 0001 6869');
    const c = checksum(b, 0, b.length);
    b[2] = c >> 8;
    b[3] = c & 0xff;
    const p = IcmpPacket.check(b);
    assert.ok(typeof p !== 'number');
    assert.deepEqual([p.type, p.code, p.ident, p.seqNo, p.verifyV4()], [8, 0, 0x1234, 1, true]);
    assert.equal(IcmpPacket.check(b.subarray(0, 7)), WireError.Truncated);
  });
});
