// SPDX-License-Identifier: Apache-2.0
// Keys in the form `wg genkey` / `wg pubkey` print: 32 bytes, standard base64 (44 characters).
import { KEY_SIZE } from './constants.js';
import { scalarBase } from './crypto.js';
import { WireGuardError } from './errors.js';

/** Clamps a Curve25519 scalar in place as X25519 (RFC 7748 section 5) and `wg genkey` do. */
export function clampPrivateKey(k: Uint8Array): Uint8Array {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/**
 * A new clamped private key. `random` fills a buffer with cryptographically secure bytes; by default
 * node:crypto's getRandomValues (this is an API convenience, not part of the packet core).
 */
export function generatePrivateKey(random?: (b: Uint8Array) => void): Uint8Array {
  const k = new Uint8Array(KEY_SIZE);
  if (random) random(k);
  else globalThis.crypto.getRandomValues(k);
  return clampPrivateKey(k);
}

/** The X25519 public key of `priv`; equals what `wg pubkey` prints for the same key. */
export function publicKeyFromPrivate(priv: Uint8Array): Uint8Array {
  assertKey(priv, 'private key');
  return scalarBase(priv);
}

export function encodeKey(k: Uint8Array): string {
  assertKey(k, 'key');
  return Buffer.from(k.buffer, k.byteOffset, k.length).toString('base64');
}

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Decodes a 44-character base64 key; throws WireGuardError('WG_ERR_BAD_KEY') otherwise. */
export function decodeKey(b64: string): Uint8Array {
  if (typeof b64 !== 'string' || !BASE64_KEY.test(b64.trim())) {
    throw new WireGuardError(
      'WG_ERR_BAD_KEY',
      `invalid WireGuard key: expected 44 characters of base64 encoding 32 bytes (as printed by \`wg genkey\`), got ${describe(b64)}`,
    );
  }
  return new Uint8Array(Buffer.from(b64.trim(), 'base64'));
}

function describe(v: unknown): string {
  if (typeof v !== 'string') return typeof v;
  return `${v.length} characters`;
}

function assertKey(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_SIZE) {
    throw new WireGuardError(
      'WG_ERR_BAD_KEY',
      `invalid ${what}: expected a ${KEY_SIZE}-byte Uint8Array, got ${k instanceof Uint8Array ? `${k.length} bytes` : typeof k}`,
    );
  }
}

/** Accepts a key as bytes or base64 at the API boundary. */
export function toKey(k: Uint8Array | string, what: string): Uint8Array {
  if (typeof k === 'string') return decodeKey(k);
  assertKey(k, what);
  return new Uint8Array(k);
}
