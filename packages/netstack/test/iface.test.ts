// SPDX-License-Identifier: Apache-2.0
// The interface core: fragment reassembly with limits, ICMP/ICMPv6 echo replies, UDP demultiplexing, drop
// counters and the deadline bookkeeping (pollAt).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitFragments } from '../src/iface/fragmenter.js';
import { Cidr, Interface, IpAddress, Ipv4Packet, Ipv6Packet, Reassembler } from '../src/index.js';
import { Prng } from '../src/testing/prng.js';
import { checksum, finish, pseudoHeaderSum, sumBytes } from '../src/wire/checksum.js';
import { IpProtocol, readU16, writeU16 } from '../src/wire/error.js';
import { fillIcmpv6Checksum } from '../src/wire/icmp.js';
import { emitIpv4Header, FIELD as IP4 } from '../src/wire/ipv4.js';
import { emitIpv6Header } from '../src/wire/ipv6.js';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { emitUdp } from '../src/wire/udp.js';

const ME4 = IpAddress.from('100.100.0.1');
const PEER4 = IpAddress.from('100.100.0.9');
const ME6 = IpAddress.from('200::1');
const PEER6 = IpAddress.from('200::9');

function iface(extra: Partial<ConstructorParameters<typeof Interface>[0]> = {}) {
  return new Interface({
    addresses: [Cidr.parse('100.100.0.1/16'), Cidr.parse('200::1/64')],
    random: new Prng(1).fill,
    ...extra,
  });
}

function collect(i: Interface, now = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  i.poll(now, { send: (p) => out.push(p.slice()) });
  return out;
}

/** A UDP datagram v4 to ME4:port, split into IPv4 fragments of `fragSize` payload bytes. */
function udpFragments(payload: Uint8Array, port: number, fragSize: number, ident: number): Uint8Array[] {
  const udp = new Uint8Array(8 + payload.length);
  udp.set(payload, 8);
  emitUdp(udp, 0, 4000, port, payload.length, PEER4, ME4);
  const frags: Uint8Array[] = [];
  for (let off = 0; off < udp.length; off += fragSize) {
    const piece = udp.subarray(off, Math.min(off + fragSize, udp.length));
    const pkt = new Uint8Array(20 + piece.length);
    emitIpv4Header(pkt, 0, PEER4, ME4, IpProtocol.Udp, piece.length, 64, ident);
    const more = off + fragSize < udp.length;
    writeU16(pkt, IP4.FLG_OFF, (more ? 0x2000 : 0) | (off / 8));
    writeU16(pkt, IP4.CHECKSUM, 0);
    writeU16(pkt, IP4.CHECKSUM, checksum(pkt, 0, 20));
    pkt.set(piece, 20);
    frags.push(pkt);
  }
  return frags;
}

