// SPDX-License-Identifier: Apache-2.0
// ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) echo: the only messages we answer. Both share the 8-byte echo
// layout (type, code, checksum, identifier, sequence); ICMPv6 adds the pseudo-header to its checksum.
import { checksum, finish, pseudoHeaderSum, sumBytes } from './checksum.js';
import { IpProtocol, readU16, WireError, writeU16 } from './error.js';
import type { IpAddress } from './ip-address.js';

export const ICMP_HEADER_LEN = 8;
export const FIELD = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENT: 4, SEQ_NO: 6 } as const;
export const Icmpv4Type = { EchoReply: 0, DestUnreachable: 3, EchoRequest: 8 } as const;
export const Icmpv6Type = { DestUnreachable: 1, EchoRequest: 128, EchoReply: 129 } as const;

export class IcmpPacket {
  buf: Uint8Array = new Uint8Array(0);
  static check(buf: Uint8Array): IcmpPacket | WireError {
    const p = new IcmpPacket();
    const e = p.attach(buf);
    return e === undefined ? p : e;
  }
  attach(buf: Uint8Array): WireError | undefined {
    if (buf.length < ICMP_HEADER_LEN) return WireError.Truncated;
    this.buf = buf;
    return undefined;
  }
  get type(): number {
    return this.buf[FIELD.TYPE];
  }
  get code(): number {
    return this.buf[FIELD.CODE];
  }
  get ident(): number {
    return readU16(this.buf, FIELD.IDENT);
  }
  get seqNo(): number {
    return readU16(this.buf, FIELD.SEQ_NO);
  }
  verifyV4(): boolean {
    return checksum(this.buf, 0, this.buf.length) === 0;
  }
  verifyV6(src: IpAddress, dst: IpAddress): boolean {
    const acc = pseudoHeaderSum(src, dst, IpProtocol.Icmpv6, this.buf.length);
    return finish(sumBytes(this.buf, 0, this.buf.length, acc)) === 0;
  }
}

/** Fills the checksum of an ICMPv4 message occupying buf[off, end). */
export function fillIcmpv4Checksum(buf: Uint8Array, off: number, end: number): void {
  writeU16(buf, off + FIELD.CHECKSUM, 0);
  writeU16(buf, off + FIELD.CHECKSUM, checksum(buf, off, end));
}

/** Fills the checksum of an ICMPv6 message occupying buf[off, end). */
export function fillIcmpv6Checksum(
  buf: Uint8Array,
  off: number,
  end: number,
  src: IpAddress,
  dst: IpAddress,
): void {
  writeU16(buf, off + FIELD.CHECKSUM, 0);
  const acc = pseudoHeaderSum(src, dst, IpProtocol.Icmpv6, end - off);
  writeU16(buf, off + FIELD.CHECKSUM, finish(sumBytes(buf, off, end, acc)));
}
