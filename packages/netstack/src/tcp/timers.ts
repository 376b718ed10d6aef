// SPDX-License-Identifier: Apache-2.0
// Per-socket timers as a tagged value mutated in place (no allocation when re-armed on every ACK). A socket
// owns two: `timer` (one of the exclusive connection timers below) and `ackTimer` (delayed ACK, which runs
// alongside a retransmission). The interface keeps one deadline heap; no socket owns a host timer.

export type TcpTimerKind =
  | 'idle' // nothing armed
  | 'retransmit' // RFC 6298: oldest unacknowledged segment (or SYN/FIN) times out
  | 'tail-loss-probe' // RFC 8985 7: probe the tail after ~2*SRTT instead of waiting for the RTO
  | 'zero-window-probe' // RFC 9293 3.8.6.1: peer advertised 0 and we have data
  | 'keepalive' // RFC 9293 3.8.4 / RFC 1122 4.2.3.6: idle connection probing
  | 'time-wait' // RFC 9293 3.10.7.4: 2*MSL before the 4-tuple may be reused
  | 'fin-wait-2' // orphaned FIN-WAIT-2 give-up (not in the RFC; every stack has one)
  | 'syn-received' // half-open connection lifetime (bounded backlog, SYN flood defence)
  | 'delayed-ack'; // RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK at most this late

export interface TcpTimer {
  kind: TcpTimerKind;
  /** Virtual time (ms) at which it fires; Infinity when idle. */
  expiresAt: number;
}

export function idleTimer(): TcpTimer {
  return { kind: 'idle', expiresAt: Number.POSITIVE_INFINITY };
}

export function armTimer(t: TcpTimer, kind: TcpTimerKind, expiresAt: number): void {
  t.kind = kind;
  t.expiresAt = expiresAt;
}

export function clearTimer(t: TcpTimer): void {
  t.kind = 'idle';
  t.expiresAt = Number.POSITIVE_INFINITY;
}
