// SPDX-License-Identifier: Apache-2.0
// STUN messages (RFC 8489): just what a Binding exchange needs. Read section 5 (header), 14 (attribute
// TLVs) and 14.2 (XOR-MAPPED-ADDRESS) first. Parsing never throws: bad input gives a StunParseError
// string, so a STUN port or the WireGuard socket that shares it can be fed anything.
//
//    0                   1                   2                   3
//   |0 0|  STUN message type (14)  |       message length (16)       |
//   |                     magic cookie 0x2112A442                     |
//   |                   transaction ID (96 bits)                      |
import { crc32 } from 'node:zlib';
import { formatAddress, parseAddress } from './address.js';

// --- specification -------------------------------------------------------------------------------
/** Fixed header: type, length, magic cookie, transaction id (section 5). */
export const STUN_HEADER_SIZE = 20;
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_TRANSACTION_ID_SIZE = 12;
const OFFSET_TYPE = 0;
const OFFSET_LENGTH = 2;
const OFFSET_COOKIE = 4;
const OFFSET_TRANSACTION_ID = 8;
/** Attribute header: type (16) and value length (16); values are padded to 4 bytes (section 14). */
const ATTRIBUTE_HEADER_SIZE = 4;

/** Message types (method Binding = 0x001 with its classes, section 6 and 18.2). */
export const BINDING_REQUEST = 0x0001;
export const BINDING_SUCCESS = 0x0101;
export const BINDING_ERROR = 0x0111;

/** Attribute types (section 18.3). 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF optional. */
export const ATTR_MAPPED_ADDRESS = 0x0001;
export const ATTR_ERROR_CODE = 0x0009;
export const ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_SOFTWARE = 0x8022;
export const ATTR_FINGERPRINT = 0x8028;
const COMPREHENSION_OPTIONAL = 0x8000;
/** FINGERPRINT is CRC-32 of the message up to it, XORed with "STUN" (section 14.7). */
const FINGERPRINT_XOR = 0x5354554e;
const FINGERPRINT_SIZE = 8;

const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

// --- implementation ------------------------------------------------------------------------------
/** Longest message we parse; a Binding exchange is far below it, and a UDP datagram cannot exceed 64 KiB. */
export const STUN_MAX_MESSAGE_SIZE = 1500;
/** Attributes we look at per message; more means garbage, not a Binding. */
const MAX_ATTRIBUTES = 32;

export interface StunAttribute {
  type: number;
  /** A view into the message, without padding. */
  value: Uint8Array;
}

