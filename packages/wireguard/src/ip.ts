// SPDX-License-Identifier: Apache-2.0
// IP address and CIDR text <-> bytes, for allowed-IPs configuration, status output and cookie source
// addresses. Configuration-time code: it allocates freely and reports errors as undefined.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  /** 4 or 6. */
  family: 4 | 6;
  /** Network address with host bits cleared, i.e. 10.0.0.0 for "10.0.0.7/24" (4 or 16 bytes). */
  bytes: Uint8Array;
  /** Prefix length, i.e. 24. */
  prefix: number;
}

/** Bytes of an IPv4 or IPv6 literal (IPv6 without brackets or zone), or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    // embedded IPv4, i.e. ::ffff:192.0.2.1 -> ::ffff:c000:201 (isIPv6 already validated the quad)
    const v4 = last.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = s.split('::');
  const head = halves[0] ? halves[0].split(':').map((h) => parseInt(h, 16)) : [];
  const rest = halves.length > 1 && halves[1] ? halves[1].split(':').map((h) => parseInt(h, 16)) : [];
  const zeros = halves.length > 1 ? 8 - head.length - rest.length : 0;
  if (zeros < 0) return undefined;
  const words = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  if (words.length !== 8 || words.some((w) => !(w >= 0 && w <= 0xffff))) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/** Text form of 4 or 16 address bytes; IPv6 in RFC 5952 canonical form. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952 section 4.2: compress the longest run (first if tied) of two or more zero groups.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses "address/prefix" (a bare address means a host route), clearing host bits as `wg` does. */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { family: bytes.length === 4 ? 4 : 6, bytes, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefix}`;
}
