// SPDX-License-Identifier: Apache-2.0
// ICMP and ICMPv6 of the interface: an echo request gets its reply (RFC 792, RFC 4443 4.2), a UDP datagram
// nobody listens for gets a rate-limited port unreachable (RFC 1122 3.2.2.1, RFC 4443 3.1); other ICMP is
// counted as unsupported. Replies are built in the interface's scratch buffer and sent through its
// transmit path (IcmpHost), so they queue and fragment exactly as TCP and UDP packets do.
import { IpProtocol } from '../wire/error.js';
import {
  fillIcmpv4Checksum,
  fillIcmpv6Checksum,
  FIELD as ICMP_FIELD,
  ICMP_HEADER_LEN,
  IcmpPacket,
  Icmpv4Type,
  Icmpv6Type,
} from '../wire/icmp.js';
import type { IpAddress } from '../wire/ip-address.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import type { DatagramHost } from './datagram-host.js';
import { RateLimiter } from './rate-limit.js';

/** Largest ICMP error datagram: 576 bytes for IPv4 (RFC 1812 4.3.2.3), the IPv6 minimum MTU (RFC 4443 2.4(c)). */
const ICMPV4_ERROR_MAX = 576;
const ICMPV6_ERROR_MAX = 1280;
const ICMPV4_PORT_UNREACHABLE = 3; // RFC 792 destination unreachable code 3
const ICMPV6_PORT_UNREACHABLE = 4; // RFC 4443 3.1 code 4

export interface IcmpHost extends DatagramHost {
  /** Echo replies sent (stats()); incremented here once a reply is sent or queued. */
  icmpEchoReplies: number;
  /** The IP packet being processed (undefined for a reassembled one): quoted by ICMP errors. */
  readonly curPacket: Uint8Array | undefined;
}

export class Icmp {
  /** Scratch view reused for every packet (never kept past one call). */
  private readonly icmpView = new IcmpPacket();
  private readonly icmpErrors: RateLimiter;

  constructor(
    private readonly host: IcmpHost,
    /** ICMP errors per second (RFC 1812 4.3.2.8 / RFC 4443 2.4(f) rate limiting). */
    errorsPerSecond: number,
  ) {
    this.icmpErrors = new RateLimiter(errorsPerSecond);
  }

  /** Echo request -> echo reply (RFC 792, RFC 4443 4.2); other ICMP is counted as unsupported. */
  input(src: IpAddress, dst: IpAddress, payload: Uint8Array): void {
    const host = this.host;
    const icmp = this.icmpView;
    if (icmp.attach(payload) !== undefined) {
      host.drops.malformed++;
      return;
    }
    const v4 = src.family === 4;
    if (!(v4 ? icmp.verifyV4() : icmp.verifyV6(src, dst))) {
      host.drops.checksum++;
      return;
    }
    if (icmp.type !== (v4 ? Icmpv4Type.EchoRequest : Icmpv6Type.EchoRequest) || icmp.code !== 0) {
      host.drops.unsupported++;
      return;
    }
    const hl = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const total = hl + payload.length;
    if (total > host.mtu) {
      this.echoReplyFragmented(src, dst, payload);
      return;
    }
    const b = host.scratch;
    b.set(payload, hl);
    b[hl + ICMP_FIELD.TYPE] = v4 ? Icmpv4Type.EchoReply : Icmpv6Type.EchoReply;
    if (v4) fillIcmpv4Checksum(b, hl, total);
    else fillIcmpv6Checksum(b, hl, total, dst, src);
    host.emitIpHeader(dst, src, v4 ? IpProtocol.Icmp : IpProtocol.Icmpv6, payload.length);
    host.icmpEchoReplies++;
    host.transmit(total);
  }

  /** A reply larger than the MTU (to a request that arrived fragmented) leaves fragmented, as Linux does. */
  private echoReplyFragmented(src: IpAddress, dst: IpAddress, payload: Uint8Array): void {
    const host = this.host;
    const v4 = src.family === 4;
    const len = payload.length;
    const d = host.fragmentBuffer();
    d.set(payload, 0);
    d[ICMP_FIELD.TYPE] = v4 ? Icmpv4Type.EchoReply : Icmpv6Type.EchoReply;
    if (v4) fillIcmpv4Checksum(d, 0, len);
    else fillIcmpv6Checksum(d, 0, len, dst, src);
    if (!host.sendFragmented(dst, src, v4 ? IpProtocol.Icmp : IpProtocol.Icmpv6, len)) {
      host.drops.txQueueFull++;
      return;
    }
    host.icmpEchoReplies++;
  }

  /**
   * RFC 1122 3.2.2.1 / RFC 4443 3.1: tell the sender of a UDP datagram that nobody listens, quoting the
   * offending packet (up to 576 bytes in all for IPv4, 1280 for IPv6). Rate-limited; never for a fragment.
   */
  portUnreachable(src: IpAddress, dst: IpAddress, now: number): void {
    const host = this.host;
    const orig = host.curPacket;
    if (!orig || !this.icmpErrors.allow(now)) return;
    const v4 = src.family === 4;
    const hl = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const quote = Math.min(
      orig.length,
      (v4 ? ICMPV4_ERROR_MAX : ICMPV6_ERROR_MAX) - hl - ICMP_HEADER_LEN,
      host.mtu - hl - ICMP_HEADER_LEN,
    );
    const b = host.scratch;
    const icmpLen = ICMP_HEADER_LEN + quote;
    b.fill(0, hl, hl + ICMP_HEADER_LEN);
    b[hl + ICMP_FIELD.TYPE] = v4 ? Icmpv4Type.DestUnreachable : Icmpv6Type.DestUnreachable;
    b[hl + ICMP_FIELD.CODE] = v4 ? ICMPV4_PORT_UNREACHABLE : ICMPV6_PORT_UNREACHABLE;
    b.set(orig.subarray(0, quote), hl + ICMP_HEADER_LEN);
    if (v4) fillIcmpv4Checksum(b, hl, hl + icmpLen);
    else fillIcmpv6Checksum(b, hl, hl + icmpLen, dst, src);
    host.emitIpHeader(dst, src, v4 ? IpProtocol.Icmp : IpProtocol.Icmpv6, icmpLen);
    host.transmit(hl + icmpLen);
  }
}
