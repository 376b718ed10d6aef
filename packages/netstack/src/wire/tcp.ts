// SPDX-License-Identifier: Apache-2.0
// TCP header (RFC 9293 3.1) and the options we speak: MSS (RFC 9293 3.7.1), window scale and timestamps
// (RFC 7323), SACK-permitted and SACK blocks (RFC 2018). `TcpSegment` is a plain repr reused across packets:
// parse() fills it without allocating (the payload is an offset/length into the packet buffer).
import { finish, pseudoHeaderSum, sumBytes } from './checksum.js';
import { IpProtocol, readU16, readU32, WireError, writeU16, writeU32 } from './error.js';
import type { IpAddress } from './ip-address.js';

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
export const FIELD = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ_NUM: 4,
  ACK_NUM: 8,
  DATA_OFF: 12, // high nibble: header length in 32-bit words
  FLAGS: 13,
  WIN_SIZE: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export const TcpOption = {
  End: 0,
  Nop: 1,
  Mss: 2, // len 4
  WindowScale: 3, // len 3
  SackPermitted: 4, // len 2
  Sack: 5, // len 2 + 8n
  Timestamps: 8, // len 10
} as const;
/** RFC 7323 2.3: a shift above 14 is treated as 14. */
export const MAX_WINDOW_SCALE = 14;
/** SACK blocks that fit next to the timestamp option in 40 option bytes (RFC 2018 3). */
export const MAX_SACK_BLOCKS = 4;

