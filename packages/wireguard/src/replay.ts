// SPDX-License-Identifier: Apache-2.0
// Sliding-window replay filter after RFC 6479: a ring of 32-bit words; moving the window forward clears
// whole words, so the cost does not depend on how far the counter jumped. Window: REPLAY_WINDOW_SIZE.
import { REPLAY_RING_WORDS, REPLAY_WINDOW_SIZE } from './constants.js';

const WORD_BITS = 32;

export class ReplayFilter {
  private readonly ring = new Uint32Array(REPLAY_RING_WORDS);
  /** Greatest counter accepted so far, i.e. 41 after packets 0..41. */
  private last = 0;

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }

  /**
   * True when `counter` is fresh (below `limit`, inside the window, not seen before), and records it.
   * Call only after the packet authenticated, or a forger could advance the window.
   */
  validateCounter(counter: number, limit: number): boolean {
    if (!(counter >= 0 && counter < limit)) return false;
    const block = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      // Slide forward: clear the words between the old and the new head (at most the whole ring).
      const current = Math.floor(this.last / WORD_BITS);
      const diff = Math.min(block - current, REPLAY_RING_WORDS);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) % REPLAY_RING_WORDS] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW_SIZE) {
      return false; // too old: behind the window
    }
    const index = block % REPLAY_RING_WORDS;
    const bit = 1 << (counter % WORD_BITS);
    const old = this.ring[index];
    if ((old & bit) !== 0) return false; // duplicate
    this.ring[index] = old | bit;
    return true;
  }
}
