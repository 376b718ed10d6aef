// SPDX-License-Identifier: Apache-2.0
// Opaque bearer tokens for devices and registration keys. The prefix tells auth which table to look in
// (and never looks like a JWT); the database is searched by SHA-256 hash.
import { createHash, randomBytes } from 'node:crypto';

export const DEVICE_TOKEN_PREFIX = 'nexdt_';
export const REG_KEY_TOKEN_PREFIX = 'nexrk_';
/** A site's token: reads and updates only its own site (GET/PATCH /api/sites/{id}). */
export const SITE_TOKEN_PREFIX = 'nexst_';
/** 256 bits of randomness per token. */
const TOKEN_BYTES = 32;

export function newToken(prefix: string): { token: string; hash: string } {
  const token = prefix + randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
