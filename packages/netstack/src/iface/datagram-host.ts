// SPDX-License-Identifier: Apache-2.0
// What the datagram protocols (icmp.ts, udp.ts) see of the interface: the one packet buffer and the transmit
// path they share with TCP, and the drop counters. Interface implements it, as it implements TcpHost and
// TcpEmitter for tcp/; IcmpHost and UdpHost add what only one of them needs. Call only from inside input(),
// poll() or a user call of the interface: scratch is the interface's, not theirs to keep.
import type { IpAddress } from '../wire/ip-address.js';
import type { DropCounters } from './stats.js';

export interface DatagramHost {
  /** Largest IP packet we send, i.e. 1420. */
  readonly mtu: number;
  /** Why packets were dropped; every drop increments exactly one counter. */
  readonly drops: DropCounters;
  /** The outgoing packet being built: the IP header goes at [0, hl), the transport after it. */
  readonly scratch: Uint8Array;
  /** Call after the transport is in scratch: writes the IP header from src to dst into scratch[0, hl). */
  emitIpHeader(src: IpAddress, dst: IpAddress, protocol: number, payloadLen: number): void;
  /** Call after emitIpHeader(): sends scratch[0, len) now (inside poll) or queues a copy. */
  transmit(len: number): void;
  /** Staging for a datagram larger than the MTU; fill [0, len) then call sendFragmented(). */
  fragmentBuffer(): Uint8Array;
  /** Sends fragmentBuffer()[0, len) as IP fragments; false when the queue has no room for all of them. */
  sendFragmented(src: IpAddress, dst: IpAddress, protocol: number, len: number): boolean;
}
