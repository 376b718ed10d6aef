// SPDX-License-Identifier: Apache-2.0
// RFC 8628 device authorization grant. Read §3.2 (the authorization response), §3.5 (polling errors,
// slow_down adds 5 s to the interval for all later requests) and §6.1 (user code entropy and alphabet).
// State lives in one column, `status`: pending -> approved | denied (the user decides on the
// verification page) -> consumed (the device fetched its tokens once).
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from './constraint-errors.js';
import { OAuthError } from './errors.js';
import type { DeviceGrantStatus, IdentityTables } from './schema.js';
import { sha256Hex } from './tokens.js';

/** RFC 8628 §6.1: base-20 consonants avoid vowels (no accidental words) and look-alike characters. */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** 8 characters of base 20 = 34.5 bits, with the form's login throttle far beyond guessing range. */
export const USER_CODE_LENGTH = 8;
export const DEFAULT_DEVICE_CODE_TTL_SECONDS = 600;
export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
const SLOW_DOWN_STEP_SECONDS = 5;
const DEVICE_CODE_PREFIX = 'nxdc_';
const DEVICE_CODE_BYTES = 32;
/** Retries when a fresh user code collides with a live one (unique column). */
const USER_CODE_ATTEMPTS = 5;
/** Largest multiple of 20 below 256: bytes at or above it are rejected so every letter is equally likely. */
const UNBIASED_BYTE_LIMIT = 240;

export interface DeviceAuthorization {
  device_code: string;
  /** formatted for people, i.e. `BCDF-GHJK` */
  user_code: string;
  expires_in: number;
  interval: number;
}

export type DecideResult = 'approved' | 'denied' | 'not-found' | 'expired' | 'already-decided';

/** A random user code without the dash. */
function randomUserCode(): string {
  let out = '';
  while (out.length < USER_CODE_LENGTH) {
    for (const b of randomBytes(USER_CODE_LENGTH * 2)) {
      if (b < UNBIASED_BYTE_LIMIT && out.length < USER_CODE_LENGTH) out += USER_CODE_ALPHABET[b % 20];
    }
  }
  return out;
}

/** `BCDFGHJK` -> `BCDF-GHJK` */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * What a person typed -> the stored form, or undefined when it cannot be a user code. Case and
 * separators are ignored (RFC 8628 §6.1 recommends it), so `bcdf ghjk` works.
 */
export function normalizeUserCode(typed: string): string | undefined {
  const code = typed.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== USER_CODE_LENGTH) return undefined;
  for (const ch of code) if (!USER_CODE_ALPHABET.includes(ch)) return undefined;
  return code;
}

export class DeviceGrants {
  readonly #db: Kysely<IdentityTables>;
  readonly #now: () => Date;
  readonly ttlSeconds: number;
  readonly intervalSeconds: number;

  constructor(
    db: Kysely<IdentityTables>,
    now: () => Date,
    opts: { ttlSeconds?: number; intervalSeconds?: number } = {},
  ) {
    this.#db = db;
    this.#now = now;
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_DEVICE_CODE_TTL_SECONDS;
    this.intervalSeconds = opts.intervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS;
  }

