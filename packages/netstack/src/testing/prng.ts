// SPDX-License-Identifier: Apache-2.0
// Seeded pseudo-random numbers for deterministic tests (mulberry32): never use Math.random in a test.

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform 32-bit integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** A random-source function for InterfaceConfig.random / NetStack options. */
  fill = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i++) b[i] = this.u32() & 0xff;
  };
}

/** Deterministic byte pattern: byte i of stream `seed` (cheap to regenerate for verification). */
export function patternByte(seed: number, i: number): number {
  let x = Math.imul(i ^ seed, 0x9e3779b1);
  x ^= x >>> 16;
  return x & 0xff;
}

export function fillPattern(seed: number, start: number, dst: Uint8Array, off: number, n: number): void {
  for (let k = 0; k < n; k++) dst[off + k] = patternByte(seed, start + k);
}
