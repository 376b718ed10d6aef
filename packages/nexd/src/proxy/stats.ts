// SPDX-License-Identifier: Apache-2.0
// Per-rule counters. Plain numbers bumped on the data path; /metrics and `nexctl nexd proxy list` read them.

export class RuleStats {
  /** Connections (TCP) or flows (UDP) accepted for this rule, i.e. `12`. */
  connections = 0;
  /** Connections or flows open now. */
  active = 0;
  /** Bytes from the listening side's client towards the destination. */
  bytesToDestination = 0;
  /** Bytes from the destination back to the client. */
  bytesFromDestination = 0;
  /** Dials (or UDP flow set-ups) that failed: name did not resolve, refused, timed out. */
  dialFailures = 0;
  /** Datagrams dropped: flow failed, flow table full, or too many queued while a flow was being set up. */
  datagramsDropped = 0;

  snapshot(): RuleStatsSnapshot {
    return {
      connections: this.connections,
      active: this.active,
      bytesToDestination: this.bytesToDestination,
      bytesFromDestination: this.bytesFromDestination,
      dialFailures: this.dialFailures,
      datagramsDropped: this.datagramsDropped,
    };
  }
}

export interface RuleStatsSnapshot {
  connections: number;
  active: number;
  bytesToDestination: number;
  bytesFromDestination: number;
  dialFailures: number;
  datagramsDropped: number;
}
