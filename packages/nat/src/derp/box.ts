// SPDX-License-Identifier: Apache-2.0
// NaCl box (X25519 + XSalsa20-Poly1305, libsodium crypto_box_easy) as DERP seals its login messages:
// a 24-byte random nonce followed by the box. Opening never throws: a forged box gives undefined.
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { NONCE_SIZE } from './frames.js';

interface Sodium {
  crypto_box_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): void;
  crypto_box_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): boolean;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_box_MACBYTES: number;
}

const sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
const MAC = sodium.crypto_box_MACBYTES;

/** The Curve25519 public key of a private key (a WireGuard key pair is one). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const pub = new Uint8Array(32);
  sodium.crypto_scalarmult_base(pub, privateKey);
  return pub;
}

/** nonce || box(message) from `privateKey` to `peerPublic`. */
export function sealTo(privateKey: Uint8Array, peerPublic: Uint8Array, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(NONCE_SIZE + message.length + MAC);
  const nonce = out.subarray(0, NONCE_SIZE);
  randomFillSync(nonce);
  sodium.crypto_box_easy(out.subarray(NONCE_SIZE), message, nonce, peerPublic, privateKey);
  return out;
}

/** The message of a box sealed by `peerPublic` for `privateKey`, or undefined. */
export function openFrom(
  privateKey: Uint8Array,
  peerPublic: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < NONCE_SIZE + MAC) return undefined;
  const out = new Uint8Array(sealed.length - NONCE_SIZE - MAC);
  try {
    const ok = sodium.crypto_box_open_easy(
      out,
      sealed.subarray(NONCE_SIZE),
      sealed.subarray(0, NONCE_SIZE),
      peerPublic,
      privateKey,
    );
    return ok === false ? undefined : out;
  } catch {
    // sodium-native throws on a failed verification in some versions
    return undefined;
  }
}
