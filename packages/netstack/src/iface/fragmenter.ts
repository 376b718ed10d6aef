// SPDX-License-Identifier: Apache-2.0
// Output fragmentation for datagrams larger than the MTU (UDP only: TCP segments always fit the MSS).
// IPv4 per RFC 791 2.3 (DF clear, MF on all but the last, offsets in 8-byte units); IPv6 per RFC 8200 4.5
// (a fragment header after the fixed header, 32-bit identification). Each fragment is written into
// `scratch` and handed to `transmit(len)` before the next is built.
import { IpProtocol, writeU16, writeU32 } from '../wire/error.js';
import type { IpAddress } from '../wire/ip-address.js';
import { emitIpv4Header, IPV4_DEFAULT_TTL, IPV4_FLAG_MF, IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { emitIpv6Header, FRAG_FIELD, IPV6_DEFAULT_HOP_LIMIT, IPV6_HEADER_LEN } from '../wire/ipv6.js';

const FRAG_HEADER_LEN = 8;

/** Payload bytes per fragment (a multiple of 8) for this MTU and family. */
export function fragmentPayloadSize(mtu: number, family: 4 | 6): number {
  const room = family === 4 ? mtu - IPV4_HEADER_LEN : mtu - IPV6_HEADER_LEN - FRAG_HEADER_LEN;
  return room & ~7;
}

/** How many fragments `len` bytes of upper-layer data need. */
export function fragmentCount(len: number, mtu: number, family: 4 | 6): number {
  return Math.ceil(len / fragmentPayloadSize(mtu, family));
}

/**
 * Fragments datagram[0, len) (a complete upper-layer message, checksum included) from src to dst.
 * ident: 16 bits used for IPv4, 32 bits for IPv6.
 */
export function emitFragments(
  scratch: Uint8Array,
  mtu: number,
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  datagram: Uint8Array,
  len: number,
  ident: number,
  transmit: (len: number) => void,
): void {
  const v4 = src.family === 4;
  const size = fragmentPayloadSize(mtu, v4 ? 4 : 6);
  for (let off = 0; off < len; off += size) {
    const n = Math.min(size, len - off);
    const more = off + n < len;
    if (v4) {
      const flagsOffset = (more ? IPV4_FLAG_MF : 0) | (off >> 3);
      emitIpv4Header(scratch, 0, src, dst, protocol, n, IPV4_DEFAULT_TTL, ident, flagsOffset);
      scratch.set(datagram.subarray(off, off + n), IPV4_HEADER_LEN);
      transmit(IPV4_HEADER_LEN + n);
    } else {
      emitIpv6Header(scratch, 0, src, dst, IpProtocol.Ipv6Frag, FRAG_HEADER_LEN + n, IPV6_DEFAULT_HOP_LIMIT);
      const f = IPV6_HEADER_LEN;
      scratch[f + FRAG_FIELD.NEXT_HEADER] = protocol;
      scratch[f + 1] = 0;
      writeU16(scratch, f + FRAG_FIELD.OFF_M, off | (more ? 1 : 0));
      writeU32(scratch, f + FRAG_FIELD.IDENT, ident >>> 0);
      scratch.set(datagram.subarray(off, off + n), f + FRAG_HEADER_LEN);
      transmit(f + FRAG_HEADER_LEN + n);
    }
  }
}
