// SPDX-License-Identifier: Apache-2.0
// Start-up against a service that is not there yet: in a pod, exiting on an unreachable service means a
// crash loop (and CrashLoopBackOff's growing delays) for what is usually a service starting a little
// later. So transient failures (no answer, 5xx, 429) are retried with a capped exponential backoff with
// full jitter, one log line per attempt; failures that retrying cannot fix (wrong password, untrusted
// certificate, an address conflict) still stop nexd at once.
import { ApiError } from '@nexodus/api';
import type { Logger } from 'pino';
import { NexdError } from '../errors.js';

export const START_RETRY_INITIAL_MS = 1000;
export const START_RETRY_MAX_MS = 30_000;

const HTTP_TOO_MANY_REQUESTS = 429;
const HTTP_SERVER_ERROR = 500;

export interface RetryOptions {
  logger: Logger;
  /** Aborting stops the retries: the pending wait ends and the call rejects with the last error. */
  signal?: AbortSignal;
  initialMs?: number;
  maxMs?: number;
  /** Injected for tests: [0, 1). */
  random?: () => number;
  /** The error of a first attempt the caller already made: the loop starts with its wait. */
  firstError?: unknown;
}

/** True for failures a later attempt may not see: no answer, a 5xx or 429 from the service. */
export function isTransient(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 8; depth++) {
    if (e instanceof NexdError) {
      if (e.code === 'NEX_ERR_SERVICE_UNREACHABLE') return true;
      // A registration that failed with a 5xx is looked at below; TLS and login failures are final.
      if (e.code !== 'NEX_ERR_REGISTRATION') return false;
    } else if (e instanceof ApiError) {
      return e.status === 0 || e.status === HTTP_TOO_MANY_REQUESTS || e.status >= HTTP_SERVER_ERROR;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The wait before retry number `attempt` (1-based): full jitter under min(max, initial * 2^(attempt-1)). */
export function retryDelayMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.floor(random() * ceiling));
}

/** Runs `fn` until it succeeds or fails with a non-transient error; logs each failed attempt. */
export async function retryTransient<T>(
  what: string,
  fn: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const initial = options.initialMs ?? START_RETRY_INITIAL_MS;
  const max = options.maxMs ?? START_RETRY_MAX_MS;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      if (attempt === 1 && options.firstError !== undefined) throw options.firstError;
      return await fn();
    } catch (err) {
      if (!isTransient(err) || options.signal?.aborted) throw err;
      const delayMs = retryDelayMs(attempt, initial, max, random);
      options.logger.warn(
        { attempt, delayMs, code: (err as { code?: string }).code, err: (err as Error).message },
        `${what}: the service is not reachable yet; retrying (nexd stays not ready meanwhile)`,
      );
      const aborted = await wait(delayMs, options.signal);
      if (aborted) throw err;
    }
  }
}

/** Resolves after `ms` with false, or at once with true when `signal` aborts first. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve(true);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