  /** RFC 8628 §3.1/3.2: a new pending authorization. */
  async start(clientId: string, scope: string): Promise<DeviceAuthorization> {
    const deviceCode = DEVICE_CODE_PREFIX + randomBytes(DEVICE_CODE_BYTES).toString('base64url');
    const now = this.#now();
    for (let attempt = 1; ; attempt++) {
      const userCode = randomUserCode();
      try {
        await this.#db
          .insertInto('identity_device_grants')
          .values({
            id: randomUUID(),
            device_code_hash: sha256Hex(deviceCode),
            user_code: userCode,
            client_id: clientId,
            scope,
            status: 'pending' satisfies DeviceGrantStatus,
            user_id: null,
            poll_interval_seconds: this.intervalSeconds,
            last_polled_at: null,
            created_at: now.toISOString(),
            expires_at: new Date(now.getTime() + this.ttlSeconds * 1000).toISOString(),
            decided_at: null,
          })
          .execute();
        return {
          device_code: deviceCode,
          user_code: formatUserCode(userCode),
          expires_in: this.ttlSeconds,
          interval: this.intervalSeconds,
        };
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= USER_CODE_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * RFC 8628 §3.4/3.5: one poll of the token endpoint. Returns the approving user once; otherwise throws
   * OAuthError authorization_pending, slow_down, expired_token, access_denied or invalid_grant.
   */
  async poll(deviceCode: string, clientId: string): Promise<{ userId: string; scope: string }> {
    const now = this.#now();
    const nowIso = now.toISOString();
    const row = await this.#db
      .selectFrom('identity_device_grants')
      .selectAll()
      .where('device_code_hash', '=', sha256Hex(deviceCode))
      .executeTakeFirst();
    if (!row)
      throw new OAuthError('invalid_grant', 'the device_code is not valid; start a new device authorization');
    if (row.client_id !== clientId) {
      throw new OAuthError('invalid_grant', 'the device_code was issued to another client_id');
    }
    const status = row.status as DeviceGrantStatus;
    if (status === 'consumed') {
      throw new OAuthError(
        'invalid_grant',
        'the device_code was already exchanged for tokens; start a new login',
      );
    }
    if (row.expires_at <= nowIso) {
      throw new OAuthError('expired_token', 'the device_code has expired; start a new device authorization');
    }
    switch (status) {
      case 'denied':
        throw new OAuthError('access_denied', 'the user denied the authorization request');
      case 'approved': {
        const upd = await this.#db
          .updateTable('identity_device_grants')
          .set({ status: 'consumed' satisfies DeviceGrantStatus, last_polled_at: nowIso })
          .where('id', '=', row.id)
          .where('status', '=', 'approved' satisfies DeviceGrantStatus)
          .executeTakeFirst();
        // Two concurrent polls: only one gets the tokens.
        if (Number(upd.numUpdatedRows) !== 1 || row.user_id === null) {
          throw new OAuthError(
            'invalid_grant',
            'the device_code was already exchanged for tokens; start a new login',
          );
        }
        return { userId: row.user_id, scope: row.scope };
      }
      case 'pending': {
        const interval = Number(row.poll_interval_seconds);
        const last = row.last_polled_at === null ? undefined : Date.parse(row.last_polled_at);
        const tooFast = last !== undefined && now.getTime() - last < interval * 1000;
        await this.#db
          .updateTable('identity_device_grants')
          .set({
            last_polled_at: nowIso,
            poll_interval_seconds: tooFast ? interval + SLOW_DOWN_STEP_SECONDS : interval,
          })
          .where('id', '=', row.id)
          .execute();
        if (tooFast) {
          throw new OAuthError(
            'slow_down',
            `polling faster than every ${interval} s; wait ${interval + SLOW_DOWN_STEP_SECONDS} s between requests from now on`,
          );
        }
        throw new OAuthError(
          'authorization_pending',
          'the user has not approved the request yet; keep polling',
        );
      }
      default: {
        const never: never = status;
        throw new OAuthError(
          'invalid_grant',
          `device authorization in unknown state ${JSON.stringify(never)}`,
        );
      }
    }
  }

  /** The user's decision from the verification page, for a normalized user code. */
  async decide(userCode: string, userId: string, approve: boolean): Promise<DecideResult> {
    const nowIso = this.#now().toISOString();
    const next: DeviceGrantStatus = approve ? 'approved' : 'denied';
    const upd = await this.#db
      .updateTable('identity_device_grants')
      .set({ status: next, user_id: userId, decided_at: nowIso })
      .where('user_code', '=', userCode)
      .where('status', '=', 'pending' satisfies DeviceGrantStatus)
      .where('expires_at', '>', nowIso)
      .executeTakeFirst();
    if (Number(upd.numUpdatedRows) === 1) return next;
    const row = await this.#db
      .selectFrom('identity_device_grants')
      .select(['status', 'expires_at'])
      .where('user_code', '=', userCode)
      .executeTakeFirst();
    if (!row) return 'not-found';
    if (row.status !== 'pending') return 'already-decided';
    return 'expired';
  }

  /** Deletes requests that expired before `beforeIso` (housekeeping; frees their user codes). */
  async purgeExpired(beforeIso: string): Promise<void> {
    await this.#db.deleteFrom('identity_device_grants').where('expires_at', '<', beforeIso).execute();
  }
}
