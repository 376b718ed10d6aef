// SPDX-License-Identifier: Apache-2.0
// Per-source-address token bucket for handshake messages under load (wireguard-go ratelimiter.go in
// spirit): even a source that proved its address with a valid mac2 gets at most RATE_LIMIT_PER_SECOND
// handshakes processed (burst RATE_LIMIT_BURST), so one address cannot monopolise the Diffie-Hellman work.
// The table is bounded: idle entries are swept every RATE_LIMIT_SWEEP ms and new sources beyond
// RATE_LIMIT_MAX_ENTRIES are refused until the next sweep.

export const RATE_LIMIT_PER_SECOND = 20;
export const RATE_LIMIT_BURST = 5;
export const RATE_LIMIT_MAX_ENTRIES = 4096;
export const RATE_LIMIT_SWEEP = 1000;

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = Number.NEGATIVE_INFINITY;

  get size(): number {
    return this.buckets.size;
  }

  /** True when a handshake from `source` (an IP address, port ignored) may be processed at `now`. */
  allow(source: string, now: number): boolean {
    if (now - this.lastSweep >= RATE_LIMIT_SWEEP) this.sweep(now);
    let b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= RATE_LIMIT_MAX_ENTRIES) return false;
      b = { tokens: RATE_LIMIT_BURST, last: now };
      this.buckets.set(source, b);
    } else {
      b.tokens = Math.min(RATE_LIMIT_BURST, b.tokens + ((now - b.last) * RATE_LIMIT_PER_SECOND) / 1000);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets idle long enough to have refilled completely. */
  private sweep(now: number): void {
    this.lastSweep = now;
    const refill = (RATE_LIMIT_BURST * 1000) / RATE_LIMIT_PER_SECOND;
    for (const [k, b] of this.buckets) if (now - b.last >= refill) this.buckets.delete(k);
  }
}
