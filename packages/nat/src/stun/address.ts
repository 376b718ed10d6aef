// SPDX-License-Identifier: Apache-2.0
// IP literals <-> bytes for the address attributes. Never throws: a text that is not an IP literal gives
// undefined. IPv4-mapped IPv6 (`::ffff:198.51.100.7`, what a dual-stack socket reports) is written as IPv4.
import { isIPv4, isIPv6 } from 'node:net';

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** 4 bytes for IPv4 (also IPv4-mapped IPv6), 16 for IPv6; undefined if `text` is no IP literal. */
export function parseAddress(text: string): Uint8Array | undefined {
  const mapped = IPV4_MAPPED.exec(text);
  if (mapped) text = mapped[1];
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let s = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) is the last two 16-bit words.
    const b = v4[1].split('.').map(Number);
    s = `${s.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const hs = head ? head.split(':').map((h) => Number.parseInt(h, 16)) : [];
  const rs = rest ? rest.split(':').map((h) => Number.parseInt(h, 16)) : [];
  const words = rest === undefined ? hs : [...hs, ...new Array(8 - hs.length - rs.length).fill(0), ...rs];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >>> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/** Dotted IPv4 or RFC 5952 IPv6 (longest zero run compressed). */
export function formatAddress(ip: Uint8Array): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((ip[i] << 8) | ip[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