export interface StunMessage {
  /** i.e. BINDING_REQUEST. */
  type: number;
  /** A view into the message (12 bytes). */
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

export type StunParseError =
  | 'short'
  | 'not-stun'
  | 'bad-length'
  | 'bad-attribute'
  | 'too-many-attributes'
  | 'bad-fingerprint';

export interface TransportAddress {
  /** IP literal, IPv6 without brackets. */
  address: string;
  port: number;
}

/**
 * Whether a datagram is shaped like a STUN message: the two top bits zero, the magic cookie at bytes
 * 4-7 and a length that matches. Cheap enough for the receive path of a shared socket; a WireGuard
 * message has its type (1-4) in byte 0, three zero bytes after it, and a random index at bytes 4-7,
 * which matches the cookie once in 2^32 and then still fails the length or the parse.
 */
export function looksLikeStun(buf: Uint8Array): boolean {
  if (buf.length < STUN_HEADER_SIZE || (buf[0] & 0xc0) !== 0) return false;
  if (readU32(buf, OFFSET_COOKIE) !== STUN_MAGIC_COOKIE) return false;
  const len = readU16(buf, OFFSET_LENGTH);
  return len % 4 === 0 && len + STUN_HEADER_SIZE === buf.length;
}

/** Parses one message; attribute values are views into `buf`. A FINGERPRINT, when present, is checked. */
export function parseStun(buf: Uint8Array): StunMessage | StunParseError {
  if (buf.length < STUN_HEADER_SIZE) return 'short';
  if ((buf[0] & 0xc0) !== 0 || readU32(buf, OFFSET_COOKIE) !== STUN_MAGIC_COOKIE) return 'not-stun';
  const len = readU16(buf, OFFSET_LENGTH);
  if (len % 4 !== 0 || len + STUN_HEADER_SIZE !== buf.length || buf.length > STUN_MAX_MESSAGE_SIZE) {
    return 'bad-length';
  }
  const attributes: StunAttribute[] = [];
  let off = STUN_HEADER_SIZE;
  while (off < buf.length) {
    if (off + ATTRIBUTE_HEADER_SIZE > buf.length) return 'bad-attribute';
    const type = readU16(buf, off);
    const vlen = readU16(buf, off + 2);
    const end = off + ATTRIBUTE_HEADER_SIZE + vlen;
    if (end > buf.length) return 'bad-attribute';
    if (attributes.length === MAX_ATTRIBUTES) return 'too-many-attributes';
    if (type === ATTR_FINGERPRINT) {
      // Section 14.7: the last attribute, CRC over everything before it (with the length as sent).
      if (vlen !== 4 || end !== buf.length) return 'bad-fingerprint';
      if ((crc32(buf.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0 !== readU32(buf, off + 4)) {
        return 'bad-fingerprint';
      }
    }
    attributes.push({ type, value: buf.subarray(off + ATTRIBUTE_HEADER_SIZE, end) });
    off = end + ((4 - (vlen % 4)) % 4);
  }
  if (off !== buf.length) return 'bad-attribute';
  return {
    type: readU16(buf, OFFSET_TYPE),
    transactionId: buf.subarray(OFFSET_TRANSACTION_ID, OFFSET_TRANSACTION_ID + STUN_TRANSACTION_ID_SIZE),
    attributes,
  };
}

/** Comprehension-required attribute types a Binding request carries that we do not know (section 6.3.1). */
export function unknownRequiredAttributes(msg: StunMessage): number[] {
  const known = new Set([ATTR_MAPPED_ADDRESS, ATTR_XOR_MAPPED_ADDRESS, ATTR_ERROR_CODE]);
  return msg.attributes
    .map((a) => a.type)
    .filter((t) => t < COMPREHENSION_OPTIONAL && !known.has(t))
    .slice(0, 16);
}

/** A Binding request with FINGERPRINT (section 6.1); `transactionId` must be 12 random bytes. */
export function createBindingRequest(transactionId: Uint8Array): Uint8Array {
  return encode(BINDING_REQUEST, transactionId, []);
}

/** The success response: XOR-MAPPED-ADDRESS (and MAPPED-ADDRESS for RFC 3489 clients), SOFTWARE. */
export function createBindingSuccess(
  transactionId: Uint8Array,
  mapped: TransportAddress,
  software?: string,
): Uint8Array | undefined {
  const ip = parseAddress(mapped.address);
  if (ip === undefined || !Number.isInteger(mapped.port) || mapped.port < 0 || mapped.port > 65535)
    return undefined;
  const attrs: [number, Uint8Array][] = [
    [ATTR_XOR_MAPPED_ADDRESS, addressValue(ip, mapped.port, transactionId, true)],
    [ATTR_MAPPED_ADDRESS, addressValue(ip, mapped.port, transactionId, false)],
  ];
  if (software) attrs.push([ATTR_SOFTWARE, new TextEncoder().encode(software.slice(0, 127))]);
  return encode(BINDING_SUCCESS, transactionId, attrs);
}

/** An error response with ERROR-CODE (section 14.8), i.e. 420 with UNKNOWN-ATTRIBUTES. */
export function createBindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  unknown: number[] = [],
): Uint8Array {
  const phrase = new TextEncoder().encode(reason.slice(0, 127));
  const ec = new Uint8Array(4 + phrase.length);
  ec[2] = Math.floor(code / 100) & 0x07;
  ec[3] = code % 100;
  ec.set(phrase, 4);
  const attrs: [number, Uint8Array][] = [[ATTR_ERROR_CODE, ec]];
  if (unknown.length > 0) {
    const ua = new Uint8Array(unknown.length * 2);
    for (const [i, t] of unknown.entries()) writeU16(ua, i * 2, t);
    attrs.push([ATTR_UNKNOWN_ATTRIBUTES, ua]);
  }
  return encode(BINDING_ERROR, transactionId, attrs);
}

/** The reflexive address of a success response: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
export function mappedAddress(msg: StunMessage): TransportAddress | undefined {
  const xor = msg.attributes.find((a) => a.type === ATTR_XOR_MAPPED_ADDRESS);
  if (xor) return readAddressValue(xor.value, msg.transactionId, true);
  const plain = msg.attributes.find((a) => a.type === ATTR_MAPPED_ADDRESS);
  return plain ? readAddressValue(plain.value, msg.transactionId, false) : undefined;
}

/** The error code of an error response, i.e. 420, or undefined. */
export function errorCode(msg: StunMessage): number | undefined {
  const a = msg.attributes.find((x) => x.type === ATTR_ERROR_CODE);
  if (!a || a.value.length < 4) return undefined;
  return (a.value[2] & 0x07) * 100 + a.value[3];
}

function encode(type: number, transactionId: Uint8Array, attrs: [number, Uint8Array][]): Uint8Array {
  let size = STUN_HEADER_SIZE + FINGERPRINT_SIZE;
  for (const [, v] of attrs) size += ATTRIBUTE_HEADER_SIZE + v.length + ((4 - (v.length % 4)) % 4);
  const out = new Uint8Array(size);
  writeU16(out, OFFSET_TYPE, type);
  writeU16(out, OFFSET_LENGTH, size - STUN_HEADER_SIZE);
  writeU32(out, OFFSET_COOKIE, STUN_MAGIC_COOKIE);
  out.set(transactionId.subarray(0, STUN_TRANSACTION_ID_SIZE), OFFSET_TRANSACTION_ID);
  let off = STUN_HEADER_SIZE;
  for (const [t, v] of attrs) {
    writeU16(out, off, t);
    writeU16(out, off + 2, v.length);
    out.set(v, off + ATTRIBUTE_HEADER_SIZE);
    off += ATTRIBUTE_HEADER_SIZE + v.length + ((4 - (v.length % 4)) % 4);
  }
  writeU16(out, off, ATTR_FINGERPRINT);
  writeU16(out, off + 2, 4);
  writeU32(out, off + 4, (crc32(out.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0);
  return out;
}

/** (XOR-)MAPPED-ADDRESS value: reserved, family, port, address; XOR with the cookie (and tid for IPv6). */
function addressValue(ip: Uint8Array, port: number, tid: Uint8Array, xor: boolean): Uint8Array {
  const v = new Uint8Array(4 + ip.length);
  v[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  writeU16(v, 2, xor ? port ^ (STUN_MAGIC_COOKIE >>> 16) : port);
  v.set(ip, 4);
  if (xor) xorAddress(v.subarray(4), tid);
  return v;
}

function readAddressValue(v: Uint8Array, tid: Uint8Array, xor: boolean): TransportAddress | undefined {
  const family = v[1];
  const size = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0;
  if (size === 0 || v.length !== 4 + size) return undefined;
  const ip = Uint8Array.from(v.subarray(4));
  if (xor) xorAddress(ip, tid);
  const port = xor ? readU16(v, 2) ^ (STUN_MAGIC_COOKIE >>> 16) : readU16(v, 2);
  return { address: formatAddress(ip), port };
}

/** XOR with the magic cookie followed by the transaction id (section 14.2), in place. */
function xorAddress(ip: Uint8Array, tid: Uint8Array): void {
  const key = new Uint8Array(16);
  writeU32(key, 0, STUN_MAGIC_COOKIE);
  key.set(tid.subarray(0, STUN_TRANSACTION_ID_SIZE), 4);
  for (let i = 0; i < ip.length; i++) ip[i] ^= key[i];
}

function readU16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
