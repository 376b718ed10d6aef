// SPDX-License-Identifier: Apache-2.0
// Login throttling, two keys per attempt:
// - account + source address: exponential backoff. The first `perAccountSource` failures are free; after
//   that each failure doubles the wait before the next attempt (1 s, 2 s, 4 s, ... up to half the window;
//   a key quiet for a whole window is forgotten, so the longest wait must be shorter than that). An
//   attacker guessing one account from one address slows down exponentially, while the owner logging in
//   from anywhere else is never locked out (an account-wide lock would let anyone lock out anyone).
// - source address: a fixed window that opens at its first failure (one address spraying many accounts).
// A refused attempt is refused before the password is checked, so it learns nothing. The caller passes
// the time.
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

/** First wait of the backoff after the free failures; it doubles with each further failure. */
export const BACKOFF_BASE_MS = 1000;

/**
 * The backoff verdict for an account+source key with `failures` so far, the last at `lastFailureMs`:
 * free below `free`, then a wait of BACKOFF_BASE_MS * 2^(failures - free), at most `maxMs`.
 */
export function backoffVerdict(
  failures: number,
  lastFailureMs: number,
  nowMs: number,
  free: number,
  maxMs: number,
): ThrottleVerdict {
  if (failures < free) return { allowed: true };
  const exponent = Math.min(failures - free, 30);
  const wait = Math.min(maxMs, BACKOFF_BASE_MS * 2 ** exponent);
  const endsAt = lastFailureMs + wait;
  if (nowMs >= endsAt) return { allowed: true };
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((endsAt - nowMs) / 1000)) };
}

interface BackoffEntry {
  failures: number;
  lastFailureAt: number;
}

/** Failures per account+source in this process: bounded like FailureWindow, forgotten after `forgetMs` quiet. */
export class BackoffTable {
  readonly #entries = new Map<string, BackoffEntry>();
  readonly #free: number;
  readonly #forgetMs: number;
  readonly #maxKeys: number;

  constructor(opts: { free: number; forgetMs: number; maxKeys?: number }) {
    this.#free = opts.free;
    this.#forgetMs = opts.forgetMs;
    this.#maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  check(key: string, nowMs: number): ThrottleVerdict {
    const e = this.#entries.get(key);
    if (!e) return { allowed: true };
    if (nowMs >= e.lastFailureAt + this.#forgetMs) {
      this.#entries.delete(key);
      return { allowed: true };
    }
    return backoffVerdict(e.failures, e.lastFailureAt, nowMs, this.#free, this.#forgetMs / 2);
  }

  recordFailure(key: string, nowMs: number): void {
    const e = this.#entries.get(key);
    if (e && nowMs < e.lastFailureAt + this.#forgetMs) {
      e.failures++;
      e.lastFailureAt = nowMs;
      return;
    }
    if (e) this.#entries.delete(key);
    if (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { failures: 1, lastFailureAt: nowMs });
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }
}

/** The account+source key: usernames cannot hold `|` (USERNAME_PATTERN), so the split is unambiguous. */
export function accountSourceKey(username: string, address: string): string {
  return `${username}|${address}`;
}

export interface LoginRateLimitOptions {
  /** Free failed logins per account and source address before the exponential backoff (default 5). */
  perAccountSource?: number;
  /** Failed logins per source address per window before 429 (default 30). */
  perAddress?: number;
  /** Address window length in seconds; twice the longest backoff wait (default 300). */
  windowSeconds?: number;
}

export const DEFAULT_LOGIN_RATE_LIMIT: Required<LoginRateLimitOptions> = {
  perAccountSource: 5,
  perAddress: 30,
  windowSeconds: 300,
};

/**
 * The login throttle every password check goes through: per account+source backoff and per-address windows. Two
 * implementations share one conformance suite: MemoryLoginThrottle (one process) and DatabaseLoginThrottle
 * (rate-limit-db.ts; the default, so replicas on one PostgreSQL share the counts).
 */
export interface LoginThrottle {
  /** Refused when the account+source is backing off or the address is over its limit; the longer wait. */
  check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict>;
  /** Call after a failed password check. */
  recordFailure(username: string, address: string, nowMs: number): Promise<void>;
  /** Call after a successful login: the account+source failures are forgiven, the address's are not. */
  recordSuccess(username: string, address: string): Promise<void>;
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

/** In-process throttle: a bounded BackoffTable and a bounded FailureWindow map. */
export class MemoryLoginThrottle implements LoginThrottle {
  readonly #byAccountSource: BackoffTable;
  readonly #byAddress: FailureWindow;

  constructor(opts: LoginRateLimitOptions = {}) {
    const o = resolveLoginRateLimit(opts);
    const windowMs = o.windowSeconds * 1000;
    this.#byAccountSource = new BackoffTable({ free: o.perAccountSource, forgetMs: windowMs });
    this.#byAddress = new FailureWindow({ maxFailures: o.perAddress, windowMs });
  }

  async check(username: string, address: string, nowMs: number): Promise<ThrottleVerdict> {
    return combineVerdicts(
      this.#byAccountSource.check(accountSourceKey(username, address), nowMs),
      this.#byAddress.check(address, nowMs),
    );
  }

  async recordFailure(username: string, address: string, nowMs: number): Promise<void> {
    this.#byAccountSource.recordFailure(accountSourceKey(username, address), nowMs);
    this.#byAddress.recordFailure(address, nowMs);
  }

  async recordSuccess(username: string, address: string): Promise<void> {
    this.#byAccountSource.reset(accountSourceKey(username, address));
  }

  async purge(): Promise<void> {
    // FailureWindow forgets ended windows on access and evicts when full; nothing to do.
  }
}
