// SPDX-License-Identifier: Apache-2.0
// IPv6 header (RFC 8200) with extension-header walking: hop-by-hop (only first), routing, destination options
// and fragment headers are skipped to find the upper-layer protocol; anything else we do not understand
// (ESP, AH, unknown numbers) is reported Unsupported so the caller can drop and count it.
import { IpProtocol, readU16, readU32, WireError, writeU16 } from './error.js';
import { IpAddress } from './ip-address.js';

export const IPV6_HEADER_LEN = 40;
export const IPV6_DEFAULT_HOP_LIMIT = 64;
export const FIELD = {
  VER_TC_FLOW: 0, // u32: version(4) traffic class(8) flow label(20)
  PAYLOAD_LEN: 4, // u16
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC_ADDR: 8, // 16 bytes
  DST_ADDR: 24, // 16 bytes
} as const;
/** Fragment extension header (RFC 8200 4.5): next header, reserved, offset+M, identification. */
export const FRAG_FIELD = { NEXT_HEADER: 0, OFF_M: 2, IDENT: 4 } as const;
const FRAG_HEADER_LEN = 8;
/** Bound on extension headers we walk, so a crafted chain cannot make us loop long. */
const MAX_EXTENSION_HEADERS = 8;

export class Ipv6Packet {
  buf: Uint8Array = new Uint8Array(0);
  /** End of the payload (40 + payload length). */
  totalLen = 0;
  /** Upper-layer protocol after extension headers, i.e. 6 for TCP. */
  upperProtocol = 0;
  /** Offset of the upper-layer header (or of the fragment data when isFragment). */
  upperOffset = 0;
  isFragment = false;
  /** Fragment offset in bytes (only when isFragment). */
  fragmentOffset = 0;
  moreFragments = false;
  fragmentIdent = 0;

  static check(buf: Uint8Array): Ipv6Packet | WireError {
    const p = new Ipv6Packet();
    const e = p.attach(buf);
    return e === undefined ? p : e;
  }

  attach(buf: Uint8Array): WireError | undefined {
    if (buf.length < IPV6_HEADER_LEN) return WireError.Truncated;
    if (buf[0] >> 4 !== 6) return WireError.Malformed;
    const total = IPV6_HEADER_LEN + readU16(buf, FIELD.PAYLOAD_LEN);
    if (total > buf.length) return WireError.Truncated;
    let next = buf[FIELD.NEXT_HEADER];
    let off = IPV6_HEADER_LEN;
    this.isFragment = false;
    for (let n = 0; ; n++) {
      if (n > MAX_EXTENSION_HEADERS) return WireError.Unsupported;
      if (next === IpProtocol.HopByHop || next === IpProtocol.Ipv6Route || next === IpProtocol.Ipv6Opts) {
        // RFC 8200 4.3: hop-by-hop may only directly follow the IPv6 header.
        if (next === IpProtocol.HopByHop && n !== 0) return WireError.Malformed;
        if (off + 2 > total) return WireError.Truncated;
        const len = (buf[off + 1] + 1) * 8;
        if (off + len > total) return WireError.Truncated;
        next = buf[off];
        off += len;
      } else if (next === IpProtocol.Ipv6Frag) {
        if (off + FRAG_HEADER_LEN > total) return WireError.Truncated;
        if (this.isFragment) return WireError.Malformed;
        const offM = readU16(buf, off + FRAG_FIELD.OFF_M);
        this.isFragment = true;
        this.fragmentOffset = offM & 0xfff8;
        this.moreFragments = (offM & 1) !== 0;
        this.fragmentIdent = readU32(buf, off + FRAG_FIELD.IDENT);
        next = buf[off + FRAG_FIELD.NEXT_HEADER];
        off += FRAG_HEADER_LEN;
        // An atomic fragment (offset 0, no M) is just an ordinary packet (RFC 6946).
        if (this.fragmentOffset === 0 && !this.moreFragments) this.isFragment = false;
        // The fragmentable part starts here; later headers belong to the reassembled payload.
        if (this.isFragment) break;
      } else if (next === IpProtocol.Esp || next === IpProtocol.Ah) {
        return WireError.Unsupported;
      } else {
        break;
      }
    }
    this.buf = buf;
    this.totalLen = total;
    this.upperProtocol = next;
    this.upperOffset = off;
    return undefined;
  }

  get hopLimit(): number {
    return this.buf[FIELD.HOP_LIMIT];
  }
  readSrc(into: IpAddress): IpAddress {
    return into.readV6(this.buf, FIELD.SRC_ADDR);
  }
  readDst(into: IpAddress): IpAddress {
    return into.readV6(this.buf, FIELD.DST_ADDR);
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.upperOffset, this.totalLen);
  }
}

/** Plain description of an IPv6 header to emit (no extension headers). */
export class Ipv6Repr {
  src = new IpAddress(6);
  dst = new IpAddress(6);
  nextHeader = 0;
  payloadLen = 0;
  hopLimit = IPV6_DEFAULT_HOP_LIMIT;

  static parse(p: Ipv6Packet): Ipv6Repr {
    const r = new Ipv6Repr();
    p.readSrc(r.src);
    p.readDst(r.dst);
    r.nextHeader = p.upperProtocol;
    r.payloadLen = p.totalLen - p.upperOffset;
    r.hopLimit = p.hopLimit;
    return r;
  }
  bufferLen(): number {
    return IPV6_HEADER_LEN + this.payloadLen;
  }
  emit(buf: Uint8Array): void {
    emitIpv6Header(buf, 0, this.src, this.dst, this.nextHeader, this.payloadLen, this.hopLimit);
  }
}

export function emitIpv6Header(
  buf: Uint8Array,
  off: number,
  src: IpAddress,
  dst: IpAddress,
  nextHeader: number,
  payloadLen: number,
  hopLimit: number,
): void {
  buf[off] = 0x60;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  writeU16(buf, off + FIELD.PAYLOAD_LEN, payloadLen);
  buf[off + FIELD.NEXT_HEADER] = nextHeader;
  buf[off + FIELD.HOP_LIMIT] = hopLimit;
  src.write(buf, off + FIELD.SRC_ADDR);
  dst.write(buf, off + FIELD.DST_ADDR);
}
