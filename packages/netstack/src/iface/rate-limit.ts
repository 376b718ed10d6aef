// SPDX-License-Identifier: Apache-2.0
// A fixed one-second window counter: at most `perSecond` events per window, told the time by the caller.
// Used for the RFC 5961 7 challenge-ACK limit and the RFC 1812 4.3.2.8 / RFC 4443 2.4(f) ICMP error limit.

const WINDOW_MS = 1000;

export class RateLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private count = 0;

  constructor(private readonly perSecond: number) {}

  /** Counts one event at `now` (ms); true when it is within the limit. */
  allow(now: number): boolean {
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= this.perSecond;
  }
}
