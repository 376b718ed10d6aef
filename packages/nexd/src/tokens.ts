// SPDX-License-Identifier: Apache-2.0
// Keeps the API tokens fresh: refreshes the access token `skewMs` before it expires (through the
// `refresh` seam, which the API client implements with the refresh_token grant), persists every new
// token set in the state store (so a restart reuses it instead of logging in again), and retries a
// failed refresh with capped exponential backoff. Time and timers are injected.
import type { Logger } from 'pino';
import type { StoredTokens } from './state/state.js';
import { type StateStore, updateState } from './state/store.js';

export type RefreshTokens = (refreshToken: string) => Promise<StoredTokens>;

export interface TokenTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TokenKeeperOptions {
  store: StateStore;
  refresh: RefreshTokens;
  logger: Logger;
  /**
   * Refresh this long before expiry (default 60 s); never later than 80 % and never earlier than 25 %
   * into the token's life.
   */
  skewMs?: number;
  /** First retry delay after a failed refresh (default TOKEN_RETRY_INITIAL_MS); doubles per failure. */
  retryInitialMs?: number;
  /** Cap of the retry delay (default TOKEN_RETRY_MAX_MS). */
  retryMaxMs?: number;
  /** Wall-clock ms (tokens carry absolute expiry times). */
  now?: () => number;
  timers?: TokenTimers;
}

export const TOKEN_REFRESH_SKEW_MS = 60_000;
export const TOKEN_RETRY_INITIAL_MS = 1_000;
export const TOKEN_RETRY_MAX_MS = 60_000;
/**
 * The longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days). Node fires a longer one after 1 ms
 * (TimeoutOverflowWarning), which for a long-lived token would refresh at once, then again, in a loop;
 * a refresh due later than this is armed at this delay instead (an early refresh is harmless).
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

const systemTimers: TokenTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
const LIFETIME_FRACTION = 0.8;
const MIN_LIFETIME_FRACTION = 0.25;

export class TokenKeeper {
  readonly #opts: TokenKeeperOptions;
  #tokens: StoredTokens | undefined;
  #timer: unknown;
  #retryMs: number;
  #stopped = false;

  constructor(options: TokenKeeperOptions) {
    this.#opts = options;
    this.#retryMs = options.retryInitialMs ?? TOKEN_RETRY_INITIAL_MS;
  }

  get #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  get #timers(): TokenTimers {
    return this.#opts.timers ?? systemTimers;
  }

  /** The current access token, if any. */
  get accessToken(): string | undefined {
    return this.#tokens?.accessToken;
  }

  get tokens(): StoredTokens | undefined {
    return this.#tokens;
  }

  /** Loads stored tokens; returns them if the access token is still valid for at least `skewMs`. */
  async load(): Promise<StoredTokens | undefined> {
    const state = await this.#opts.store.load();
    if (!state.tokens) return undefined;
    this.#tokens = state.tokens;
    const expires = state.tokens.expiresAt ? Date.parse(state.tokens.expiresAt) : undefined;
    if (expires !== undefined && expires - this.#now < (this.#opts.skewMs ?? TOKEN_REFRESH_SKEW_MS)) {
      // Too close to expiry to hand out; refresh now if we can.
      this.#schedule(0);
      return undefined;
    }
    this.#scheduleFor(state.tokens);
    return state.tokens;
  }

  /** Takes a new token set (after a login), persists it and schedules its refresh. */
  async set(tokens: StoredTokens): Promise<void> {
    this.#tokens = tokens;
    await updateState(this.#opts.store, (s) => {
      s.tokens = tokens;
    });
    this.#scheduleFor(tokens);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #scheduleFor(tokens: StoredTokens): void {
    if (!tokens.refreshToken || !tokens.expiresAt) return;
    const now = this.#now;
    const expires = Date.parse(tokens.expiresAt);
    const skew = this.#opts.skewMs ?? TOKEN_REFRESH_SKEW_MS;
    const life = expires - now;
    const byFraction = now + life * LIFETIME_FRACTION;
    // A token shorter-lived than the skew would otherwise be refreshed at once, and its successor too:
    // a refresh loop. Never refresh before a quarter of the token's life has passed.
    const earliest = now + life * MIN_LIFETIME_FRACTION;
    this.#schedule(Math.max(0, Math.max(earliest, Math.min(expires - skew, byFraction)) - now));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(
      () => {
        this.#timer = undefined;
        void this.#refreshNow();
      },
      Math.min(delayMs, MAX_TIMER_DELAY_MS),
    );
  }

  async #refreshNow(): Promise<void> {
    const refreshToken = this.#tokens?.refreshToken;
    if (!refreshToken || this.#stopped) return;
    try {
      const next = await this.#opts.refresh(refreshToken);
      if (this.#stopped) return;
      // Some servers rotate refresh tokens, some do not: keep the old one if none came back.
      const merged: StoredTokens = { ...next, ...(next.refreshToken ? {} : { refreshToken }) };
      this.#retryMs = this.#opts.retryInitialMs ?? TOKEN_RETRY_INITIAL_MS;
      await this.set(merged);
      this.#opts.logger.debug({ expiresAt: merged.expiresAt }, 'access token refreshed');
    } catch (err) {
      const delay = this.#retryMs;
      this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.retryMaxMs ?? TOKEN_RETRY_MAX_MS);
      this.#opts.logger.warn(
        { err: String(err), retryInMs: delay },
        'access token refresh failed; will retry',
      );
      this.#schedule(delay);
    }
  }
}
