// SPDX-License-Identifier: Apache-2.0
// The login throttle kept in the database (table identity_login_failures), so that replicas on one
// PostgreSQL share the counts: an attacker spreading attempts over N replicas still gets the limit once.
// Same fixed-window semantics as FailureWindow; one upsert per failure, one indexed read per check.
// Concurrent failures may race on the window reset; the count is then off by a few, never unbounded.
import type { Kysely } from 'kysely';
import {
  combineVerdicts,
  type LoginRateLimitOptions,
  type LoginThrottle,
  resolveLoginRateLimit,
  type ThrottleVerdict,
} from './rate-limit.js';
import type { IdentityTables } from './schema.js';

const USER_KEY_PREFIX = 'u:';
const ADDRESS_KEY_PREFIX = 'a:';

export class DatabaseLoginThrottle implements LoginThrottle {
  readonly #db: Kysely<IdentityTables>;
  readonly #perUser: number;
  readonly #perAddress: number;
  readonly #windowMs: number;

  constructor(db: Kysely<IdentityTables>, opts: LoginRateLimitOptions = {}) {
    const o = resolveLoginRateLimit(opts);
    this.#db = db;
    this.#perUser = o.perUser;
    this.#perAddress = o.perAddress;
    this.#windowMs = o.windowSeconds * 1000;
  }

  async check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict> {
    const userKey = USER_KEY_PREFIX + username;
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
    return combineVerdicts(verdictOf(userKey, this.#perUser), verdictOf(addressKey, this.#perAddress));
  }

  async recordFailure(username: string, address: string, nowMs: number): Promise<void> {
    const nowIso = new Date(nowMs).toISOString();
    // A window that started at or before this instant has ended (FailureWindow: nowMs >= startedAt + windowMs).
    const endedIso = new Date(nowMs - this.#windowMs).toISOString();
    for (const key of [USER_KEY_PREFIX + username, ADDRESS_KEY_PREFIX + address]) {
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
              window_started_at: eb
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

  async recordSuccess(username: string): Promise<void> {
    await this.#db
      .deleteFrom('identity_login_failures')
      .where('key', '=', USER_KEY_PREFIX + username)
      .execute();
  }

  async purge(nowMs: number): Promise<void> {
    const endedIso = new Date(nowMs - this.#windowMs).toISOString();
    await this.#db.deleteFrom('identity_login_failures').where('window_started_at', '<=', endedIso).execute();
  }
}
