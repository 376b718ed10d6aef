// SPDX-License-Identifier: Apache-2.0
// IP fragment reassembly (RFC 791 3.2, RFC 8200 4.5) with hard limits: a bounded number of datagrams in
// progress, a bounded byte total, a timeout, 64 KiB per datagram. Overlapping fragments (other than exact
// duplicates, which a duplicating link produces) discard the whole datagram, as RFC 5722 requires for IPv6 and
// as is safe for IPv4 (overlap is the classic evasion trick). Reassembled bytes are copied exactly once.
import type { IpAddress } from '../wire/ip-address.js';

export interface ReassemblyLimits {
  /** Datagrams reassembled at once, i.e. 16. */
  maxDatagrams: number;
  /** Sum of buffered fragment bytes over all datagrams. */
  maxBytes: number;
  /** RFC 791 suggests 15 s, RFC 8200 4.5 60 s. */
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxDatagrams: 16,
  maxBytes: 1 << 20,
  timeoutMs: 30_000,
};
/** IPv4 total length and IPv6 payload length are 16-bit: no reassembled payload can exceed this. */
const MAX_DATAGRAM = 65535;
const MAX_PIECES = 64;

class Entry {
  buf = new Uint8Array(0);
  starts: number[] = [];
  ends: number[] = [];
  /** Payload length once the last fragment arrived, else -1. */
  total = -1;
  bytes = 0;
  constructor(
    readonly src: IpAddress,
    readonly dst: IpAddress,
    readonly ident: number,
    readonly protocol: number,
    readonly expiresAt: number,
  ) {}
}

/** Result of add(): the reassembled payload, 'pending', or a drop reason for the counters. */
export type ReassemblyResult = Uint8Array | 'pending' | 'overlap' | 'too-big' | 'limit' | 'malformed';

export class Reassembler {
  private readonly entries: Entry[] = [];
  private bytes = 0;
  /** Datagrams dropped on timeout (read by the interface into its counters). */
  timeouts = 0;

  constructor(readonly limits: ReassemblyLimits) {}

  get inProgress(): number {
    return this.entries.length;
  }
  get bufferedBytes(): number {
    return this.bytes;
  }

  /**
   * Adds one fragment (data = fragment payload, offset in bytes). On completion the entry is removed and the
   * payload returned; it stays valid until the next call.
   */
  add(
    src: IpAddress,
    dst: IpAddress,
    ident: number,
    protocol: number,
    offset: number,
    more: boolean,
    data: Uint8Array,
    now: number,
  ): ReassemblyResult {
    const end = offset + data.length;
    if (end > MAX_DATAGRAM) {
      this.removeMatching(src, dst, ident, protocol);
      return 'too-big';
    }
    // Every fragment but the last carries a multiple of 8 bytes (RFC 8200 4.5, implied by RFC 791).
    if (more && data.length % 8 !== 0) return 'malformed';
    if (data.length === 0 && more) return 'malformed';
    let e = this.find(src, dst, ident, protocol);
    if (!e) {
      if (this.entries.length >= this.limits.maxDatagrams) return 'limit';
      e = new Entry(src.clone(), dst.clone(), ident, protocol, now + this.limits.timeoutMs);
      this.entries.push(e);
    }
    if (this.bytes + data.length > this.limits.maxBytes || e.starts.length >= MAX_PIECES) {
      this.remove(e);
      return 'limit';
    }
    // Overlap check: exact duplicates are ignored, any other overlap poisons the datagram.
    for (let i = 0; i < e.starts.length; i++) {
      if (offset < e.ends[i] && end > e.starts[i]) {
        if (offset === e.starts[i] && end === e.ends[i]) return 'pending';
        this.remove(e);
        return 'overlap';
      }
    }
    if (!more) {
      if (e.total >= 0 && e.total !== end) {
        this.remove(e);
        return 'malformed';
      }
      e.total = end;
    }
    if (e.total >= 0 && end > e.total) {
      this.remove(e);
      return 'malformed';
    }
    if (e.buf.length < end) {
      const next = new Uint8Array(Math.min(MAX_DATAGRAM, Math.max(end, e.buf.length * 2)));
      next.set(e.buf);
      e.buf = next;
    }
    e.buf.set(data, offset);
    e.starts.push(offset);
    e.ends.push(end);
    e.bytes += data.length;
    this.bytes += data.length;
    if (e.total < 0 || e.bytes !== e.total) return 'pending';
    // No overlaps and the byte count equals the total: the pieces tile [0, total).
    this.remove(e);
    return e.buf.subarray(0, e.total);
  }

  /** Drops datagrams whose time ran out. */
  expire(now: number): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i].expiresAt <= now) {
        this.remove(this.entries[i]);
        this.timeouts++;
      }
    }
  }

  nextExpiry(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const e of this.entries) if (e.expiresAt < t) t = e.expiresAt;
    return t;
  }

  private find(src: IpAddress, dst: IpAddress, ident: number, protocol: number): Entry | undefined {
    for (const e of this.entries) {
      if (e.ident === ident && e.protocol === protocol && e.src.equals(src) && e.dst.equals(dst)) return e;
    }
    return undefined;
  }

  private removeMatching(src: IpAddress, dst: IpAddress, ident: number, protocol: number): void {
    const e = this.find(src, dst, ident, protocol);
    if (e) this.remove(e);
  }

  private remove(e: Entry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.bytes -= e.bytes;
  }
}
