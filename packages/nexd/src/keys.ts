// SPDX-License-Identifier: Apache-2.0
// WireGuard keys: Curve25519, base64 exactly like `wg genkey` / `wg pubkey`. Where they come from, in order:
// `--private-key-file`, the files the scenario mounts from its Secret (`/private.key` + `/public.key`),
// the state store, or freshly generated (and then saved in the state store). The key arithmetic itself is
// @nexodus/wireguard's (decodeKey, encodeKey, generatePrivateKey, publicKeyFromPrivate).
import { readFile } from 'node:fs/promises';
import * as wg from '@nexodus/wireguard';
import { KeyError } from './errors.js';
import type { StateStore } from './state/store.js';

/** Curve25519 key length in bytes (RFC 7748). */
export const KEY_BYTES = 32;

export interface WireGuardKeyPair {
  /** base64 of 32 bytes, i.e. `yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=`. */
  privateKey: string;
  publicKey: string;
}

export type KeySource = 'wg-config' | 'private-key-file' | 'mounted-files' | 'state' | 'generated';

/**
 * Decodes a base64 key with @nexodus/wireguard's `decodeKey`; a bad key becomes a KeyError naming `what`
 * (the file or field it came from).
 */
export function decodeKey(text: string, what: string): Buffer {
  try {
    const key = wg.decodeKey(text);
    return Buffer.from(key.buffer, key.byteOffset, key.length);
  } catch (err) {
    if (!(err instanceof wg.WireGuardError)) throw err;
    throw new KeyError(
      `${what} is not a WireGuard key: expected 44 characters of base64 (32 bytes), as from wg genkey`,
      { cause: err },
    );
  }
}

/** X25519 public key for a private key (RFC 7748 section 6.1), by @nexodus/wireguard. */
export function derivePublicKey(privateKey: Buffer): Buffer {
  const pub = wg.publicKeyFromPrivate(privateKey);
  return Buffer.from(pub.buffer, pub.byteOffset, pub.length);
}

function keyPairOf(priv: Uint8Array): WireGuardKeyPair {
  return { privateKey: wg.encodeKey(priv), publicKey: wg.encodeKey(wg.publicKeyFromPrivate(priv)) };
}

/** A new key pair; the private key is clamped (RFC 7748 section 5) the way `wg genkey` does it. */
export function generateKeyPair(): WireGuardKeyPair {
  return keyPairOf(wg.generatePrivateKey());
}

export function keyPairFromPrivate(privateKeyText: string, what: string): WireGuardKeyPair {
  return keyPairOf(decodeKey(privateKeyText, what));
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
