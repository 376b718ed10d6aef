// SPDX-License-Identifier: Apache-2.0
// Test helpers for driving a memoryPair with a simulated clock.
import type { MemoryPair } from '../src/testing/memory-bind.js';

export const T0 = 1_700_000_000_000;

/** Message type of a logged datagram: 1 initiation, 2 response, 3 cookie, 4 transport. */
export function typeOf(d: { data: Uint8Array }): number {
  return d.data[0];
}

/** A compact trace of the datagrams logged so far, i.e. ['A>B 1', 'B>A 2', 'A>B 4:32']. */
export function trace(p: MemoryPair): string[] {
  return p.net.log.map((d) => {
    const dir = d.from.address === p.endpointA.address ? 'A>B' : 'B>A';
    return d.data[0] === 4 ? `${dir} 4:${d.data.length}` : `${dir} ${d.data[0]}`;
  });
}

/**
 * Advances the simulated clock from `now` to `until`, running both devices' timers at their
 * deadlines (in order) and delivering all datagrams after each step. Returns `until`.
 */
export function advance(p: MemoryPair, now: number, until: number): number {
  p.net.deliver(now);
  for (let guard = 0; guard < 100_000; guard++) {
    const next = Math.min(p.a.pollAt() ?? Infinity, p.b.pollAt() ?? Infinity);
    if (next > until) break;
    now = Math.max(now, next);
    p.net.now = now;
    p.a.poll(now);
    p.b.poll(now);
    p.net.deliver(now);
  }
  p.net.deliver(until);
  return until;
}

/** Times (relative to T0) of logged datagrams matching `pred`. */
export function times(
  log: { data: Uint8Array; at?: number }[],
  pred: (d: { data: Uint8Array }) => boolean,
): number[] {
  return log.filter(pred).map((d) => (d.at ?? 0) - T0);
}

/** Sends `packet` from device `side` at `now` (stamping the network clock first). */
export function send(p: MemoryPair, side: 'a' | 'b', packet: Uint8Array, now: number): string {
  p.net.now = now;
  return p[side].sendPacket(packet, now);
}

/** A seeded xorshift32 generator of u32 values, for reproducible garbage in the bad-input tests. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
