// SPDX-License-Identifier: Apache-2.0
// WireGuard keys: Curve25519, base64 exactly like `wg genkey` / `wg pubkey`. Where they come from, in order:
// `--private-key-file`, the files the scenario mounts from its Secret (`/private.key` + `/public.key`),
// the state store, or freshly generated (and then saved in the state store).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { KeyError } from './errors.js';
import type { StateStore } from './state/store.js';

/** Curve25519 key length in bytes (RFC 7748). */
export const KEY_BYTES = 32;

interface SodiumX25519 {
  crypto_scalarmult_base(q: Buffer, n: Buffer): void;
}
// sodium-native ships no type declarations; this is the one function used here.
const sodium = createRequire(import.meta.url)('sodium-native') as SodiumX25519;

export interface WireGuardKeyPair {
  /** base64 of 32 bytes, i.e. `yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=`. */
  privateKey: string;
  publicKey: string;
}

export type KeySource = 'wg-config' | 'private-key-file' | 'mounted-files' | 'state' | 'generated';

/** Decodes a base64 key and checks its length; `what` names it in the error. */
export function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  const buf = Buffer.from(trimmed, 'base64');
  // Buffer.from ignores junk characters; re-encoding catches them.
  if (buf.length !== KEY_BYTES || buf.toString('base64') !== trimmed) {
    throw new KeyError(
      `${what} is not a WireGuard key: expected 44 characters of base64 (32 bytes), as from wg genkey`,
    );
  }
  return buf;
}

/**
 * X25519 public key for a private key (RFC 7748 section 6.1). The one place key derivation happens, so
 * that it can be swapped for the wireguard package's implementation.
 */
export function derivePublicKey(privateKey: Buffer): Buffer {
  const pub = Buffer.alloc(KEY_BYTES);
  sodium.crypto_scalarmult_base(pub, privateKey);
  return pub;
}

/** A new key pair; the private key is clamped (RFC 7748 section 5) the way `wg genkey` does it. */
export function generateKeyPair(): WireGuardKeyPair {
  const priv = randomBytes(KEY_BYTES);
  priv[0] &= 248;
  priv[31] = (priv[31] & 127) | 64;
  return { privateKey: priv.toString('base64'), publicKey: derivePublicKey(priv).toString('base64') };
}

export function keyPairFromPrivate(privateKeyText: string, what: string): WireGuardKeyPair {
  const priv = decodeKey(privateKeyText, what);
  return { privateKey: priv.toString('base64'), publicKey: derivePublicKey(priv).toString('base64') };
}

export interface KeyLocations {
  /** `--private-key-file`; when set it must exist. */
  privateKeyFile?: string | undefined;
  /** Where the scenario mounts its Secret (default `/private.key` and `/public.key`); optional files. */
  mountedPrivateKey?: string;
  mountedPublicKey?: string;
}

export const MOUNTED_PRIVATE_KEY = '/private.key';
export const MOUNTED_PUBLIC_KEY = '/public.key';

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
}

/** Finds this device's keys (see the file header for the order); generates and stores them if none exist. */
export async function loadKeys(
  store: StateStore,
  locations: KeyLocations = {},
): Promise<{ keys: WireGuardKeyPair; source: KeySource }> {
  if (locations.privateKeyFile) {
    const text = await readOptional(locations.privateKeyFile);
    if (text === undefined) {
      throw new KeyError(
        `--private-key-file ${locations.privateKeyFile} does not exist; create it with wg genkey, or drop the flag`,
      );
    }
    return { keys: keyPairFromPrivate(text, locations.privateKeyFile), source: 'private-key-file' };
  }
  const privPath = locations.mountedPrivateKey ?? MOUNTED_PRIVATE_KEY;
  const pubPath = locations.mountedPublicKey ?? MOUNTED_PUBLIC_KEY;
  const mounted = await readOptional(privPath);
  if (mounted !== undefined) {
    const keys = keyPairFromPrivate(mounted, privPath);
    const pubText = await readOptional(pubPath);
    if (pubText !== undefined) {
      const given = decodeKey(pubText, pubPath).toString('base64');
      if (given !== keys.publicKey) {
        throw new KeyError(
          `${pubPath} does not belong to ${privPath} (derived ${keys.publicKey}); regenerate it with wg pubkey < ${privPath}`,
        );
      }
    }
    return { keys, source: 'mounted-files' };
  }
  const state = await store.load();
  if (state.privateKey !== undefined) {
    const keys = keyPairFromPrivate(state.privateKey, `privateKey in ${store.location}`);
    if (state.publicKey !== undefined && state.publicKey !== keys.publicKey) {
      throw new KeyError(`publicKey in ${store.location} does not belong to its privateKey`);
    }
    return { keys, source: 'state' };
  }
  const keys = generateKeyPair();
  await store.save({ ...state, privateKey: keys.privateKey, publicKey: keys.publicKey });
  return { keys, source: 'generated' };
}
