// SPDX-License-Identifier: Apache-2.0
// IPv4/IPv6 addresses as four 32-bit words, so that reading one from a packet, comparing and hashing it
// allocate nothing (the hot path reuses scratch instances via readV4/readV6). Strings only at the API edge.
import { readU32, writeU32 } from './error.js';

export type IpFamily = 4 | 6;

export class IpAddress {
  /** 4 or 6. An IPv4 address lives in w3 (w0..w2 are zero), i.e. 100.100.0.1 is w3=0x64640001. */
  family: IpFamily;
  w0 = 0;
  w1 = 0;
  w2 = 0;
  w3 = 0;

  constructor(family: IpFamily = 4) {
    this.family = family;
  }

  static v4(n: number): IpAddress {
    const a = new IpAddress(4);
    a.w3 = n >>> 0;
    return a;
  }

  /** Parses dotted-quad or RFC 4291 text (with `::` and a trailing dotted quad); undefined if invalid. */
  static parse(text: string): IpAddress | undefined {
    if (text.includes(':')) return parseV6(text);
    const n = parseV4(text);
    return n === undefined ? undefined : IpAddress.v4(n);
  }

  /** Like parse(), for API boundaries: throws a TypeError that says what was expected. */
  static from(text: string): IpAddress {
    const a = IpAddress.parse(text);
    if (!a)
      throw new TypeError(`invalid IP address ${JSON.stringify(text)}: expected IPv4 dotted quad or IPv6`);
    return a;
  }

  static unspecified(family: IpFamily): IpAddress {
    return new IpAddress(family);
  }

  clone(): IpAddress {
    const a = new IpAddress(this.family);
    a.copyFrom(this);
    return a;
  }

  copyFrom(o: IpAddress): this {
    this.family = o.family;
    this.w0 = o.w0;
    this.w1 = o.w1;
    this.w2 = o.w2;
    this.w3 = o.w3;
    return this;
  }

  equals(o: IpAddress): boolean {
    return (
      this.family === o.family && this.w3 === o.w3 && this.w2 === o.w2 && this.w1 === o.w1 && this.w0 === o.w0
    );
  }

  isUnspecified(): boolean {
    return (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  /** True for 224.0.0.0/4, 255.255.255.255 and ff00::/8: never answered, never a TCP peer. */
  isMulticastOrBroadcast(): boolean {
    if (this.family === 4) return this.w3 >>> 28 === 0xe || this.w3 === 0xffffffff;
    return this.w0 >>> 24 === 0xff;
  }

  /** Mixes the words into a 32-bit value (for hash tables keyed without strings). */
  hash(): number {
    let h = Math.imul(this.w0 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ this.w1 ^ (h >>> 15), 0xc2b2ae35);
    h = Math.imul(h ^ this.w2 ^ (h >>> 13), 0x85ebca6b);
    h = Math.imul(h ^ this.w3 ^ (h >>> 16), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  readV4(b: Uint8Array, o: number): this {
    this.family = 4;
    this.w0 = this.w1 = this.w2 = 0;
    this.w3 = readU32(b, o);
    return this;
  }

  readV6(b: Uint8Array, o: number): this {
    this.family = 6;
    this.w0 = readU32(b, o);
    this.w1 = readU32(b, o + 4);
    this.w2 = readU32(b, o + 8);
    this.w3 = readU32(b, o + 12);
    return this;
  }

  /** Writes 4 or 16 bytes at b[o]. */
  write(b: Uint8Array, o: number): void {
    if (this.family === 4) {
      writeU32(b, o, this.w3);
      return;
    }
    writeU32(b, o, this.w0);
    writeU32(b, o + 4, this.w1);
    writeU32(b, o + 8, this.w2);
    writeU32(b, o + 12, this.w3);
  }

  /** Dotted quad, or RFC 5952 canonical IPv6 text (longest zero run of two or more groups becomes `::`). */
  toString(): string {
    if (this.family === 4) {
      const n = this.w3;
      return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    }
    const g = [
      this.w0 >>> 16,
      this.w0 & 0xffff,
      this.w1 >>> 16,
      this.w1 & 0xffff,
      this.w2 >>> 16,
      this.w2 & 0xffff,
      this.w3 >>> 16,
      this.w3 & 0xffff,
    ];
    let bestStart = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
    if (bestStart < 0) return hex(g);
    return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
  }
}

function parseV4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

function parseV6(text: string): IpAddress | undefined {
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const groups: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseHalf = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const items = h.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseV4(it);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(Number.parseInt(it, 16));
      }
    }
    return out;
  };
  const head = parseHalf(halves[0]);
  const tail = halves.length === 2 ? parseHalf(halves[1]) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) {
    if (head.length !== 8) return undefined;
    groups.push(...head);
  } else {
    const zeros = 8 - head.length - tail.length;
    if (zeros < 1) return undefined;
    groups.push(...head, ...new Array<number>(zeros).fill(0), ...tail);
  }
  const a = new IpAddress(6);
  a.w0 = ((groups[0] << 16) | groups[1]) >>> 0;
  a.w1 = ((groups[2] << 16) | groups[3]) >>> 0;
  a.w2 = ((groups[4] << 16) | groups[5]) >>> 0;
  a.w3 = ((groups[6] << 16) | groups[7]) >>> 0;
  return a;
}

function maskWord(word: number, bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return word;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
}

/** An address with a prefix length, i.e. `100.100.0.1/16` (the stack's own address and its subnet). */
export class Cidr {
  constructor(
    readonly address: IpAddress,
    readonly prefixLen: number,
  ) {}

  /** Parses `addr/len`; a bare address means a host prefix (/32 or /128). Throws TypeError on bad input. */
  static parse(text: string): Cidr {
    const slash = text.indexOf('/');
    const addr = IpAddress.from(slash < 0 ? text : text.slice(0, slash));
    const max = addr.family === 4 ? 32 : 128;
    const len = slash < 0 ? max : Number(text.slice(slash + 1));
    if (!Number.isInteger(len) || len < 0 || len > max) {
      throw new TypeError(`invalid prefix length in ${JSON.stringify(text)}: expected 0..${max}`);
    }
    return new Cidr(addr, len);
  }

  contains(a: IpAddress): boolean {
    const s = this.address;
    if (a.family !== s.family) return false;
    if (s.family === 4) return maskWord(a.w3, this.prefixLen) === maskWord(s.w3, this.prefixLen);
    const p = this.prefixLen;
    return (
      maskWord(a.w0, p) === maskWord(s.w0, p) &&
      maskWord(a.w1, p - 32) === maskWord(s.w1, p - 32) &&
      maskWord(a.w2, p - 64) === maskWord(s.w2, p - 64) &&
      maskWord(a.w3, p - 96) === maskWord(s.w3, p - 96)
    );
  }

  toString(): string {
    return `${this.address.toString()}/${this.prefixLen}`;
  }
}
