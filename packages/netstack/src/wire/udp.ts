// SPDX-License-Identifier: Apache-2.0
// UDP header (RFC 768; over IPv6 the checksum is mandatory, RFC 8200 8.1).
import { finish, pseudoHeaderSum, sumBytes } from './checksum.js';
import { IpProtocol, readU16, WireError, writeU16 } from './error.js';
import type { IpAddress } from './ip-address.js';

export const UDP_HEADER_LEN = 8;
export const FIELD = { SRC_PORT: 0, DST_PORT: 2, LENGTH: 4, CHECKSUM: 6 } as const;

export class UdpPacket {
  buf: Uint8Array = new Uint8Array(0);
  /** Length from the header (header + payload), i.e. 8 for an empty datagram. */
  length = 0;

  static check(buf: Uint8Array): UdpPacket | WireError {
    const p = new UdpPacket();
    const e = p.attach(buf);
    return e === undefined ? p : e;
  }
  attach(buf: Uint8Array): WireError | undefined {
    if (buf.length < UDP_HEADER_LEN) return WireError.Truncated;
    const len = readU16(buf, FIELD.LENGTH);
    if (len < UDP_HEADER_LEN) return WireError.Malformed;
    if (len > buf.length) return WireError.Truncated;
    this.buf = buf;
    this.length = len;
    return undefined;
  }
  get srcPort(): number {
    return readU16(this.buf, FIELD.SRC_PORT);
  }
  get dstPort(): number {
    return readU16(this.buf, FIELD.DST_PORT);
  }
  get checksumField(): number {
    return readU16(this.buf, FIELD.CHECKSUM);
  }
  /** IPv4 allows checksum 0 ("none"); IPv6 does not (the caller drops a zero checksum there). */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    if (src.family === 4 && this.checksumField === 0) return true;
    const acc = pseudoHeaderSum(src, dst, IpProtocol.Udp, this.length);
    return finish(sumBytes(this.buf, 0, this.length, acc)) === 0;
  }
  payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN, this.length);
  }
}

/** Writes a UDP header at buf[off] for a payload already placed at buf[off + 8] and fills the checksum. */
export function emitUdp(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  payloadLen: number,
  src: IpAddress,
  dst: IpAddress,
): void {
  const len = UDP_HEADER_LEN + payloadLen;
  writeU16(buf, off + FIELD.SRC_PORT, srcPort);
  writeU16(buf, off + FIELD.DST_PORT, dstPort);
  writeU16(buf, off + FIELD.LENGTH, len);
  writeU16(buf, off + FIELD.CHECKSUM, 0);
  const acc = pseudoHeaderSum(src, dst, IpProtocol.Udp, len);
  const c = finish(sumBytes(buf, off, off + len, acc));
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  writeU16(buf, off + FIELD.CHECKSUM, c === 0 ? 0xffff : c);
}
