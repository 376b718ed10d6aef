// SPDX-License-Identifier: Apache-2.0
// Password hashing with scrypt (RFC 7914) from node:crypto: a per-user random salt, the cost parameters
// stored with the hash (so they can be raised later without breaking old hashes), timing-safe compare.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two, i.e. 32768. */
  N: number;
  /** Block size, i.e. 8. */
  r: number;
  /** Parallelism, i.e. 1. */
  p: number;
}

/** 2^15 / 8 / 1: 32 MiB and ~0.1 s per hash on this class of machine (measured 108 ms). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const SCHEME = 'scrypt';
/** Upper bounds accepted when reading a stored hash, so a tampered row cannot ask for gigabytes. */
const MAX_N = 2 ** 20;
/** Below this a new hash would be too cheap to matter (tests use 2^10). */
const MIN_N = 2 ** 10;
const MAX_R = 32;
const MAX_P = 16;

/** scrypt needs 128 * N * r bytes; node's default maxmem (32 MiB) is exactly N=2^15,r=8, so allow headroom. */
function maxmemFor(p: ScryptParams): number {
  return 128 * p.N * p.r * 2;
}

function scryptAsync(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // NFC so that the same visible password typed on different systems hashes the same.
    scrypt(
      password.normalize('NFC'),
      salt,
      HASH_BYTES,
      { N: params.N, r: params.r, p: params.p, maxmem: maxmemFor(params) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Returns `scrypt$N$r$p$<salt>$<hash>` (base64url parts). */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password, salt, params);
  return [SCHEME, params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/** Cost parameters we accept for new hashes (and, with the MAX_ bounds, when reading stored ones). */
export function validScryptParams(p: ScryptParams, minN = MIN_N): boolean {
  const { N, r, p: par } = p;
  const validN = Number.isInteger(N) && N >= minN && N <= MAX_N && (N & (N - 1)) === 0;
  return (
    validN && Number.isInteger(r) && r >= 1 && r <= MAX_R && Number.isInteger(par) && par >= 1 && par <= MAX_P
  );
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== SCHEME) return undefined;
  const params = { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) };
  // Stored hashes may use any power of two >= 2; only the upper bounds protect us from a tampered row.
  if (!validScryptParams(params, 2)) return undefined;
  const salt = Buffer.from(parts[4], 'base64url');
  const key = Buffer.from(parts[5], 'base64url');
  if (salt.length < 8 || key.length !== HASH_BYTES) return undefined;
  return { params, salt, key };
}

/** True when `password` matches `encoded`; false for a mismatch or an unreadable stored hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const key = await scryptAsync(password, parsed.salt, parsed.params);
  return timingSafeEqual(key, parsed.key);
}
