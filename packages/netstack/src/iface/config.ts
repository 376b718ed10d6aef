// SPDX-License-Identifier: Apache-2.0
// What the embedder chooses when creating an Interface: its addresses and MTU, the injected randomness, and
// the limits that bound every table and queue of the core (STYLE: no unbounded buffers).
import type { TcpConfig } from '../tcp/config.js';
import type { Cidr } from '../wire/ip-address.js';
import type { ReassemblyLimits } from './fragment.js';

export interface InterfaceLimits {
  /** Established plus half-open TCP connections (TIME-WAIT not counted); beyond it SYNs get RST. */
  maxConnections: number;
  /** Default listen backlog (half-open + unaccepted). */
  backlog: number;
  /** TIME-WAIT sockets kept; beyond it a closing socket skips TIME-WAIT (as Linux tcp_max_tw_buckets). */
  maxTimeWait: number;
  /** Datagrams and bytes queued per UDP socket. */
  udpQueueDatagrams: number;
  udpQueueBytes: number;
  /** Packets queued between polls (echo replies, RSTs, UDP sends). */
  txQueue: number;
  /** RFC 5961 7: challenge ACKs per second, all connections together. */
  challengeAcksPerSecond: number;
  /** ICMP errors (port unreachable) per second (RFC 1812 4.3.2.8 / RFC 4443 2.4(f) rate limiting). */
  icmpErrorsPerSecond: number;
}

export const DEFAULT_LIMITS: InterfaceLimits = {
  maxConnections: 4096,
  backlog: 128,
  maxTimeWait: 4096,
  udpQueueDatagrams: 256,
  udpQueueBytes: 1 << 20,
  txQueue: 512,
  challengeAcksPerSecond: 1000,
  icmpErrorsPerSecond: 100,
};

export interface InterfaceConfig {
  /** Addresses the stack owns with their prefix, i.e. [100.100.0.1/16, 200::1/64]. */
  addresses: Cidr[];
  /** Largest IP packet we send; MSS is derived from it. 1420 matches WireGuard's default. */
  mtu?: number;
  /** Fills b with random bytes (ISN secret, ports, timestamp offsets). Injected so tests are deterministic. */
  random: (b: Uint8Array) => void;
  limits?: Partial<InterfaceLimits>;
  tcp?: Partial<TcpConfig>;
  reassembly?: Partial<ReassemblyLimits>;
  /**
   * Verify TCP and UDP checksums of incoming packets (default true). false for a link that authenticates
   * every packet already, as WireGuard's AEAD does: Linux's wireguard marks decrypted packets
   * CHECKSUM_UNNECESSARY for the same reason. Outgoing checksums are filled in unless
   * tcpChecksumOffload leaves them to the link.
   */
  verifyChecksums?: boolean;
  /**
   * Leave the TCP checksum of outgoing segments to the link (TX checksum offload, as a NIC): the field
   * is sent as 0 and the link must fill it (nexd's WireGuard node does, just before sealing). Default false.
   */
  tcpChecksumOffload?: boolean;
}