describe('fragment reassembly', () => {
  const payload = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);

  it('in order and out of order, IPv4 fragments of a UDP datagram are reassembled and delivered', () => {
    for (const order of [
      [0, 1, 2, 3],
      [3, 1, 0, 2],
    ]) {
      const i = iface();
      const u = i.udpBind(53) as import('../src/index.js').UdpSocket;
      const frags = udpFragments(payload, 53, 1000, 77);
      assert.equal(frags.length, 4);
      for (const k of order) i.input(frags[k], 0);
      const d = u.recv();
      assert.ok(d, `delivered for order ${order}`);
      assert.deepEqual(d.data, payload);
      assert.equal(i.stats().fragments.inProgress, 0);
    }
  });

  it('exact duplicate fragments are tolerated; overlapping ones drop the datagram', () => {
    const i = iface();
    const u = i.udpBind(53) as import('../src/index.js').UdpSocket;
    const frags = udpFragments(payload, 53, 1000, 78);
    for (const f of [frags[0], frags[0], frags[1], frags[2], frags[3]]) i.input(f, 0);
    assert.ok(u.recv(), 'duplicate fragment ignored');
    const r = new Reassembler({ maxDatagrams: 4, maxBytes: 1 << 20, timeoutMs: 1000 });
    assert.equal(r.add(PEER4, ME4, 1, 17, 0, true, new Uint8Array(16), 0), 'pending');
    assert.equal(r.add(PEER4, ME4, 1, 17, 8, true, new Uint8Array(16), 0), 'overlap');
    assert.equal(r.inProgress, 0);
  });

  it('limits: too many datagrams, too many bytes, oversize, non-multiple-of-8 middle fragments', () => {
    const r = new Reassembler({ maxDatagrams: 2, maxBytes: 4096, timeoutMs: 1000 });
    assert.equal(r.add(PEER4, ME4, 1, 17, 0, true, new Uint8Array(8), 0), 'pending');
    assert.equal(r.add(PEER4, ME4, 2, 17, 0, true, new Uint8Array(8), 0), 'pending');
    assert.equal(r.add(PEER4, ME4, 3, 17, 0, true, new Uint8Array(8), 0), 'limit');
    assert.equal(r.add(PEER4, ME4, 1, 17, 8, true, new Uint8Array(4096), 0), 'limit');
    assert.equal(r.add(PEER4, ME4, 9, 17, 65528, false, new Uint8Array(16), 0), 'too-big');
    assert.equal(r.add(PEER4, ME4, 2, 17, 8, true, new Uint8Array(10), 0), 'malformed');
    assert.ok(r.bufferedBytes <= 4096);
  });

  it('incomplete datagrams time out and free their memory', () => {
    const i = iface({ reassembly: { timeoutMs: 5000 } });
    const frags = udpFragments(payload, 53, 1000, 79);
    i.input(frags[0], 0);
    i.input(frags[2], 10);
    assert.equal(i.stats().fragments.inProgress, 1);
    assert.equal(i.pollAt(), 5000);
    collect(i, 5000);
    assert.deepEqual(
      [i.stats().fragments.inProgress, i.stats().fragments.bufferedBytes, i.stats().fragments.timeouts],
      [0, 0, 1],
    );
  });

  it('IPv6 fragments are reassembled too', () => {
    const i = iface();
    const u = i.udpBind(53) as import('../src/index.js').UdpSocket;
    const udp = new Uint8Array(8 + 2000);
    udp.set(payload.subarray(0, 2000), 8);
    emitUdp(udp, 0, 4000, 53, 2000, PEER6, ME6);
    const mk = (off: number, end: number, more: boolean) => {
      const pkt = new Uint8Array(40 + 8 + (end - off));
      emitIpv6Header(pkt, 0, PEER6, ME6, IpProtocol.Ipv6Frag, 8 + end - off, 64);
      pkt[40] = IpProtocol.Udp;
      writeU16(pkt, 42, off | (more ? 1 : 0));
      pkt.set([0, 0, 0, 42], 44);
      pkt.set(udp.subarray(off, end), 48);
      return pkt;
    };
    i.input(mk(1232, 2008, false), 0);
    i.input(mk(0, 1232, true), 0);
    const d = u.recv();
    assert.ok(d);
    assert.deepEqual(d.data, payload.subarray(0, 2000));
  });
});

