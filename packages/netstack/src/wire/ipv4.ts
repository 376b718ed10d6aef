// SPDX-License-Identifier: Apache-2.0
// IPv4 header (RFC 791): a checked zero-copy view plus a plain repr for emitting.
import { checksum } from './checksum.js';
import { readU16, WireError, writeU16 } from './error.js';
import { IpAddress } from './ip-address.js';

export const IPV4_HEADER_LEN = 20; // minimum header, no options
export const IPV4_DEFAULT_TTL = 64; // RFC 1700 recommended default
export const FIELD = {
  VER_IHL: 0,
  DSCP_ECN: 1,
  LENGTH: 2, // u16 total length
  IDENT: 4, // u16
  FLG_OFF: 6, // u16: 3 flag bits (reserved, DF, MF) + 13-bit offset in 8-byte units
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10, // u16
  SRC_ADDR: 12, // 4 bytes
  DST_ADDR: 16, // 4 bytes
} as const;
/** Flags and fragment offset (RFC 791 3.1): don't fragment, more fragments, offset in 8-byte units. */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
const OFFSET_MASK = 0x1fff;

/** A checked view: after attach() succeeded, every getter stays inside the buffer. */
export class Ipv4Packet {
  buf: Uint8Array = new Uint8Array(0);
  /** Header length in bytes (IHL * 4), i.e. 20 without options. */
  headerLen = 0;
  /** Total length from the header, i.e. the end of the payload (trailing link padding is ignored). */
  totalLen = 0;

  static check(buf: Uint8Array): Ipv4Packet | WireError {
    const p = new Ipv4Packet();
    const e = p.attach(buf);
    return e === undefined ? p : e;
  }

  /** Re-targets this (reused) view at buf; returns an error code instead of throwing. */
  attach(buf: Uint8Array): WireError | undefined {
    if (buf.length < IPV4_HEADER_LEN) return WireError.Truncated;
    if (buf[FIELD.VER_IHL] >> 4 !== 4) return WireError.Malformed;
    const hl = (buf[FIELD.VER_IHL] & 0x0f) * 4;
    if (hl < IPV4_HEADER_LEN) return WireError.Malformed;
    const total = readU16(buf, FIELD.LENGTH);
    if (total < hl) return WireError.Malformed;
    if (total > buf.length || hl > buf.length) return WireError.Truncated;
    this.buf = buf;
    this.headerLen = hl;
    this.totalLen = total;
    return undefined;
  }

  verifyChecksum(): boolean {
    return checksum(this.buf, 0, this.headerLen) === 0;
  }
  get ident(): number {
    return readU16(this.buf, FIELD.IDENT);
  }
  get moreFragments(): boolean {
    return (readU16(this.buf, FIELD.FLG_OFF) & IPV4_FLAG_MF) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragmentOffset(): number {
    return (readU16(this.buf, FIELD.FLG_OFF) & OFFSET_MASK) * 8;
  }
  get isFragment(): boolean {
    return (readU16(this.buf, FIELD.FLG_OFF) & (IPV4_FLAG_MF | OFFSET_MASK)) !== 0;
  }
  get ttl(): number {
    return this.buf[FIELD.TTL];
  }
  get protocol(): number {
    return this.buf[FIELD.PROTOCOL];
  }
  readSrc(into: IpAddress): IpAddress {
    return into.readV4(this.buf, FIELD.SRC_ADDR);
  }
  readDst(into: IpAddress): IpAddress {
    return into.readV4(this.buf, FIELD.DST_ADDR);
  }
  get payloadOffset(): number {
    return this.headerLen;
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLen, this.totalLen);
  }
}

/** Plain description of an IPv4 header to emit (no options). */
export class Ipv4Repr {
  src = new IpAddress(4);
  dst = new IpAddress(4);
  protocol = 0;
  payloadLen = 0;
  ttl = IPV4_DEFAULT_TTL;
  ident = 0;

  static parse(p: Ipv4Packet): Ipv4Repr {
    const r = new Ipv4Repr();
    p.readSrc(r.src);
    p.readDst(r.dst);
    r.protocol = p.protocol;
    r.payloadLen = p.totalLen - p.headerLen;
    r.ttl = p.ttl;
    r.ident = p.ident;
    return r;
  }

  bufferLen(): number {
    return IPV4_HEADER_LEN + this.payloadLen;
  }

  /** Writes the 20-byte header at buf[0] including its checksum. */
  emit(buf: Uint8Array): void {
    emitIpv4Header(buf, 0, this.src, this.dst, this.protocol, this.payloadLen, this.ttl, this.ident);
  }
}

/**
 * Writes a 20-byte header and its checksum. flagsOffset is the flags + fragment offset field: DF by default
 * (what fits the MTU is sent whole); the fragmenter passes MF and the offset of each fragment.
 */
export function emitIpv4Header(
  buf: Uint8Array,
  off: number,
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  payloadLen: number,
  ttl: number,
  ident: number,
  flagsOffset = IPV4_FLAG_DF,
): void {
  buf[off + FIELD.VER_IHL] = 0x45;
  buf[off + FIELD.DSCP_ECN] = 0;
  writeU16(buf, off + FIELD.LENGTH, IPV4_HEADER_LEN + payloadLen);
  writeU16(buf, off + FIELD.IDENT, ident & 0xffff);
  writeU16(buf, off + FIELD.FLG_OFF, flagsOffset);
  buf[off + FIELD.TTL] = ttl;
  buf[off + FIELD.PROTOCOL] = protocol;
  writeU16(buf, off + FIELD.CHECKSUM, 0);
  src.write(buf, off + FIELD.SRC_ADDR);
  dst.write(buf, off + FIELD.DST_ADDR);
  writeU16(buf, off + FIELD.CHECKSUM, checksum(buf, off, off + IPV4_HEADER_LEN));
}
