// SPDX-License-Identifier: Apache-2.0
// Out-of-order reassembly bookkeeping (RFC 9293 3.10.7.4 "seventh", RFC 2018 for the SACK view of it).
// The bytes themselves sit in the receive ring beyond its readable end; this only records which stream
// ranges past the in-order point have arrived. Offsets are absolute stream offsets (bytes since the SYN) so
// they never wrap. Bounded: a segment that would need more than MAX_RANGES ranges is dropped (the peer
// retransmits it), which bounds the work an attacker can cause.

export const MAX_RANGES = 32;

export class Assembler {
  /** Sorted, disjoint, non-adjacent ranges [start[i], end[i]). */
  private readonly start: number[] = [];
  private readonly end: number[] = [];
  /** Index of the range touched most recently: RFC 2018 4 wants it reported first. */
  private recent = -1;

  get count(): number {
    return this.start.length;
  }

  isEmpty(): boolean {
    return this.start.length === 0;
  }

  clear(): void {
    this.start.length = 0;
    this.end.length = 0;
    this.recent = -1;
  }

  /** Records [s, e). Returns false (and records nothing) when the range limit would be exceeded. */
  add(s: number, e: number): boolean {
    if (e <= s) return true;
    const st = this.start;
    const en = this.end;
    // First range whose end >= s (could merge), and the last whose start <= e.
    let i = 0;
    while (i < st.length && en[i] < s) i++;
    let j = i;
    while (j < st.length && st[j] <= e) j++;
    if (i === j) {
      if (st.length >= MAX_RANGES) return false;
      st.splice(i, 0, s);
      en.splice(i, 0, e);
    } else {
      const ns = Math.min(s, st[i]);
      const ne = Math.max(e, en[j - 1]);
      st.splice(i, j - i, ns);
      en.splice(i, j - i, ne);
    }
    this.recent = i;
    return true;
  }

  /**
   * Removes ranges that now touch or precede `front` (the new in-order end); returns the new in-order end,
   * i.e. with ranges [10,20) and front 10 it returns 20.
   */
  advance(front: number): number {
    while (this.start.length > 0 && this.start[0] <= front) {
      if (this.end[0] > front) front = this.end[0];
      this.start.shift();
      this.end.shift();
      if (this.recent >= 0) this.recent--;
    }
    return front;
  }

  /**
   * Writes up to max SACK blocks (most recent first, then ascending) as stream offsets into left/right.
   * Returns the count.
   */
  sackBlocks(left: number[], right: number[], max: number): number {
    let n = 0;
    if (this.recent >= 0 && this.recent < this.start.length && n < max) {
      left[n] = this.start[this.recent];
      right[n] = this.end[this.recent];
      n++;
    }
    for (let i = 0; i < this.start.length && n < max; i++) {
      if (i === this.recent) continue;
      left[n] = this.start[i];
      right[n] = this.end[i];
      n++;
    }
    return n;
  }
}
