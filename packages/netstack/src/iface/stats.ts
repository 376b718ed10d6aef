// SPDX-License-Identifier: Apache-2.0
// What Interface.stats() reports: packet and drop counters, table sizes, reassembly and scheduler state.

/** Why a packet was dropped; every drop increments exactly one counter. */
export interface DropCounters {
  malformed: number;
  checksum: number;
  notForUs: number;
  unsupported: number;
  noSocket: number;
  fragment: number;
  backlog: number;
  connectionLimit: number;
  udpQueueFull: number;
  txQueueFull: number;
}

export interface InterfaceStats {
  packetsIn: number;
  packetsOut: number;
  drops: DropCounters;
  tcp: { connections: number; timeWait: number; listeners: number; halfOpen: number };
  udp: { sockets: number };
  icmpEchoReplies: number;
  fragments: { inProgress: number; bufferedBytes: number; timeouts: number };
  /** Heap entries in the deadline scheduler (bounded by a small multiple of the socket count). */
  schedulerEntries: number;
}
