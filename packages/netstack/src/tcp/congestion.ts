// SPDX-License-Identifier: Apache-2.0
// Congestion control: NewReno (RFC 5681 + RFC 6582) with SACK-based loss recovery in the spirit of RFC 6675.
//
// Why NewReno and not CUBIC: our links are tunnels inside a cluster or a VPC with sub-millisecond to a few
// milliseconds of RTT, where CUBIC's time-based growth behaves like Reno anyway (RFC 9438 4.3 "Reno-friendly
// region") while costing a cube root and wall-clock epoch bookkeeping per ACK. What matters at these RTTs is
// recovering from burst loss without falling back to RTO: that comes from SACK-driven retransmission of every
// hole within one RTT (the sender in socket.ts walks the scoreboard), not from the growth function.
// Byte counting follows RFC 3465 (Appropriate Byte Counting) without its L cap in slow start, as Linux
// (see onAck); the caller (recovery.ts onNewAck) passes only newly delivered bytes, capped at one SMSS
// per ACK while the flight of an RTO is being repaired (RFC 3465 2.3).

export class NewReno {
  /** Congestion window in bytes. */
  cwnd: number;
  /** Slow-start threshold in bytes (RFC 5681 3.1: initially arbitrarily high). */
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Bytes acknowledged since the last congestion-avoidance increment. */
  private bytesAcked = 0;

  constructor(
    public mss: number,
    initialWindowSegments: number,
  ) {
    this.cwnd = initialWindowSegments * mss;
  }

  /** Call when an ACK outside recovery acknowledges `acked` new bytes. */
  onAck(acked: number): void {
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 3.1 slow start, counting every acknowledged byte (RFC 3465 2.2 byte counting without
      // its L = 2*SMSS cap, as Linux does since 3.8): receivers that batch their input (GRO on Linux,
      // one ACK per event-loop turn here) send stretch ACKs covering tens of segments, and a capped
      // increase would make slow start grow by 2 segments per round trip. Beyond ssthresh the rest of
      // the ACK counts towards congestion avoidance.
      const room = this.ssthresh - this.cwnd;
      if (acked <= room) {
        this.cwnd += acked;
        return;
      }
      this.cwnd = this.ssthresh;
      acked -= room;
    }
    // RFC 5681 3.1 congestion avoidance: one SMSS per cwnd of acknowledged bytes (a stretch ACK may
    // cover more than one cwnd).
    this.bytesAcked += acked;
    while (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  /** Call when fast retransmit starts (RFC 5681 3.2 step 2, RFC 6582 3.2 step 2). */
  onEnterRecovery(flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  /** Call on a full ACK ending recovery (RFC 6582 3.2 step 3, option 1 with the flight cap). */
  onExitRecovery(flight: number): void {
    this.cwnd = Math.max(Math.min(this.ssthresh, flight + this.mss), this.mss);
  }

  /** Call when the retransmission timer fires (RFC 5681 3.1 eq. 4: cwnd = loss window = 1 SMSS). */
  onRetransmitTimeout(flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.cwnd = this.mss;
    this.bytesAcked = 0;
  }

  /** RFC 5681 4.1: after an idle period longer than an RTO, restart from the initial window. */
  onIdleRestart(initialWindow: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow);
  }
}
