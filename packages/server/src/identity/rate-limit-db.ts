// SPDX-License-Identifier: Apache-2.0
// The login throttle kept in the database (table identity_login_failures), so that replicas on one
// PostgreSQL share the counts: an attacker spreading attempts over N replicas still gets the limit once.
// Same semantics as MemoryLoginThrottle. Address keys: a fixed window, `window_started_at` is its start.
// Account+source keys: the backoff, `window_started_at` holds the LAST failure (so purge() forgets a key
// after a quiet window). One upsert per key per failure, one indexed read per check. Concurrent failures
// may race on the reset; the count is then off by a few, never unbounded.
import type { Kysely } from 'kysely';
import {
  accountSourceKey,
  backoffVerdict,
  combineVerdicts,
  type LoginRateLimitOptions,
  type LoginThrottle,
  resolveLoginRateLimit,
  type ThrottleVerdict,
} from './rate-limit.js';
import type { IdentityTables } from './schema.js';

const ACCOUNT_SOURCE_KEY_PREFIX = 'ua:';
const ADDRESS_KEY_PREFIX = 'a:';

export class DatabaseLoginThrottle implements LoginThrottle {
  readonly #db: Kysely<IdentityTables>;
  readonly #perAccountSource: number;
  readonly #perAddress: number;
  readonly #windowMs: number;

  constructor(db: Kysely<IdentityTables>, opts: LoginRateLimitOptions = {}) {
    const o = resolveLoginRateLimit(opts);
    this.#db = db;
    this.#perAccountSource = o.perAccountSource;
    this.#perAddress = o.perAddress;
    this.#windowMs = o.windowSeconds * 1000;
  }

  async check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict> {
    const userKey = ACCOUNT_SOURCE_KEY_PREFIX + accountSourceKey(username, address);
    const addressKey = ADDRESS_KEY_PREFIX + address;
    const rows = await this.#db
      .selectFrom('identity_login_failures')
      .select(['key', 'window_started_at', 'failures'])
      .where('key', 'in', [userKey, addressKey])
      .execute();
    const verdictOf = (key: string, limit: number): ThrottleVerdict => {
      const row = rows.find((r) => r.key === key);
      if (!row) return { allowed: true };
      const endsAt = Date.parse(row.window_started_at) + this.#windowMs;
      if (nowMs >= endsAt || Number(row.failures) < limit) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((endsAt - nowMs) / 1000)) };
    };
    const row = rows.find((r) => r.key === userKey);
    const backoff =
      row && nowMs < Date.parse(row.window_started_at) + this.#windowMs
        ? backoffVerdict(
            Number(row.failures),
            Date.parse(row.window_started_at),
            nowMs,
            this.#perAccountSource,
            this.#windowMs / 2,
          )
        : ({ allowed: true } as const);
    return combineVerdicts(backoff, verdictOf(addressKey, this.#perAddress));
  }

  async recordFailure(username: string, address: string, nowMs: number): Promise<void> {
    const nowIso = new Date(nowMs).toISOString();
    // A window that started at or before this instant has ended (FailureWindow: nowMs >= startedAt + windowMs).
    const endedIso = new Date(nowMs - this.#windowMs).toISOString();
    const userKey = ACCOUNT_SOURCE_KEY_PREFIX + accountSourceKey(username, address);
    for (const key of [userKey, ADDRESS_KEY_PREFIX + address]) {
      const lastFailure = key === userKey;
      await this.#db
        .insertInto('identity_login_failures')
        .values({ key, window_started_at: nowIso, failures: 1 })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => {
            const ended = eb('identity_login_failures.window_started_at', '<=', endedIso);
            return {
              failures: eb
                .case()
                .when(ended)
                .then(eb.lit(1))
                .else(eb('identity_login_failures.failures', '+', eb.lit(1)))
                .end(),
              // The backoff counts from the last failure; the address window from its first.
              window_started_at: lastFailure
                ? eb.val(nowIso)
                : eb
                    .case()
                    .when(ended)
                    .then(nowIso)
                    .else(eb.ref('identity_login_failures.window_started_at'))
                    .end(),
            };
          }),
        )
        .execute();
    }
  }

  async recordSuccess(username: string, address: string): Promise<void> {
    await this.#db
      .deleteFrom('identity_login_failures')
      .where('key', '=', ACCOUNT_SOURCE_KEY_PREFIX + accountSourceKey(username, address))
      .execute();
  }

  async purge(nowMs: number): Promise<void> {
    const endedIso = new Date(nowMs - this.#windowMs).toISOString();
    await this.#db.deleteFrom('identity_login_failures').where('window_started_at', '<=', endedIso).execute();
  }
}
