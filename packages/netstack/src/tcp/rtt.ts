// SPDX-License-Identifier: Apache-2.0
// Retransmission timeout per RFC 6298, fed by RFC 7323 timestamps when negotiated (every ACK of new data
// carries a sample) or by Karn's algorithm (one timed segment, never a retransmitted one) otherwise.

export interface RtoConfig {
  /** RFC 6298 2.1: 1 s before any sample. */
  initialRto: number;
  /** RFC 6298 2.4 says 1 s; Linux uses 200 ms, which suits sub-millisecond tunnels far better. */
  minRto: number;
  /** RFC 6298 2.5: at least 60 s. */
  maxRto: number;
}

const ALPHA = 1 / 8; // RFC 6298 2.3
const BETA = 1 / 4;
const K = 4;
/** Clock granularity G in ms (our timestamp clock ticks in ms). */
const GRANULARITY = 1;

export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  hasSample = false;
  /** Current RTO including exponential backoff (RFC 6298 5.5). */
  rto: number;
  /** Karn timing: the sequence number being timed and when it was sent, or -1. */
  timedSeq = -1;
  timedAt = 0;

  constructor(private readonly cfg: RtoConfig) {
    this.rto = cfg.initialRto;
  }

  /** Call with a fresh RTT measurement (ms). RFC 6298 2.2 / 2.3. */
  sample(rtt: number): void {
    if (rtt < 0) return;
    if (!this.hasSample) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
      this.hasSample = true;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rtt);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rtt;
    }
    this.rto = this.base();
  }

  /** RTO without backoff. */
  base(): number {
    if (!this.hasSample) return this.cfg.initialRto;
    const r = this.srtt + Math.max(GRANULARITY, K * this.rttvar);
    return Math.min(this.cfg.maxRto, Math.max(this.cfg.minRto, r));
  }

  /** Call when the retransmission timer expires: RFC 6298 5.5 doubles the RTO. */
  backoff(): void {
    this.rto = Math.min(this.cfg.maxRto, this.rto * 2);
    this.timedSeq = -1; // Karn: the timed segment is being retransmitted
  }

  /** Call when new data is acknowledged: drop the backoff (RFC 6298 5.7 keeps it until a sample; we re-derive). */
  resetBackoff(): void {
    this.rto = this.base();
  }
}
