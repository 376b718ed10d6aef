// SPDX-License-Identifier: Apache-2.0
// The rules sharing one listener (type + protocol + port) and the round-robin choice between them, made
// once per new TCP connection or UDP flow (never per packet). Shared by tcp.ts and udp.ts.
//
// Health: when a port has several rules (targets), a rule whose dial failed, or whose health check failed,
// is `down` and skipped by pick() until a check succeeds again (tcp.ts dials the checks). With every rule
// down, pick() still takes them in turn: trying one is better than refusing the client outright.
import type { ProxyRule } from './rules.js';
import type { RuleStats } from './stats.js';

/** One rule as the engine holds it: the parsed rule, its canonical text and its counters. */
export interface RuleEntry {
  rule: ProxyRule;
  /** The canonical rule text, i.e. `tcp:80:100.100.0.1:80`. */
  text: string;
  stats: RuleStats;
  /** Its destination failed the last dial or health check (only tracked on ports with several rules). */
  down?: boolean;
}

export class RuleRing {
  /** In the order they were added; the engine pushes and splices. */
  readonly entries: RuleEntry[] = [];
  #next = 0;

  /**
   * The next rule in turn that is up and not in `tried`; failing that, the next not in `tried`; undefined
   * when none is left. Removing a rule keeps the cursor in range.
   */
  pick(tried?: ReadonlySet<RuleEntry>): RuleEntry | undefined {
    const n = this.entries.length;
    let fallback: RuleEntry | undefined;
    for (let i = 0; i < n; i++) {
      const entry = this.entries[(this.#next + i) % n]!;
      if (tried?.has(entry)) continue;
      if (!entry.down) {
        this.#next = (this.#next + i + 1) % n;
        return entry;
      }
      fallback ??= entry;
    }
    if (fallback) this.#next = (this.entries.indexOf(fallback) + 1) % n;
    return fallback;
  }

  /** Whether the rules' health is worth tracking: with one rule there is nothing to choose between. */
  get balanced(): boolean {
    return this.entries.length > 1;
  }
}
