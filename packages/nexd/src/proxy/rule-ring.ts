// SPDX-License-Identifier: Apache-2.0
// The rules sharing one listener (type + protocol + port) and the round-robin choice between them, made
// once per new TCP connection or UDP flow (never per packet). Shared by tcp.ts and udp.ts.
import type { ProxyRule } from './rules.js';
import type { RuleStats } from './stats.js';

/** One rule as the engine holds it: the parsed rule, its canonical text and its counters. */
export interface RuleEntry {
  rule: ProxyRule;
  /** The canonical rule text, i.e. `tcp:80:100.100.0.1:80`. */
  text: string;
  stats: RuleStats;
}

export class RuleRing {
  /** In the order they were added; the engine pushes and splices. */
  readonly entries: RuleEntry[] = [];
  #next = 0;

  /** The next rule in turn, or undefined when the ring is empty. Removing a rule keeps the cursor in range. */
  pick(): RuleEntry | undefined {
    const n = this.entries.length;
    if (n === 0) return undefined;
    const entry = this.entries[this.#next % n];
    this.#next = (this.#next + 1) % n;
    return entry;
  }
}
