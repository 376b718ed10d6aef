// SPDX-License-Identifier: Apache-2.0
// Cryptographic primitives of section 5.4: HASH, MAC, HMAC, KDF1..3, DH, AEAD, XAEAD.
// BLAKE2s and HMAC-BLAKE2s come from @noble/hashes (handshake only); ChaCha20-Poly1305, X25519 and
// XChaCha20-Poly1305 from sodium-native. sodium-native throws on authentication failure; the wrappers
// here turn that into a boolean so packet code never sees an exception.
// The transport AEAD (every data packet) goes through @nexodus/native where it is built: Node's own
// OpenSSL, about 6x faster than sodium-native's portable build on 1424-byte packets, and a forged
// packet costs a false, not an exception.
import { createRequire } from 'node:module';
import { loadBinding } from '@nexodus/native';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, KEY_SIZE, MAC_SIZE } from './constants.js';

/** The subset of sodium-native we use (it ships no types). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): void;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
}

export const sodium = createRequire(import.meta.url)('sodium-native') as Sodium;

const EMPTY = new Uint8Array(0);

/** HASH(input) = BLAKE2s(input, 32). */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ dkLen: KEY_SIZE });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, input) = Keyed-BLAKE2s(key, 16, input); used for mac1, mac2 and the cookie value. */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_SIZE });
}

/** HMAC(key, input) = HMAC-BLAKE2s(key, input, 32). */
export function hmacBlake2s(key: Uint8Array, input: Uint8Array): Uint8Array {
  return hmac(blake2s, key, input);
}

const ONE = Uint8Array.of(1);

/** KDF_n(key, input): HKDF with HMAC-BLAKE2s, returning n 32-byte outputs (n = 1..3). */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(t0, ONE);
  const out = [t1];
  let prev = t1;
  for (let i = 2; i <= n; i++) {
    const block = new Uint8Array(KEY_SIZE + 1);
    block.set(prev, 0);
    block[KEY_SIZE] = i;
    prev = hmacBlake2s(t0, block);
    out.push(prev);
  }
  t0.fill(0);
  return out;
}

/** DH(private, public) = X25519; returns undefined for a low-order public key (all-zero result). */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(KEY_SIZE);
  try {
    sodium.crypto_scalarmult(out, privateKey, publicKey);
  } catch {
    return undefined; // libsodium refuses an all-zero shared secret; so does the paper (section 5.4.2)
  }
  return out;
}

export function scalarBase(privateKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_SIZE);
  sodium.crypto_scalarmult_base(out, privateKey);
  return out;
}

/** Nonce of the handshake AEADs: counter 0. */
const ZERO_NONCE = new Uint8Array(AEAD_NONCE_SIZE);

/** AEAD(key, 0, plaintext, ad) into `out` (plaintext length + 16). */
export function aeadSeal(out: Uint8Array, key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): void {
  const n = plaintext.length;
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    out.subarray(0, n),
    out.subarray(n, n + AEAD_TAG_SIZE),
    plaintext,
    ad,
    null,
    ZERO_NONCE,
    key,
  );
}

/** Opens AEAD(key, 0, ., ad) of `sealed` (ciphertext + tag); returns the plaintext or undefined. */
export function aeadOpen(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  const n = sealed.length - AEAD_TAG_SIZE;
  if (n < 0) return undefined;
  const out = new Uint8Array(n);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
      out,
      null,
      sealed.subarray(0, n),
      sealed.subarray(n),
      ad.length === 0 ? EMPTY : ad,
      ZERO_NONCE,
      key,
    );
  } catch {
    return undefined;
  }
  return out;
}

function sodiumSealInPlace(key: Uint8Array, nonce: Uint8Array, buf: Uint8Array, tag: Uint8Array): void {
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, buf, null, null, nonce, key);
}

function sodiumOpenInPlace(key: Uint8Array, nonce: Uint8Array, buf: Uint8Array, tag: Uint8Array): boolean {
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf, null, buf, tag, null, nonce, key);
    return true;
  } catch {
    return false;
  }
}

const native = loadBinding().binding;

/** Which library runs the transport AEAD: 'openssl' (through @nexodus/native) or 'sodium'. */
export const transportAead: 'openssl' | 'sodium' = native ? 'openssl' : 'sodium';

/** Whether sealInPlace can fill the TCP checksum of the packet it seals (the native path only). */
export const tcpChecksumOffloadAvailable = native !== undefined;

/**
 * Transport AEAD in place: seals `buf` (the padded plaintext) and writes the tag to `tag`.
 * `nonce` is the caller's reused 12-byte buffer already holding the counter. Allocates nothing.
 * `fillTcpChecksum` (native only): first fill the TCP checksum of the IP packet in `buf`.
 */
export const sealInPlace: (
  key: Uint8Array,
  nonce: Uint8Array,
  buf: Uint8Array,
  tag: Uint8Array,
  fillTcpChecksum?: boolean,
) => void = native ? native.sealInPlace : sodiumSealInPlace;

/** Transport AEAD in place: opens `buf` with `tag`; false when authentication fails. */
export const openInPlace: (key: Uint8Array, nonce: Uint8Array, buf: Uint8Array, tag: Uint8Array) => boolean =
  native ? native.openInPlace : sodiumOpenInPlace;

/** Both implementations, for the tests that hold them to each other and the bench's raw reference. */
export const transportAeads = {
  sodium: { seal: sodiumSealInPlace, open: sodiumOpenInPlace },
  ...(native ? { openssl: { seal: native.sealInPlace, open: native.openInPlace } } : {}),
};

/** XAEAD(key, nonce, plaintext, ad) for the cookie reply. */
export function xaeadSeal(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): void {
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
}

export function xaeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < AEAD_TAG_SIZE) return undefined;
  const out = new Uint8Array(sealed.length - AEAD_TAG_SIZE);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, ad, nonce, key);
  } catch {
    return undefined;
  }
  return out;
}

/** Constant-time equality of two equal-length byte strings (MAC comparison). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
