// SPDX-License-Identifier: Apache-2.0
// A work queue of keys, never objects, as client-go's workqueue: a key added while queued is queued once; a
// key added while it is being processed is processed again afterwards (never twice at once); a failed key
// comes back after a per-key exponential backoff, which `forget` resets after a success. Bounded by the number
// of distinct keys (one per Service plus one for the imports), not by the number of events.

export interface BackoffOptions {
  /** First retry delay (default 100 ms). */
  baseMs?: number;
  /** Ceiling (default 30 s). */
  maxMs?: number;
}

export type ReconcileResult = { requeueAfterMs?: number } | undefined;

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys added while processing: queued again when their processing ends. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #baseMs: number;
  readonly #maxMs: number;
  #wake: (() => void) | undefined;
  #stopped = false;

  constructor(opts: BackoffOptions = {}) {
    this.#baseMs = opts.baseMs ?? 100;
    this.#maxMs = opts.maxMs ?? 30_000;
  }

  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#wake?.();
  }

  /** Adds `key` after `ms`; an earlier pending addAfter of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    // Not unref'd: a pending retry is work to do; stop() clears them.
    this.#timers.set(key, t);
  }

  /** The delay the next failure of `key` gets: base * 2^failures, capped. */
  backoff(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    return Math.min(this.#maxMs, this.#baseMs * 2 ** n);
  }

  addRateLimited(key: string): number {
    const delay = this.backoff(key);
    this.#failures.set(key, (this.#failures.get(key) ?? 0) + 1);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Failures of `key` since its last success. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  async #next(): Promise<string | undefined> {
    while (!this.#stopped && this.#queue.length === 0) {
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = undefined;
    }
    if (this.#stopped) return undefined;
    const key = this.#queue.shift()!;
    this.#queued.delete(key);
    this.#processing.add(key);
    return key;
  }

  #done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /**
   * Processes keys one at a time until stop(): a result with `requeueAfterMs` comes back then; a throw comes
   * back after the key's backoff (`onError` is told, with the delay).
   */
  async run(
    handler: (key: string) => Promise<ReconcileResult>,
    onError: (key: string, err: unknown, retryInMs: number) => void,
  ): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      try {
        const r = await handler(key);
        this.forget(key);
        if (r?.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        onError(key, err, this.addRateLimited(key));
      } finally {
        this.#done(key);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#wake?.();
  }
}
