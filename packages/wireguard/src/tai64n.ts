// SPDX-License-Identifier: Apache-2.0
// TAI64N timestamps of the handshake initiation (section 5.4.2): 8 bytes big-endian seconds with the
// 2^62 + 10 TAI offset, then 4 bytes big-endian nanoseconds. The responder keeps the greatest one seen
// per peer and rejects anything not strictly greater (replay protection across restarts).
import { TAI64N_SIZE } from './constants.js';

const TAI64_BASE_HI = 0x40000000; // high 32 bits of 2^62
const TAI64_LABEL_OFFSET = 10; // TAI - UTC as the TAI64 label convention uses it
/** Nanoseconds are rounded down to a multiple of 2^24 ns (~16.8 ms) so the timestamp leaks no fine timing, as wireguard-go whitens it. */
const WHITENER_MASK = 0x1000000 - 1;

/** Writes the TAI64N encoding of `unixMs` (milliseconds since the Unix epoch) into `out` (12 bytes). */
export function tai64n(unixMs: number, out: Uint8Array = new Uint8Array(TAI64N_SIZE)): Uint8Array {
  const seconds = Math.floor(unixMs / 1000) + TAI64_LABEL_OFFSET;
  const nanos = Math.floor((unixMs - Math.floor(unixMs / 1000) * 1000) * 1e6);
  const dv = new DataView(out.buffer, out.byteOffset, TAI64N_SIZE);
  dv.setUint32(0, TAI64_BASE_HI + Math.floor(seconds / 2 ** 32));
  dv.setUint32(4, seconds >>> 0);
  dv.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0);
  return out;
}

/** Big-endian comparison: true when `a` is strictly after `b`. */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