describe('ICMP echo', () => {
  it('ICMPv4 echo request -> echo reply with the same id, sequence and data', () => {
    const i = iface();
    const req = new Uint8Array(20 + 8 + 6);
    req.set([8, 0, 0, 0, 0xbe, 0xef, 0, 7, 1, 2, 3, 4, 5, 6], 20);
    writeU16(req, 22, checksum(req, 20, req.length));
    emitIpv4Header(req, 0, PEER4, ME4, IpProtocol.Icmp, 14, 64, 5);
    i.input(req, 0);
    const [rep] = collect(i);
    const expected = new Uint8Array(req.length);
    expected.set([0, 0, 0, 0, 0xbe, 0xef, 0, 7, 1, 2, 3, 4, 5, 6], 20);
    writeU16(expected, 22, checksum(expected, 20, expected.length));
    emitIpv4Header(expected, 0, ME4, PEER4, IpProtocol.Icmp, 14, 64, 0);
    assert.deepEqual(rep.subarray(20), expected.subarray(20), 'ICMP bytes');
    assert.deepEqual([...rep.subarray(12, 20)], [...expected.subarray(12, 20)], 'addresses swapped');
    assert.equal(checksum(rep, 0, 20), 0);
  });

  it('ICMPv6 echo request -> echo reply (type 129) with a pseudo-header checksum', () => {
    const i = iface();
    const req = new Uint8Array(40 + 8 + 4);
    req.set([128, 0, 0, 0, 0, 1, 0, 2, 9, 9, 9, 9], 40);
    fillIcmpv6Checksum(req, 40, req.length, PEER6, ME6);
    emitIpv6Header(req, 0, PEER6, ME6, IpProtocol.Icmpv6, 12, 64);
    i.input(req, 0);
    const [rep] = collect(i);
    assert.equal(rep[40], 129);
    assert.deepEqual([...rep.subarray(44)], [0, 1, 0, 2, 9, 9, 9, 9]);
    const check = rep.slice();
    fillIcmpv6Checksum(check, 40, check.length, ME6, PEER6);
    assert.deepEqual([check[42], check[43]], [rep[42], rep[43]]);
    assert.equal(i.stats().icmpEchoReplies, 1);
  });

  it('a fragmented 3000-byte echo request gets a fragmented reply that reassembles to the echo (v4 and v6)', () => {
    const i = iface();
    const data = Uint8Array.from({ length: 3000 }, (_, k) => (k * 13) & 0xff);
    for (const [peer, me, type, family] of [
      [PEER4, ME4, 8, 4],
      [PEER6, ME6, 128, 6],
    ] as const) {
      const icmp = new Uint8Array(8 + data.length);
      icmp.set([type, 0, 0, 0, 0, 42, 0, 1], 0);
      icmp.set(data, 8);
      if (family === 4) writeU16(icmp, 2, checksum(icmp, 0, icmp.length));
      else fillIcmpv6Checksum(icmp, 0, icmp.length, peer, me);
      // The request arrives as IP fragments (what the kernel does for a 3000-byte ping over MTU 1420).
      const proto = family === 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6;
      const frags: Uint8Array[] = [];
      const scratch = new Uint8Array(1420);
      emitFragments(scratch, 1420, peer, me, proto, icmp, icmp.length, 99, (len) =>
        frags.push(scratch.slice(0, len)),
      );
      assert.ok(frags.length >= 3);
      for (const f of frags) i.input(f, 0);
      const replies = collect(i);
      assert.ok(replies.length >= 3, `IPv${family}: reply in ${replies.length} fragments`);
      const r = new Reassembler({ maxDatagrams: 4, maxBytes: 1 << 20, timeoutMs: 1000 });
      let whole: Uint8Array | undefined;
      for (const f of replies) {
        assert.ok(f.length <= 1420);
        if (family === 4) {
          const ip = Ipv4Packet.check(f) as Ipv4Packet;
          const res = r.add(
            ME4,
            PEER4,
            ip.ident,
            ip.protocol,
            ip.fragmentOffset,
            ip.moreFragments,
            ip.payload(),
            0,
          );
          if (res instanceof Uint8Array) whole = res.slice();
        } else {
          const ip = Ipv6Packet.check(f) as Ipv6Packet;
          const res = r.add(
            ME6,
            PEER6,
            ip.fragmentIdent,
            ip.upperProtocol,
            ip.fragmentOffset,
            ip.moreFragments,
            ip.payload(),
            0,
          );
          if (res instanceof Uint8Array) whole = res.slice();
        }
      }
      assert.ok(whole, 'reply reassembles');
      assert.equal(whole[0], family === 4 ? 0 : 129, 'echo reply type');
      assert.deepEqual(whole.subarray(4), icmp.subarray(4), 'identifier, sequence and data echoed');
      if (family === 4) assert.equal(checksum(whole, 0, whole.length), 0);
    }
  });

  it('a bad ICMP checksum is counted, not answered', () => {
    const i = iface();
    const req = new Uint8Array(28);
    req.set([8, 0, 0x12, 0x34], 20);
    emitIpv4Header(req, 0, PEER4, ME4, IpProtocol.Icmp, 8, 64, 5);
    i.input(req, 0);
    assert.deepEqual(collect(i), []);
    assert.equal(i.stats().drops.checksum, 1);
  });
});

