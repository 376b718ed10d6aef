// SPDX-License-Identifier: Apache-2.0
// Bounds the password checks in flight. Each scrypt costs ~0.1 s of a libuv thread and 32 MiB, and the
// login endpoints are unauthenticated: without a bound, a flood of logins queues without limit, holds
// memory and starves every other user of the thread pool. Beyond the queue, callers get IDENTITY_ERR_BUSY
// (HTTP 503 with Retry-After) at once.
import { IdentityError } from './errors.js';

export interface HashGateOptions {
  /** Checks running at once (default 4 = libuv's default thread pool size). */
  maxActive?: number;
  /** Checks waiting for a slot (default 64, i.e. about 2 s of work at 4 x 0.1 s). */
  maxQueued?: number;
}

export const DEFAULT_HASH_GATE: Required<HashGateOptions> = { maxActive: 4, maxQueued: 64 };
/** Suggested wait for a caller turned away. */
const BUSY_RETRY_AFTER_SECONDS = 1;

export class HashGate {
  readonly #maxActive: number;
  readonly #maxQueued: number;
  #active = 0;
  /** Waiters, each resumed with the slot of a finishing check (the slot is handed over, not freed). */
  readonly #queue: Array<() => void> = [];

  constructor(opts: HashGateOptions = {}) {
    const o = { ...DEFAULT_HASH_GATE, ...opts };
    if (
      !Number.isInteger(o.maxActive) ||
      o.maxActive < 1 ||
      !Number.isInteger(o.maxQueued) ||
      o.maxQueued < 0
    ) {
      throw new IdentityError(
        'IDENTITY_ERR_BAD_CONFIG',
        `password check limits ${JSON.stringify(o)} are invalid: expected maxActive >= 1 and maxQueued >= 0 integers`,
      );
    }
    this.#maxActive = o.maxActive;
    this.#maxQueued = o.maxQueued;
  }

  /** Runs `work` when a slot is free; throws IDENTITY_ERR_BUSY when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active < this.#maxActive) {
      this.#active++;
    } else if (this.#queue.length < this.#maxQueued) {
      await new Promise<void>((resume) => this.#queue.push(resume));
    } else {
      throw new IdentityError(
        'IDENTITY_ERR_BUSY',
        `too many logins in progress (${this.#active} running, ${this.#queue.length} waiting); retry in ${BUSY_RETRY_AFTER_SECONDS} s`,
        { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS },
      );
    }
    try {
      return await work();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    }
  }

  /** Checks running and waiting (for tests and metrics). */
  get load(): { active: number; queued: number } {
    return { active: this.#active, queued: this.#queue.length };
  }
}
