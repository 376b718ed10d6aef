// SPDX-License-Identifier: Apache-2.0
// Internet checksum (RFC 1071) and the transport pseudo-headers (RFC 768, RFC 9293 3.1, RFC 8200 8.1).
// Sums are kept unfolded in a JS number (max 64 KiB of 16-bit words stays far below 2^53) and folded once.
import type { IpAddress } from './ip-address.js';

/** Whether this machine stores numbers little-endian (x86, arm64): then sumBytes reads 32-bit words. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this many bytes a Uint32Array view costs more than it saves. */
const WORDS_FROM = 64;

/**
 * A Uint32Array over a whole ArrayBuffer, kept for the last buffer asked about: packets are sent from
 * and received into a few long-lived buffers, and a view per call was garbage per packet.
 */
let wordsBuffer: ArrayBufferLike | undefined;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
function wordsOf(buffer: ArrayBufferLike): Uint32Array {
  // A resizable buffer may have changed size since the view was made.
  if (buffer !== wordsBuffer || words.length !== buffer.byteLength >>> 2) {
    wordsBuffer = buffer;
    words = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return words;
}

/** Adds the big-endian 16-bit words of buf[start, end) to acc. An odd trailing byte is padded with zero. */
export function sumBytes(buf: Uint8Array, start: number, end: number, acc: number): number {
  const at = buf.byteOffset + start;
  if (LITTLE_ENDIAN && end - start >= WORDS_FROM && end <= buf.length && (at & 3) === 0) {
    // RFC 1071 2(B): the one's-complement sum does not depend on byte order, so sum native 32-bit words
    // (twice as fast as pairs of bytes) and swap the folded 16-bit result into network order. A JS
    // number holds the sum of up to 2^21 words exactly.
    const n = (end - start) >>> 2;
    const w = wordsOf(buf.buffer);
    let s0 = 0;
    let s1 = 0;
    let k = at >>> 2;
    const stop = k + n;
    if (stop > w.length) return sumBytePairs(buf, start, end, acc);
    for (; k + 3 < stop; k += 4) {
      s0 += w[k] + w[k + 1];
      s1 += w[k + 2] + w[k + 3];
    }
    for (; k < stop; k++) s0 += w[k];
    const s = fold(s0 + s1);
    acc += ((s & 0xff) << 8) | (s >>> 8);
    start += n << 2;
  }
  return sumBytePairs(buf, start, end, acc);
}

function sumBytePairs(buf: Uint8Array, start: number, end: number, acc: number): number {
  let i = start;
  // Unrolled by 16 bytes: the checksum is the hottest loop of the data path. Partial sums stay < 2^31.
  const last16 = end - 15;
  while (i < last16) {
    acc +=
      ((buf[i] << 8) | buf[i + 1]) +
      ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) +
      ((buf[i + 6] << 8) | buf[i + 7]) +
      ((buf[i + 8] << 8) | buf[i + 9]) +
      ((buf[i + 10] << 8) | buf[i + 11]) +
      ((buf[i + 12] << 8) | buf[i + 13]) +
      ((buf[i + 14] << 8) | buf[i + 15]);
    i += 16;
  }
  const last = end - 1;
  for (; i < last; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

/** Folds a running sum into 16 bits (end-around carry). */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  return acc;
}

/** The final one's-complement checksum of a running sum; 0 when the data (with its checksum field) verifies. */
export function finish(acc: number): number {
  return ~fold(acc) & 0xffff;
}

/** Checksum of buf[start, end) alone (IPv4 header, ICMPv4). */
export function checksum(buf: Uint8Array, start: number, end: number): number {
  return finish(sumBytes(buf, start, end, 0));
}

/** Pseudo-header sum for TCP/UDP/ICMPv6: v4 is src, dst, zero, protocol, length; v6 adds 32-bit length. */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
  let acc = 0;
  if (src.family === 4) {
    acc += (src.w3 >>> 16) + (src.w3 & 0xffff) + (dst.w3 >>> 16) + (dst.w3 & 0xffff);
  } else {
    acc += (src.w0 >>> 16) + (src.w0 & 0xffff) + (src.w1 >>> 16) + (src.w1 & 0xffff);
    acc += (src.w2 >>> 16) + (src.w2 & 0xffff) + (src.w3 >>> 16) + (src.w3 & 0xffff);
    acc += (dst.w0 >>> 16) + (dst.w0 & 0xffff) + (dst.w1 >>> 16) + (dst.w1 & 0xffff);
    acc += (dst.w2 >>> 16) + (dst.w2 & 0xffff) + (dst.w3 >>> 16) + (dst.w3 & 0xffff);
  }
  return acc + protocol + (length >>> 16) + (length & 0xffff);
}