/** A parsed or to-be-emitted TCP segment. Reused: treat as scratch, copy what you keep. */
export class TcpSegment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  /** Bitwise OR of TcpFlag values, i.e. 0x12 for SYN+ACK. */
  flags = 0;
  /** Raw 16-bit window field (unscaled). */
  window = 0;
  /** MSS option value, 0 when absent. */
  mss = 0;
  /** Window-scale shift, -1 when absent. */
  windowScale = -1;
  sackPermitted = false;
  tsPresent = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  /** SACK block edges (left, right) as sequence numbers; sackCount entries are valid. */
  readonly sackLeft = new Array<number>(MAX_SACK_BLOCKS).fill(0);
  readonly sackRight = new Array<number>(MAX_SACK_BLOCKS).fill(0);
  /** Payload location inside `buf` (parse) — emit takes payload separately. */
  buf: Uint8Array = new Uint8Array(0);
  payloadOffset = 0;
  payloadLen = 0;

  reset(): this {
    this.srcPort = this.dstPort = this.seq = this.ack = this.flags = this.window = 0;
    this.mss = 0;
    this.windowScale = -1;
    this.sackPermitted = this.tsPresent = false;
    this.tsVal = this.tsEcr = this.sackCount = 0;
    this.payloadOffset = this.payloadLen = 0;
    return this;
  }

  /** Sequence space consumed: payload plus one for each of SYN and FIN (RFC 9293 3.4). */
  get segLen(): number {
    return this.payloadLen + (this.flags & TcpFlag.SYN ? 1 : 0) + (this.flags & TcpFlag.FIN ? 1 : 0);
  }

  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.payloadOffset + this.payloadLen);
  }

  /**
   * Parses buf (the whole TCP segment) into this. Checksum is verified separately (verifyTcpChecksum)
   * because it needs the IP addresses. Options with bad lengths make the segment Malformed.
   */
  parse(buf: Uint8Array): WireError | undefined {
    if (buf.length < TCP_HEADER_LEN) return WireError.Truncated;
    const hl = (buf[FIELD.DATA_OFF] >> 4) * 4;
    if (hl < TCP_HEADER_LEN) return WireError.Malformed;
    if (hl > buf.length) return WireError.Truncated;
    this.reset();
    this.srcPort = readU16(buf, FIELD.SRC_PORT);
    this.dstPort = readU16(buf, FIELD.DST_PORT);
    this.seq = readU32(buf, FIELD.SEQ_NUM);
    this.ack = readU32(buf, FIELD.ACK_NUM);
    this.flags = buf[FIELD.FLAGS] & 0x3f;
    this.window = readU16(buf, FIELD.WIN_SIZE);
    let o = FIELD.OPTIONS;
    while (o < hl) {
      const kind = buf[o];
      if (kind === TcpOption.End) break;
      if (kind === TcpOption.Nop) {
        o++;
        continue;
      }
      if (o + 1 >= hl) return WireError.Malformed;
      const len = buf[o + 1];
      if (len < 2 || o + len > hl) return WireError.Malformed;
      switch (kind) {
        case TcpOption.Mss:
          if (len !== 4) return WireError.Malformed;
          this.mss = readU16(buf, o + 2);
          break;
        case TcpOption.WindowScale:
          if (len !== 3) return WireError.Malformed;
          this.windowScale = Math.min(buf[o + 2], MAX_WINDOW_SCALE);
          break;
        case TcpOption.SackPermitted:
          if (len !== 2) return WireError.Malformed;
          this.sackPermitted = true;
          break;
        case TcpOption.Sack: {
          if ((len - 2) % 8 !== 0) return WireError.Malformed;
          const n = Math.min((len - 2) / 8, MAX_SACK_BLOCKS);
          for (let i = 0; i < n; i++) {
            this.sackLeft[i] = readU32(buf, o + 2 + i * 8);
            this.sackRight[i] = readU32(buf, o + 6 + i * 8);
          }
          this.sackCount = n;
          break;
        }
        case TcpOption.Timestamps:
          if (len !== 10) return WireError.Malformed;
          this.tsPresent = true;
          this.tsVal = readU32(buf, o + 2);
          this.tsEcr = readU32(buf, o + 6);
          break;
        default:
          break; // unknown options are skipped (RFC 9293 3.2)
      }
      o += len;
    }
    this.buf = buf;
    this.payloadOffset = hl;
    this.payloadLen = buf.length - hl;
    return undefined;
  }

  /** Length of the header emit() will write (20 + padded options). */
  headerLen(): number {
    let opt = 0;
    if (this.flags & TcpFlag.SYN) {
      if (this.mss) opt += 4;
      if (this.windowScale >= 0) opt += 4; // NOP + 3
      if (this.sackPermitted) opt += this.tsPresent ? 0 : 4; // folded into the timestamp padding below
    }
    if (this.tsPresent) opt += 12; // NOP NOP TS, or SACK-permitted + TS in a SYN
    if (this.sackCount > 0) opt += 4 + 8 * this.sackCount; // NOP NOP SACK
    return TCP_HEADER_LEN + opt;
  }

  /** Writes the header (with options) at buf[off]; returns the header length. Checksum is filled later. */
  emitHeader(buf: Uint8Array, off: number): number {
    const hl = this.headerLen();
    writeU16(buf, off + FIELD.SRC_PORT, this.srcPort);
    writeU16(buf, off + FIELD.DST_PORT, this.dstPort);
    writeU32(buf, off + FIELD.SEQ_NUM, this.seq);
    writeU32(buf, off + FIELD.ACK_NUM, this.ack);
    buf[off + FIELD.DATA_OFF] = (hl / 4) << 4;
    buf[off + FIELD.FLAGS] = this.flags;
    writeU16(buf, off + FIELD.WIN_SIZE, this.window);
    writeU16(buf, off + FIELD.CHECKSUM, 0);
    writeU16(buf, off + FIELD.URGENT, 0);
    let o = off + FIELD.OPTIONS;
    const syn = (this.flags & TcpFlag.SYN) !== 0;
    if (syn && this.mss) {
      buf[o] = TcpOption.Mss;
      buf[o + 1] = 4;
      writeU16(buf, o + 2, this.mss);
      o += 4;
    }
    if (syn && this.windowScale >= 0) {
      buf[o] = TcpOption.Nop;
      buf[o + 1] = TcpOption.WindowScale;
      buf[o + 2] = 3;
      buf[o + 3] = this.windowScale;
      o += 4;
    }
    if (this.tsPresent) {
      if (syn && this.sackPermitted) {
        buf[o] = TcpOption.SackPermitted;
        buf[o + 1] = 2;
      } else {
        buf[o] = TcpOption.Nop;
        buf[o + 1] = TcpOption.Nop;
      }
      buf[o + 2] = TcpOption.Timestamps;
      buf[o + 3] = 10;
      writeU32(buf, o + 4, this.tsVal);
      writeU32(buf, o + 8, this.tsEcr);
      o += 12;
    } else if (syn && this.sackPermitted) {
      buf[o] = TcpOption.Nop;
      buf[o + 1] = TcpOption.Nop;
      buf[o + 2] = TcpOption.SackPermitted;
      buf[o + 3] = 2;
      o += 4;
    }
    if (this.sackCount > 0) {
      buf[o] = TcpOption.Nop;
      buf[o + 1] = TcpOption.Nop;
      buf[o + 2] = TcpOption.Sack;
      buf[o + 3] = 2 + 8 * this.sackCount;
      o += 4;
      for (let i = 0; i < this.sackCount; i++) {
        writeU32(buf, o, this.sackLeft[i]);
        writeU32(buf, o + 4, this.sackRight[i]);
        o += 8;
      }
    }
    return hl;
  }
}

/** Verifies the checksum of the TCP segment occupying all of buf. */
export function verifyTcpChecksum(buf: Uint8Array, src: IpAddress, dst: IpAddress): boolean {
  const acc = pseudoHeaderSum(src, dst, IpProtocol.Tcp, buf.length);
  return finish(sumBytes(buf, 0, buf.length, acc)) === 0;
}

/** Fills the checksum of the TCP segment occupying buf[off, end). */
export function fillTcpChecksum(
  buf: Uint8Array,
  off: number,
  end: number,
  src: IpAddress,
  dst: IpAddress,
): void {
  writeU16(buf, off + FIELD.CHECKSUM, 0);
  const acc = pseudoHeaderSum(src, dst, IpProtocol.Tcp, end - off);
  writeU16(buf, off + FIELD.CHECKSUM, finish(sumBytes(buf, off, end, acc)));
}
