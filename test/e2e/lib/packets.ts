// SPDX-License-Identifier: Apache-2.0
// Hand-built IP packets for the interop tests, before the netstack exists: IPv4 (RFC 791) and IPv6 (RFC 8200)
// headers, ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443), UDP (RFC 768), all with checksums (RFC 1071), and
// strict parsers that verify the checksums of what the Linux kernel sends back, so a test fails when a byte
// was mangled in the tunnel. Test-only code: it allocates freely and throws `PacketError` on bad input.
// Deliberately independent of packages/netstack/src/wire (address formatting, RFC 1071 checksums): this is
// the oracle the interop tests judge our stack by, so it must not reuse the stack's own code; a bug shared by
// both sides would pass unseen. Do not replace these with imports from @nexodus/netstack.

import { isIPv4, isIPv6 } from 'node:net';

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_UDP = 17;
export const IP_PROTO_ICMPV6 = 58;
export const IPV4_HEADER_SIZE = 20; // without options
export const IPV6_HEADER_SIZE = 40;
export const UDP_HEADER_SIZE = 8;
export const ICMP_ECHO_HEADER_SIZE = 8; // type, code, checksum, identifier, sequence
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

export class PacketError extends Error {
  readonly code = 'NEX_ERR_E2E_PACKET';
  constructor(message: string) {
    super(message);
    this.name = 'PacketError';
  }
}

