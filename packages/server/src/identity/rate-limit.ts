// SPDX-License-Identifier: Apache-2.0
// Login throttling: failed attempts counted per key in a fixed window that opens at the first failure.
// Once a key reaches its limit every attempt is refused (before the password is even checked, so a
// locked-out attacker learns nothing) until the window ends. The caller passes the time.
// FailureWindow/MemoryLoginThrottle keep the counts in this process; rate-limit-db.ts keeps them in the
// database so that several replicas enforce one limit.

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Window {
  /** ms epoch of the first failure of this window */
  startedAt: number;
  failures: number;
}

/** Default bound on tracked keys, so a flood of distinct usernames/addresses cannot grow memory. */
const DEFAULT_MAX_KEYS = 100_000;

export class FailureWindow {
  readonly #windows = new Map<string, Window>();
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;

  constructor(opts: { maxFailures: number; windowMs: number; maxKeys?: number }) {
    if (!(opts.maxFailures >= 1) || !(opts.windowMs > 0)) {
      throw new RangeError(
        `rate limit needs maxFailures >= 1 and windowMs > 0, got ${opts.maxFailures}/${opts.windowMs}`,
      );
    }
    this.#maxFailures = opts.maxFailures;
    this.#windowMs = opts.windowMs;
    this.#maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Whether `key` may attempt a login at `nowMs`. */
  check(key: string, nowMs: number): ThrottleVerdict {
    const w = this.#windows.get(key);
    if (!w) return { allowed: true };
    const endsAt = w.startedAt + this.#windowMs;
    if (nowMs >= endsAt) {
      this.#windows.delete(key);
      return { allowed: true };
    }
    if (w.failures < this.#maxFailures) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((endsAt - nowMs) / 1000)) };
  }

  /** Call after a failed attempt by `key`. */
  recordFailure(key: string, nowMs: number): void {
    const w = this.#windows.get(key);
    if (w && nowMs < w.startedAt + this.#windowMs) {
      w.failures++;
      return;
    }
    if (w) this.#windows.delete(key);
    if (this.#windows.size >= this.#maxKeys) this.#evict(nowMs);
    this.#windows.set(key, { startedAt: nowMs, failures: 1 });
  }

  /** Call after a successful login by `key` (clears its failures). */
  reset(key: string): void {
    this.#windows.delete(key);
  }

  /** Number of tracked keys (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  /** Drops expired windows; if all are live, the oldest (Map order = insertion order) goes. */
  #evict(nowMs: number): void {
    for (const [k, w] of this.#windows) {
      if (nowMs >= w.startedAt + this.#windowMs) this.#windows.delete(k);
    }
    while (this.#windows.size >= this.#maxKeys) {
      const oldest = this.#windows.keys().next();
      if (oldest.done) break;
      this.#windows.delete(oldest.value);
    }
  }
}

export interface LoginRateLimitOptions {
  /** Failed logins per username per window before 429 (default 10). */
  perUser?: number;
  /** Failed logins per source address per window before 429 (default 30). */
  perAddress?: number;
  /** Window length in seconds (default 300). */
  windowSeconds?: number;
}

export const DEFAULT_LOGIN_RATE_LIMIT: Required<LoginRateLimitOptions> = {
  perUser: 10,
  perAddress: 30,
  windowSeconds: 300,
};

/**
 * The login throttle every password check goes through: per-username and per-address windows. Two
 * implementations share one conformance suite: MemoryLoginThrottle (one process) and DatabaseLoginThrottle
 * (rate-limit-db.ts; the default, so replicas on one PostgreSQL share the counts).
 */
export interface LoginThrottle {
  /** Refused when either the username or the address is over its limit; reports the longer wait. */
  check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict>;
  /** Call after a failed password check. */
  recordFailure(username: string, address: string, nowMs: number): Promise<void>;
  /** Call after a successful login: the user's failures are forgiven, the address's are not. */
  recordSuccess(username: string): Promise<void>;
  /** Forgets windows that have ended (housekeeping). */
  purge(nowMs: number): Promise<void>;
}

/** Options with defaults filled in and checked; throws RangeError on nonsense. */
export function resolveLoginRateLimit(opts: LoginRateLimitOptions = {}): Required<LoginRateLimitOptions> {
  const o = { ...DEFAULT_LOGIN_RATE_LIMIT, ...opts };
  for (const [name, v] of Object.entries(o)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`loginRateLimit.${name} must be a positive integer, got ${v}`);
  }
  return o;
}

/** The longer of two verdicts' waits, or allowed when both allow. */
export function combineVerdicts(a: ThrottleVerdict, b: ThrottleVerdict): ThrottleVerdict {
  if (a.allowed && b.allowed) return { allowed: true };
  const wait = Math.max(a.allowed ? 0 : a.retryAfterSeconds, b.allowed ? 0 : b.retryAfterSeconds);
  return { allowed: false, retryAfterSeconds: wait };
}

/** In-process throttle: two bounded FailureWindow maps. */
export class MemoryLoginThrottle implements LoginThrottle {
  readonly #byUser: FailureWindow;
  readonly #byAddress: FailureWindow;

  constructor(opts: LoginRateLimitOptions = {}) {
    const o = resolveLoginRateLimit(opts);
    const windowMs = o.windowSeconds * 1000;
    this.#byUser = new FailureWindow({ maxFailures: o.perUser, windowMs });
    this.#byAddress = new FailureWindow({ maxFailures: o.perAddress, windowMs });
  }

  async check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict> {
    return combineVerdicts(this.#byUser.check(username, nowMs), this.#byAddress.check(address, nowMs));
  }

  async recordFailure(username: string, address: string, nowMs: number): Promise<void> {
    this.#byUser.recordFailure(username, nowMs);
    this.#byAddress.recordFailure(address, nowMs);
  }

  async recordSuccess(username: string): Promise<void> {
    this.#byUser.reset(username);
  }

  async purge(): Promise<void> {
    // FailureWindow forgets ended windows on access and evicts when full; nothing to do.
  }
}
