// SPDX-License-Identifier: Apache-2.0
// Tunables of the TCP core, with the RFC or the stack whose value we follow.

export interface TcpConfig {
  /** Send buffer bytes per connection (also the façade's writable highWaterMark). */
  sendBufferSize: number;
  /** Receive buffer bytes per connection: the largest window we advertise. */
  recvBufferSize: number;
  /** RFC 6298 2.1. */
  initialRto: number;
  /** RFC 6298 2.4 says 1000; Linux's 200 suits tunnels with sub-ms RTT. */
  minRto: number;
  /** RFC 6298 2.5. */
  maxRto: number;
  /** Consecutive RTOs before ETIMEDOUT (Linux tcp_retries2 = 15). */
  maxRetransmits: number;
  /** SYN retransmissions before ETIMEDOUT (Linux tcp_syn_retries = 6). */
  synRetries: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped (Linux tcp_synack_retries = 5). */
  synAckRetries: number;
  /** RFC 9293 3.8.6.3: ACK delay, must be < 500 ms; Linux uses 40 ms. */
  delayedAckMs: number;
  /** 2*MSL (RFC 9293 3.4.2 suggests MSL = 2 min; Linux uses a 60 s TIME-WAIT). */
  timeWaitMs: number;
  /** Give-up time for a FIN-WAIT-2 whose peer never closes (Linux tcp_fin_timeout = 60 s). */
  finWait2TimeoutMs: number;
  /** RFC 1122 4.2.3.6: at least two hours by default. */
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveCount: number;
  /** RFC 6928 initial window in segments. */
  initialWindowSegments: number;
  sack: boolean;
  timestamps: boolean;
  windowScaling: boolean;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  initialRto: 1000,
  minRto: 200,
  maxRto: 60_000,
  maxRetransmits: 15,
  synRetries: 6,
  synAckRetries: 5,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  keepaliveIdleMs: 2 * 60 * 60 * 1000,
  keepaliveIntervalMs: 75_000,
  keepaliveCount: 9,
  initialWindowSegments: 10,
  sack: true,
  timestamps: true,
  windowScaling: true,
};

/** RFC 9293 3.7.1 / RFC 8200 5: MSS assumed when the peer's SYN carries none. */
export const DEFAULT_MSS_V4 = 536;
export const DEFAULT_MSS_V6 = 1220;
/** IPv4 (20) + TCP (20) and IPv6 (40) + TCP (20) header bytes subtracted from the MTU for our MSS. */
export const MSS_OVERHEAD_V4 = 40;
export const MSS_OVERHEAD_V6 = 60;

/** Buffers up to this size are freed when they drain; bulk connections keep their larger storage. */
export const IDLE_RELEASE_MAX = 16 * 1024;