/** Parses a dotted-quad or RFC 4291 textual IPv6 address into 4 or 16 bytes. */
export function parseAddress(addr: string): Uint8Array {
  if (isIPv4(addr)) return Uint8Array.from(addr.split('.').map(Number));
  if (!isIPv6(addr) || addr.includes('.') || addr.includes('%')) {
    throw new PacketError(`expected an IPv4 or plain IPv6 address, got ${JSON.stringify(addr)}`);
  }
  const [headText, tailText] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const head = headText ? headText.split(':') : [];
  const tail = tailText ? tailText.split(':') : [];
  const groups =
    tailText === undefined ? head : [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** Formats 4 or 16 address bytes (IPv6 in the RFC 5952 canonical form). */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) throw new PacketError(`an address has 4 or 16 bytes, got ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  // Longest run (>= 2) of zero groups becomes "::", the first one on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** RFC 1071 ones'-complement sum of `parts` (each padded to even length as if contiguous). */
function onesSum(parts: Uint8Array[]): number {
  let sum = 0;
  let odd = -1; // pending high byte when a part has odd length
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      if (odd < 0) odd = p[i];
      else {
        sum += (odd << 8) | p[i];
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Internet checksum of the concatenation of `parts`. */
export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesSum(parts) & 0xffff;
}

function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length === 4) {
    const p = new Uint8Array(12);
    p.set(src, 0);
    p.set(dst, 4);
    p[9] = protocol;
    p[10] = length >> 8;
    p[11] = length & 0xff;
    return p;
  }
  const p = new Uint8Array(40);
  p.set(src, 0);
  p.set(dst, 16);
  new DataView(p.buffer).setUint32(32, length);
  p[39] = protocol;
  return p;
}

export interface IpRepr {
  version: 4 | 6;
  src: string;
  dst: string;
  /** IPv4 protocol / IPv6 next header. */
  protocol: number;
  /** TTL / hop limit (default 64). */
  ttl?: number;
  /** IPv4 identification (default 0). */
  id?: number;
}

/** Wraps `payload` (a complete transport segment) in an IPv4 or IPv6 header. */
export function buildIp(repr: IpRepr, payload: Uint8Array): Uint8Array {
  const src = parseAddress(repr.src);
  const dst = parseAddress(repr.dst);
  const want = repr.version === 4 ? 4 : 16;
  if (src.length !== want || dst.length !== want) {
    throw new PacketError(
      `IPv${repr.version} packet needs IPv${repr.version} addresses: ${repr.src} -> ${repr.dst}`,
    );
  }
  if (repr.version === 4) {
    const total = IPV4_HEADER_SIZE + payload.length;
    if (total > 0xffff) throw new PacketError(`IPv4 packet too long: ${total} bytes`);
    const p = new Uint8Array(total);
    const v = new DataView(p.buffer);
    p[0] = 0x45; // version 4, IHL 5 words
    v.setUint16(2, total);
    v.setUint16(4, repr.id ?? 0);
    v.setUint16(6, 0x4000); // don't fragment
    p[8] = repr.ttl ?? 64;
    p[9] = repr.protocol;
    p.set(src, 12);
    p.set(dst, 16);
    v.setUint16(10, internetChecksum(p.subarray(0, IPV4_HEADER_SIZE)));
    p.set(payload, IPV4_HEADER_SIZE);
    return p;
  }
  if (payload.length > 0xffff) throw new PacketError(`IPv6 payload too long: ${payload.length} bytes`);
  const p = new Uint8Array(IPV6_HEADER_SIZE + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x60;
  v.setUint16(4, payload.length);
  p[6] = repr.protocol;
  p[7] = repr.ttl ?? 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(payload, IPV6_HEADER_SIZE);
  return p;
}

export interface EchoRepr {
  /** ICMP type: echo request or reply for the packet's family. */
  type: 'request' | 'reply';
  identifier: number;
  sequence: number;
  data: Uint8Array;
}

/** A complete IPv4 ICMP or IPv6 ICMPv6 echo packet. */
export function buildEcho(ip: Omit<IpRepr, 'protocol'>, echo: EchoRepr): Uint8Array {
  const v6 = ip.version === 6;
  const msg = new Uint8Array(ICMP_ECHO_HEADER_SIZE + echo.data.length);
  const v = new DataView(msg.buffer);
  msg[0] = v6
    ? echo.type === 'request'
      ? ICMPV6_ECHO_REQUEST
      : ICMPV6_ECHO_REPLY
    : echo.type === 'request'
      ? ICMP_ECHO_REQUEST
      : ICMP_ECHO_REPLY;
  v.setUint16(4, echo.identifier);
  v.setUint16(6, echo.sequence);
  msg.set(echo.data, ICMP_ECHO_HEADER_SIZE);
  const protocol = v6 ? IP_PROTO_ICMPV6 : IP_PROTO_ICMP;
  // ICMPv6 covers a pseudo-header (RFC 4443 2.3); ICMPv4 covers only the message.
  const sum = v6
    ? internetChecksum(pseudoHeader(parseAddress(ip.src), parseAddress(ip.dst), protocol, msg.length), msg)
    : internetChecksum(msg);
  v.setUint16(2, sum);
  return buildIp({ ...ip, protocol }, msg);
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  data: Uint8Array;
}

/** A complete IPv4 or IPv6 UDP packet with its checksum (mandatory for IPv6, RFC 8200 8.1). */
export function buildUdp(ip: Omit<IpRepr, 'protocol'>, udp: UdpRepr): Uint8Array {
  const len = UDP_HEADER_SIZE + udp.data.length;
  const seg = new Uint8Array(len);
  const v = new DataView(seg.buffer);
  v.setUint16(0, udp.srcPort);
  v.setUint16(2, udp.dstPort);
  v.setUint16(4, len);
  seg.set(udp.data, UDP_HEADER_SIZE);
  let sum = internetChecksum(
    pseudoHeader(parseAddress(ip.src), parseAddress(ip.dst), IP_PROTO_UDP, len),
    seg,
  );
  if (sum === 0) sum = 0xffff; // 0 means "no checksum" in UDP; RFC 768 sends all-ones instead
  v.setUint16(6, sum);
  return buildIp({ ...ip, protocol: IP_PROTO_UDP }, seg);
}

export interface ParsedIp {
  version: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  ttl: number;
  /** Transport payload, a view into the packet. */
  payload: Uint8Array;
  /** Raw address bytes for pseudo-header checksums. */
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
}

/** Parses an IPv4 (checksum verified, options skipped) or IPv6 (no extension headers) packet. */
export function parseIp(p: Uint8Array): ParsedIp {
  if (p.length < 1) throw new PacketError('empty packet');
  const version = p[0] >> 4;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (version === 4) {
    const ihl = (p[0] & 0x0f) * 4;
    if (p.length < IPV4_HEADER_SIZE || ihl < IPV4_HEADER_SIZE || p.length < ihl) {
      throw new PacketError(`truncated IPv4 header (${p.length} bytes, IHL ${ihl})`);
    }
    const total = v.getUint16(2);
    if (total < ihl || total > p.length)
      throw new PacketError(`IPv4 total length ${total} vs ${p.length} bytes`);
    if (internetChecksum(p.subarray(0, ihl)) !== 0) throw new PacketError('bad IPv4 header checksum');
    if ((v.getUint16(6) & 0x3fff) !== 0) throw new PacketError('IPv4 fragments are not expected here');
    const srcBytes = p.subarray(12, 16);
    const dstBytes = p.subarray(16, 20);
    return {
      version: 4,
      src: formatAddress(srcBytes),
      dst: formatAddress(dstBytes),
      protocol: p[9],
      ttl: p[8],
      payload: p.subarray(ihl, total),
      srcBytes,
      dstBytes,
    };
  }
  if (version === 6) {
    if (p.length < IPV6_HEADER_SIZE) throw new PacketError(`truncated IPv6 header (${p.length} bytes)`);
    const plen = v.getUint16(4);
    if (IPV6_HEADER_SIZE + plen > p.length)
      throw new PacketError(`IPv6 payload length ${plen} vs ${p.length} bytes`);
    const srcBytes = p.subarray(8, 24);
    const dstBytes = p.subarray(24, 40);
    return {
      version: 6,
      src: formatAddress(srcBytes),
      dst: formatAddress(dstBytes),
      protocol: p[6],
      ttl: p[7],
      payload: p.subarray(IPV6_HEADER_SIZE, IPV6_HEADER_SIZE + plen),
      srcBytes,
      dstBytes,
    };
  }
  throw new PacketError(`not an IP packet (version nibble ${version})`);
}

/** Parses an ICMP/ICMPv6 echo request or reply, checksum verified; undefined for other ICMP messages. */
export function parseEcho(ip: ParsedIp): EchoRepr | undefined {
  const v6 = ip.version === 6;
  if (ip.protocol !== (v6 ? IP_PROTO_ICMPV6 : IP_PROTO_ICMP)) return undefined;
  const m = ip.payload;
  if (m.length < ICMP_ECHO_HEADER_SIZE) throw new PacketError(`truncated ICMP message (${m.length} bytes)`);
  const sum = v6
    ? internetChecksum(pseudoHeader(ip.srcBytes, ip.dstBytes, IP_PROTO_ICMPV6, m.length), m)
    : internetChecksum(m);
  if (sum !== 0) throw new PacketError(`bad ICMP${v6 ? 'v6' : ''} checksum`);
  const type =
    m[0] === (v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST)
      ? 'request'
      : m[0] === (v6 ? ICMPV6_ECHO_REPLY : ICMP_ECHO_REPLY)
        ? 'reply'
        : undefined;
  if (type === undefined || m[1] !== 0) return undefined;
  const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
  return {
    type,
    identifier: v.getUint16(4),
    sequence: v.getUint16(6),
    data: m.subarray(ICMP_ECHO_HEADER_SIZE),
  };
}

/** Parses a UDP datagram, checksum verified (a zero IPv4 checksum means "none"); undefined if not UDP. */
export function parseUdp(ip: ParsedIp): UdpRepr | undefined {
  if (ip.protocol !== IP_PROTO_UDP) return undefined;
  const s = ip.payload;
  if (s.length < UDP_HEADER_SIZE) throw new PacketError(`truncated UDP header (${s.length} bytes)`);
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const len = v.getUint16(4);
  if (len < UDP_HEADER_SIZE || len > s.length)
    throw new PacketError(`UDP length ${len} vs ${s.length} bytes`);
  const seg = s.subarray(0, len);
  const declared = v.getUint16(6);
  if (!(ip.version === 4 && declared === 0)) {
    if (internetChecksum(pseudoHeader(ip.srcBytes, ip.dstBytes, IP_PROTO_UDP, len), seg) !== 0) {
      throw new PacketError('bad UDP checksum');
    }
  }
  return { srcPort: v.getUint16(0), dstPort: v.getUint16(2), data: seg.subarray(UDP_HEADER_SIZE) };
}

/** The echo reply a host would send for `request` (addresses swapped, same identifier/sequence/data). */
export function echoReplyFor(request: Uint8Array): Uint8Array | undefined {
  const ip = parseIp(request);
  const echo = parseEcho(ip);
  if (echo?.type !== 'request') return undefined;
  return buildEcho({ version: ip.version, src: ip.dst, dst: ip.src }, { ...echo, type: 'reply' });
}
