// SPDX-License-Identifier: Apache-2.0
// Little-endian field access for the four message types (section 5.4). Callers check the datagram's
// length against the MESSAGE_*_SIZE constants first; after that these reads cannot go out of bounds.
// No DataView is created per packet: fields are assembled from bytes.
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TRANSPORT_TYPE,
} from './constants.js';

export type MessageKind = 'initiation' | 'response' | 'cookie-reply' | 'transport';

/**
 * Classifies a datagram by its first 4 bytes (type + three reserved zero bytes) and exact/minimum
 * size; undefined means malformed. The reserved bytes must be zero, as wireguard-go reads the whole
 * little-endian u32 as the type.
 */
export function classify(data: Uint8Array): MessageKind | undefined {
  const n = data.length;
  if (n < 4) return undefined;
  switch (readU32(data, 0)) {
    case MESSAGE_TRANSPORT_TYPE:
      return n >= MESSAGE_TRANSPORT_MIN_SIZE ? 'transport' : undefined;
    case MESSAGE_INITIATION_TYPE:
      return n === MESSAGE_INITIATION_SIZE ? 'initiation' : undefined;
    case MESSAGE_RESPONSE_TYPE:
      return n === MESSAGE_RESPONSE_SIZE ? 'response' : undefined;
    case MESSAGE_COOKIE_REPLY_TYPE:
      return n === MESSAGE_COOKIE_REPLY_SIZE ? 'cookie-reply' : undefined;
    default:
      return undefined;
  }
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Reads a u64 LE counter as a double; values above 2^53 come back as Infinity (never valid for us). */
export function readCounter(b: Uint8Array, off: number): number {
  const lo = readU32(b, off);
  const hi = readU32(b, off + 4);
  if (hi >= 0x200000) return Number.POSITIVE_INFINITY; // hi >= 2^21: the value is at least 2^53
  return hi * 0x100000000 + lo;
}

/** Writes a counter (an integer below 2^53) as u64 LE. */
export function writeCounter(b: Uint8Array, off: number, v: number): void {
  const lo = v % 0x100000000;
  writeU32(b, off, lo);
  writeU32(b, off + 4, (v - lo) / 0x100000000);
}

/** Big-endian u16 of an IP header field. */
export function readU16BE(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
