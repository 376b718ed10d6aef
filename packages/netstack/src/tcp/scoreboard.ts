// SPDX-License-Identifier: Apache-2.0
// Sender-side SACK scoreboard (RFC 2018, RFC 6675 2): which sequence ranges above SND.UNA the receiver holds.
// Bounded to MAX_SACKED ranges; when full, the range nearest SND.UNA is kept (it drives retransmission) and
// the highest ones are dropped (they merely delay recovery of later holes).
import { seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.js';

const MAX_SACKED = 16;

export class Scoreboard {
  readonly left: number[] = [];
  readonly right: number[] = [];
  /** Total bytes covered. */
  sacked = 0;

  clear(): void {
    this.left.length = 0;
    this.right.length = 0;
    this.sacked = 0;
  }

  get highSack(): number | undefined {
    return this.right.length > 0 ? this.right[this.right.length - 1] : undefined;
  }

  /** Adds a block reported by the peer; ignores blocks outside (una, sndMax]. */
  add(l: number, r: number, una: number, sndMax: number): void {
    if (!seqLt(l, r) || seqLe(r, una) || seqGt(r, sndMax)) return;
    if (seqLt(l, una)) l = una;
    const L = this.left;
    const R = this.right;
    let i = 0;
    while (i < L.length && seqLt(R[i], l)) i++;
    let j = i;
    while (j < L.length && seqLe(L[j], r)) j++;
    if (i === j) {
      L.splice(i, 0, l);
      R.splice(i, 0, r);
      if (L.length > MAX_SACKED) {
        L.pop();
        R.pop();
      }
    } else {
      const nl = seqMin(l, L[i]);
      const nr = seqMax(r, R[j - 1]);
      L.splice(i, j - i, nl);
      R.splice(i, j - i, nr);
    }
    this.recount();
  }

  /** Drops everything at or below the new SND.UNA. */
  advance(una: number): void {
    const L = this.left;
    const R = this.right;
    let changed = false;
    while (L.length > 0 && seqLe(R[0], una)) {
      L.shift();
      R.shift();
      changed = true;
    }
    if (L.length > 0 && seqLt(L[0], una)) {
      L[0] = una;
      changed = true;
    }
    if (changed) this.recount();
  }

  private recount(): void {
    let s = 0;
    for (let i = 0; i < this.left.length; i++) s += (this.right[i] - this.left[i]) >>> 0;
    this.sacked = s;
  }

  /** Bytes covered below `seq`: what a cumulative ACK up to `seq` confirms a second time. */
  sackedBelow(seq: number): number {
    let s = 0;
    for (let i = 0; i < this.left.length && seqLt(this.left[i], seq); i++) {
      s += (seqMin(this.right[i], seq) - this.left[i]) >>> 0;
    }
    return s;
  }

  /** True when seq is inside a SACKed range. */
  isSacked(seq: number): boolean {
    for (let i = 0; i < this.left.length; i++) {
      if (seqGe(seq, this.left[i]) && seqLt(seq, this.right[i])) return true;
    }
    return false;
  }

  /** End of the SACKed range containing seq, or seq. */
  skipSacked(seq: number): number {
    for (let i = 0; i < this.left.length; i++) {
      if (seqGe(seq, this.left[i]) && seqLt(seq, this.right[i])) return this.right[i];
    }
    return seq;
  }

  /** Start of the first SACKed range above seq, or `limit`. */
  nextSackedAfter(seq: number, limit: number): number {
    for (let i = 0; i < this.left.length; i++) {
      if (seqGt(this.left[i], seq)) return seqMin(this.left[i], limit);
    }
    return limit;
  }

  /** Un-SACKed bytes in [from, to). */
  holesBetween(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let total = (to - from) >>> 0;
    for (let i = 0; i < this.left.length; i++) {
      const l = seqMax(this.left[i], from);
      const r = seqMin(this.right[i], to);
      if (seqLt(l, r)) total -= (r - l) >>> 0;
    }
    return total;
  }
}