describe('drops and UDP demultiplexing', () => {
  it('packets to other addresses, bad IP checksums, garbage and unknown protocols are counted', () => {
    const i = iface();
    const p = new Uint8Array(28);
    emitIpv4Header(p, 0, PEER4, IpAddress.from('100.100.0.55'), IpProtocol.Udp, 8, 64, 1);
    i.input(p, 0);
    emitIpv4Header(p, 0, PEER4, ME4, IpProtocol.Udp, 8, 64, 1);
    p[10] ^= 0xff;
    i.input(p, 0);
    i.input(new Uint8Array([0x45, 1, 2]), 0);
    i.input(new Uint8Array(0), 0);
    emitIpv4Header(p, 0, PEER4, ME4, 99, 8, 64, 1);
    i.input(p, 0);
    const d = i.stats().drops;
    assert.deepEqual([d.notForUs, d.checksum, d.malformed, d.unsupported], [1, 1, 2, 1]);
  });

  it('verifyChecksums: false (an authenticated link) takes TCP/UDP with a wrong checksum, but not IPv6 UDP with none', () => {
    const build = (i: Interface, zeroSum: boolean, family: 4 | 6) => {
      const [src, dst] = family === 4 ? [PEER4, ME4] : [PEER6, ME6];
      const hl = family === 4 ? 20 : 40;
      const p = new Uint8Array(hl + 8 + 3);
      p.set([1, 2, 3], hl + 8);
      emitUdp(p, hl, 999, 53, 3, src, dst);
      writeU16(p, hl + 6, zeroSum ? 0 : readU16(p, hl + 6) ^ 0x0101);
      if (family === 4) emitIpv4Header(p, 0, src, dst, IpProtocol.Udp, 11, 64, 1);
      else emitIpv6Header(p, 0, src, dst, IpProtocol.Udp, 11, 64);
      i.input(p, 0);
    };
    const strict = iface();
    const trusting = iface({ verifyChecksums: false });
    const s1 = strict.udpBind(53) as import('../src/index.js').UdpSocket;
    const s2 = trusting.udpBind(53) as import('../src/index.js').UdpSocket;
    for (const i of [strict, trusting]) {
      build(i, false, 4);
      build(i, false, 6);
      build(i, true, 6);
    }
    assert.deepEqual([s1.pending, strict.stats().drops.checksum], [0, 3]);
    assert.deepEqual([s2.pending, trusting.stats().drops.checksum], [2, 1]);
    // TCP: a SYN with a flipped checksum bit is answered (here RST: no listener) only by the trusting one.
    for (const [i, answers] of [
      [strict, 0],
      [trusting, 1],
    ] as const) {
      const syn = new Uint8Array(40);
      writeU16(syn, 20, 1234); // source port
      writeU16(syn, 22, 81); // destination port
      syn[27] = 1; // sequence number
      syn[32] = 5 << 4; // data offset: 5 words
      syn[33] = 0x02; // SYN
      writeU16(syn, 34, 1000); // window
      fillTcpChecksum(syn, 20, 40, PEER4, ME4);
      syn[20 + 16] ^= 0x01;
      emitIpv4Header(syn, 0, PEER4, ME4, IpProtocol.Tcp, 20, 64, 2);
      i.input(syn, 0);
      assert.equal(collect(i).length, answers);
    }
  });

  it('tcpChecksumOffload: TCP segments (here a RST) leave with checksum 0 for the link to fill; UDP is still summed by the stack', () => {
    const i = iface({ tcpChecksumOffload: true });
    // A SYN to a closed port: the answer is a RST built by the interface.
    const syn = new Uint8Array(40);
    writeU16(syn, 20, 1234);
    writeU16(syn, 22, 81);
    syn[32] = 5 << 4;
    syn[33] = 0x02;
    writeU16(syn, 34, 1000);
    fillTcpChecksum(syn, 20, 40, PEER4, ME4);
    emitIpv4Header(syn, 0, PEER4, ME4, IpProtocol.Tcp, 20, 64, 2);
    i.input(syn, 0);
    const [rst] = collect(i);
    assert.equal(rst[9], IpProtocol.Tcp);
    assert.equal(readU16(rst, 20 + 16), 0, 'TCP checksum left to the link');
    // UDP keeps its checksum: the offload is for TCP only.
    const u = i.udpBind(53) as import('../src/index.js').UdpSocket;
    assert.equal(i.udpSend(u, new Uint8Array([1, 2, 3]), PEER4, 9), undefined);
    const [udp] = collect(i);
    assert.notEqual(readU16(udp, 20 + 6), 0);
    assert.equal(
      finish(sumBytes(udp, 20, udp.length, pseudoHeaderSum(ME4, PEER4, IpProtocol.Udp, udp.length - 20))),
      0,
    );
  });

  it('UDP: a socket bound to one address wins over the wildcard; a zero checksum over IPv6 is dropped', () => {
    const i = iface();
    const any = i.udpBind(53) as import('../src/index.js').UdpSocket;
    assert.equal(i.udpBind(53), 'address-in-use');
    const i2 = iface();
    const specific = i2.udpBind(53, ME4) as import('../src/index.js').UdpSocket;
    const wild6 = i2.udpBind(53, IpAddress.from('::')) as import('../src/index.js').UdpSocket;
    const dgram = (src: IpAddress, dst: IpAddress, zeroSum = false) => {
      const hl = src.family === 4 ? 20 : 40;
      const p = new Uint8Array(hl + 8 + 3);
      p.set([1, 2, 3], hl + 8);
      emitUdp(p, hl, 999, 53, 3, src, dst);
      if (zeroSum) writeU16(p, hl + 6, 0);
      if (src.family === 4) emitIpv4Header(p, 0, src, dst, IpProtocol.Udp, 11, 64, 1);
      else emitIpv6Header(p, 0, src, dst, IpProtocol.Udp, 11, 64);
      return p;
    };
    i2.input(dgram(PEER4, ME4), 0);
    i2.input(dgram(PEER6, ME6), 0);
    i2.input(dgram(PEER6, ME6, true), 0);
    assert.equal(specific.pending, 1);
    assert.equal(wild6.pending, 1);
    assert.equal(i2.stats().drops.checksum, 1);
    i.input(dgram(PEER4, ME4), 0);
    assert.equal(any.recv()?.port, 999);
  });

  it('UDP to a closed port gets ICMP port unreachable quoting the datagram (v4 and v6), rate-limited', () => {
    const i = iface({ limits: { icmpErrorsPerSecond: 2 } });
    const dgram = (src: IpAddress, dst: IpAddress) => {
      const hl = src.family === 4 ? 20 : 40;
      const p = new Uint8Array(hl + 8 + 4);
      p.set([9, 9, 9, 9], hl + 8);
      emitUdp(p, hl, 5000, 9999, 4, src, dst);
      if (src.family === 4) emitIpv4Header(p, 0, src, dst, IpProtocol.Udp, 12, 64, 7);
      else emitIpv6Header(p, 0, src, dst, IpProtocol.Udp, 12, 64);
      return p;
    };
    const d4 = dgram(PEER4, ME4);
    i.input(d4, 0);
    const [r4] = collect(i);
    assert.deepEqual(
      [r4[9], r4[20], r4[21]],
      [IpProtocol.Icmp, 3, 3],
      'ICMPv4 destination unreachable, port',
    );
    assert.deepEqual(r4.subarray(28), d4, 'quotes the whole offending datagram');
    assert.equal(checksum(r4, 20, r4.length), 0);
    const d6 = dgram(PEER6, ME6);
    i.input(d6, 0);
    const [r6] = collect(i);
    assert.deepEqual(
      [r6[6], r6[40], r6[41]],
      [IpProtocol.Icmpv6, 1, 4],
      'ICMPv6 destination unreachable, port',
    );
    assert.deepEqual(r6.subarray(48), d6);
    i.input(d4, 1);
    assert.deepEqual(collect(i, 1), [], 'third error within a second is suppressed');
    i.input(d4, 1001);
    assert.equal(collect(i, 1001).length, 1, 'the budget refills after a second');
    assert.equal(i.stats().drops.noSocket, 4);
  });

  it('UDP receive queues are bounded: excess datagrams are dropped and counted', () => {
    const i = iface({ limits: { udpQueueDatagrams: 3 } });
    const u = i.udpBind(53) as import('../src/index.js').UdpSocket;
    const p = new Uint8Array(20 + 8);
    emitUdp(p, 20, 1, 53, 0, PEER4, ME4);
    emitIpv4Header(p, 0, PEER4, ME4, IpProtocol.Udp, 8, 64, 1);
    for (let k = 0; k < 10; k++) i.input(p, 0);
    assert.equal(u.pending, 3);
    assert.equal(i.stats().drops.udpQueueFull, 7);
  });

  it('pollAt is undefined when idle and 0 when output is pending', () => {
    const i = iface();
    assert.equal(i.pollAt(), undefined);
    const u = i.udpBind(1000) as import('../src/index.js').UdpSocket;
    assert.equal(i.udpSend(u, new Uint8Array(4), PEER4, 9), undefined);
    assert.equal(i.pollAt(), 0);
    assert.equal(collect(i).length, 1);
    assert.equal(i.pollAt(), undefined);
    assert.equal(i.udpSend(u, new Uint8Array(65535 - 20 - 8 + 1), PEER4, 9), 'too-big');
  });

  it('UDP above the MTU leaves as fragments (v4 and v6) that the peer reassembles', () => {
    const a = iface();
    const b = new Interface({
      addresses: [Cidr.parse('100.100.0.9/16'), Cidr.parse('200::9/64')],
      random: new Prng(2).fill,
    });
    const data = Uint8Array.from({ length: 5000 }, (_, k) => (k * 31) & 0xff);
    for (const [dst, family] of [
      [PEER4, 4],
      [PEER6, 6],
    ] as const) {
      const sender = a.udpBind(0) as import('../src/index.js').UdpSocket;
      const receiver = b.udpBind(7000 + family) as import('../src/index.js').UdpSocket;
      assert.equal(a.udpSend(sender, data, dst, 7000 + family), undefined);
      const frags = collect(a);
      assert.equal(frags.length, 4, `${family}: 5008 bytes in 4 fragments`);
      for (const f of frags) assert.ok(f.length <= 1420);
      for (const f of frags.reverse()) b.input(f, 0);
      const d = receiver.recv();
      assert.ok(d, `IPv${family} datagram reassembled`);
      assert.deepEqual(d.data, data);
      assert.equal(d.port, sender.port);
    }
  });

  it('a fragmented UDP send is all or nothing: without queue room for every fragment nothing is queued', () => {
    const i = iface({ limits: { txQueue: 3 } });
    const u = i.udpBind(0) as import('../src/index.js').UdpSocket;
    const data = new Uint8Array(5000); // 4 fragments at MTU 1420
    for (const dst of [PEER4, PEER6]) {
      assert.equal(i.udpSend(u, data, dst, 9), 'queue-full');
      assert.equal(i.pollAt(), undefined, 'no partial datagram was queued');
    }
    assert.equal(i.udpSend(u, data.subarray(0, 2000), PEER4, 9), undefined); // 2 fragments fit
    assert.equal(collect(i).length, 2);
  });
});
