// SPDX-License-Identifier: Apache-2.0
// `nexctl nexd peers ping`: ICMP (RFC 792) and ICMPv6 (RFC 4443) echo requests sent straight into the
// WireGuard engine from this device's VPC address, and their replies taken out of the engine's
// decrypted packets before the netstack (proxy mode) or the TUN (agent mode) sees them. So the same
// ping works in both modes, needs no raw socket, and measures the tunnel itself. Only replies that
// match an outstanding request (identifier, sequence, source) are taken; everything else passes on.
import { randomInt } from 'node:crypto';
import { IpAddress } from '@nexodus/netstack';
import type { PingResult } from '../control/protocol.js';

// Wire constants (RFC 791, RFC 8200, RFC 792, RFC 4443).
const IPV4_HEADER_SIZE = 20;
const IPV6_HEADER_SIZE = 40;
const ICMP_HEADER_SIZE = 8;
/** Payload bytes, as ping(8) sends by default. */
export const PING_PAYLOAD_SIZE = 56;
const IPV4_VERSION_IHL = 0x45;
const IPV4_OFFSET_TOTAL_LENGTH = 2;
const IPV4_OFFSET_FLAGS = 6;
const IPV4_FLAG_DF = 0x4000;
const IPV4_OFFSET_TTL = 8;
const IPV4_OFFSET_PROTOCOL = 9;
const IPV4_OFFSET_CHECKSUM = 10;
const IPV4_OFFSET_SRC = 12;
const IPV4_OFFSET_DST = 16;
const IPV6_OFFSET_PAYLOAD_LENGTH = 4;
const IPV6_OFFSET_NEXT_HEADER = 6;
const IPV6_OFFSET_HOP_LIMIT = 7;
const IPV6_OFFSET_SRC = 8;
const IPV6_OFFSET_DST = 24;
const PROTO_ICMP = 1;
const PROTO_ICMPV6 = 58;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
const ICMP_OFFSET_CHECKSUM = 2;
const ICMP_OFFSET_ID = 4;
const ICMP_OFFSET_SEQ = 6;
const DEFAULT_TTL = 64;

export type { PingResult };

interface Outstanding {
  seq: number;
  from: IpAddress;
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (r: PingResult) => void;
  address: string;
}

function sum16(b: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) s += b[end - 1]! << 8;
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return ~x & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

/** An echo request from `src` to `dst` (same family) with identifier `id` and sequence `seq`. */
export function buildEchoRequest(src: IpAddress, dst: IpAddress, id: number, seq: number): Uint8Array {
  const v4 = dst.family === 4;
  const ipLen = v4 ? IPV4_HEADER_SIZE : IPV6_HEADER_SIZE;
  const icmpLen = ICMP_HEADER_SIZE + PING_PAYLOAD_SIZE;
  const p = new Uint8Array(ipLen + icmpLen);
  if (v4) {
    p[0] = IPV4_VERSION_IHL;
    put16(p, IPV4_OFFSET_TOTAL_LENGTH, p.length);
    put16(p, IPV4_OFFSET_FLAGS, IPV4_FLAG_DF);
    p[IPV4_OFFSET_TTL] = DEFAULT_TTL;
    p[IPV4_OFFSET_PROTOCOL] = PROTO_ICMP;
    src.write(p, IPV4_OFFSET_SRC);
    dst.write(p, IPV4_OFFSET_DST);
    put16(p, IPV4_OFFSET_CHECKSUM, fold(sum16(p, 0, IPV4_HEADER_SIZE, 0)));
  } else {
    p[0] = 0x60;
    put16(p, IPV6_OFFSET_PAYLOAD_LENGTH, icmpLen);
    p[IPV6_OFFSET_NEXT_HEADER] = PROTO_ICMPV6;
    p[IPV6_OFFSET_HOP_LIMIT] = DEFAULT_TTL;
    src.write(p, IPV6_OFFSET_SRC);
    dst.write(p, IPV6_OFFSET_DST);
  }
  p[ipLen] = v4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
  put16(p, ipLen + ICMP_OFFSET_ID, id);
  put16(p, ipLen + ICMP_OFFSET_SEQ, seq);
  for (let i = 0; i < PING_PAYLOAD_SIZE; i++) p[ipLen + ICMP_HEADER_SIZE + i] = i & 0xff;
  // ICMPv6's checksum covers a pseudo-header (RFC 8200 section 8.1): addresses, length, next header.
  const pseudo = v4 ? 0 : sum16(p, IPV6_OFFSET_SRC, IPV6_OFFSET_DST + 16, 0) + icmpLen + PROTO_ICMPV6;
  put16(p, ipLen + ICMP_OFFSET_CHECKSUM, fold(sum16(p, ipLen, p.length, pseudo)));
  return p;
}

