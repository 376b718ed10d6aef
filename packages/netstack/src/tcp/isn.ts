// SPDX-License-Identifier: Apache-2.0
// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
// where M is a 4-microsecond clock (passed in: the core has no clock) and F is a keyed hash. F is HalfSipHash-2-4
// (Aumasson & Bernstein), chosen because it works on 32-bit words, i.e. fast in JavaScript without BigInt.
import type { IpAddress } from '../wire/ip-address.js';

function rotl(x: number, b: number): number {
  return ((x << b) | (x >>> (32 - b))) >>> 0;
}

export class IsnGenerator {
  private readonly k0: number;
  private readonly k1: number;
  private readonly words = new Uint32Array(9);

  /** secret: at least 8 random bytes from the injected random source. */
  constructor(secret: Uint8Array) {
    if (secret.length < 8) throw new RangeError('ISN secret must be at least 8 bytes');
    this.k0 = (secret[0] | (secret[1] << 8) | (secret[2] << 16) | (secret[3] << 24)) >>> 0;
    this.k1 = (secret[4] | (secret[5] << 8) | (secret[6] << 16) | (secret[7] << 24)) >>> 0;
  }

  /** now in ms; returns a 32-bit ISN. */
  generate(local: IpAddress, localPort: number, remote: IpAddress, remotePort: number, now: number): number {
    const w = this.words;
    w[0] = local.w0;
    w[1] = local.w1;
    w[2] = local.w2;
    w[3] = local.w3;
    w[4] = remote.w0;
    w[5] = remote.w1;
    w[6] = remote.w2;
    w[7] = remote.w3;
    w[8] = ((localPort << 16) | remotePort) >>> 0;
    const m = Math.floor(now * 250) >>> 0; // RFC 6528 3: M ticks every 4 microseconds
    return (m + this.hash(w)) >>> 0;
  }

  private hash(msg: Uint32Array): number {
    let v0 = this.k0;
    let v1 = this.k1;
    let v2 = (0x6c796765 ^ this.k0) >>> 0;
    let v3 = (0x74656462 ^ this.k1) >>> 0;
    const round = () => {
      v0 = (v0 + v1) >>> 0;
      v1 = rotl(v1, 5) ^ v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) >>> 0;
      v3 = rotl(v3, 8) ^ v2;
      v0 = (v0 + v3) >>> 0;
      v3 = rotl(v3, 7) ^ v0;
      v2 = (v2 + v1) >>> 0;
      v1 = rotl(v1, 13) ^ v2;
      v2 = rotl(v2, 16);
    };
    for (let i = 0; i < msg.length; i++) {
      v3 = (v3 ^ msg[i]) >>> 0;
      round();
      round();
      v0 = (v0 ^ msg[i]) >>> 0;
    }
    const b = ((msg.length * 4) << 24) >>> 0;
    v3 = (v3 ^ b) >>> 0;
    round();
    round();
    v0 = (v0 ^ b) >>> 0;
    v2 = (v2 ^ 0xff) >>> 0;
    round();
    round();
    round();
    round();
    return (v1 ^ v3) >>> 0;
  }
}