/** Echo requests into the engine, replies out of it; one identifier per daemon. */
export class Pinger {
  readonly #send: (packet: Uint8Array) => string;
  readonly #sources: { 4?: IpAddress; 6?: IpAddress };
  readonly #id = randomInt(1, 0xffff);
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #scratch = new IpAddress();
  #seq = 0;
  #closed = false;

  /**
   * @param send puts an IP packet into the WireGuard engine (WireGuardNode.send), returning its verdict.
   * @param addresses this device's VPC addresses (with or without prefix); the first of each family is
   *   the source.
   */
  constructor(send: (packet: Uint8Array) => string, addresses: readonly string[]) {
    this.#send = send;
    this.#sources = {};
    for (const a of addresses) {
      const ip = IpAddress.parse(a.split('/')[0]!);
      if (ip && this.#sources[ip.family] === undefined) this.#sources[ip.family] = ip;
    }
  }

  /** True while a request waits for its reply: the engine's receive path checks this first. */
  get active(): boolean {
    return this.#outstanding.size > 0;
  }

  /** Sends one echo request to `address` and waits up to `timeoutMs` for the reply. */
  ping(address: string, timeoutMs: number): Promise<PingResult> {
    const dst = IpAddress.parse(address);
    if (!dst) throw new TypeError(`${JSON.stringify(address)} is not an IP address`);
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) & 0xffff;
    if (this.#closed) return Promise.resolve({ address, seq, error: 'closed' });
    const src = this.#sources[dst.family];
    if (!src) return Promise.resolve({ address, seq, error: 'no-source' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#outstanding.delete(seq);
        resolve({ address, seq, error: 'timeout' });
      }, timeoutMs);
      const entry: Outstanding = { seq, from: dst, sentAt: performance.now(), timer, resolve, address };
      this.#outstanding.set(seq, entry);
      const verdict = this.#send(buildEchoRequest(src, dst, this.#id, seq));
      if (verdict === 'no-route' || verdict === 'malformed') {
        clearTimeout(timer);
        this.#outstanding.delete(seq);
        resolve({ address, seq, error: 'no-route' });
      }
    });
  }

  /**
   * Takes `packet` if it is the echo reply to an outstanding request (true), else leaves it (false).
   * Call only while `active`; never keeps `packet`.
   */
  intercept(packet: Uint8Array): boolean {
    const n = packet.length;
    if (n < 1) return false;
    const version = packet[0]! >> 4;
    let icmp: number;
    if (version === 4) {
      const ihl = (packet[0]! & 0x0f) * 4;
      if (n < ihl + ICMP_HEADER_SIZE || packet[IPV4_OFFSET_PROTOCOL] !== PROTO_ICMP) return false;
      if (packet[ihl] !== ICMP_ECHO_REPLY) return false;
      this.#scratch.readV4(packet, IPV4_OFFSET_SRC);
      icmp = ihl;
    } else if (version === 6) {
      if (n < IPV6_HEADER_SIZE + ICMP_HEADER_SIZE || packet[IPV6_OFFSET_NEXT_HEADER] !== PROTO_ICMPV6)
        return false;
      if (packet[IPV6_HEADER_SIZE] !== ICMPV6_ECHO_REPLY) return false;
      this.#scratch.readV6(packet, IPV6_OFFSET_SRC);
      icmp = IPV6_HEADER_SIZE;
    } else return false;
    const id = (packet[icmp + ICMP_OFFSET_ID]! << 8) | packet[icmp + ICMP_OFFSET_ID + 1]!;
    if (id !== this.#id) return false;
    const seq = (packet[icmp + ICMP_OFFSET_SEQ]! << 8) | packet[icmp + ICMP_OFFSET_SEQ + 1]!;
    const o = this.#outstanding.get(seq);
    if (o === undefined || !o.from.equals(this.#scratch)) return false;
    clearTimeout(o.timer);
    this.#outstanding.delete(seq);
    o.resolve({ address: o.address, seq, rttMs: performance.now() - o.sentAt });
    return true;
  }

  /** Answers every outstanding request with `closed`. */
  close(): void {
    this.#closed = true;
    for (const o of this.#outstanding.values()) {
      clearTimeout(o.timer);
      o.resolve({ address: o.address, seq: o.seq, error: 'closed' });
    }
    this.#outstanding.clear();
  }
}
