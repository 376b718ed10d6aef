// SPDX-License-Identifier: Apache-2.0
// Follows a VPC's device watch stream (`POST /api/vpcs/{id}/events`, `change`/`delete`/`tail` events)
// and keeps a device map. The first connection lists everything and ends the listing with `tail`; only
// then is the map handed out (a partial list would remove live peers). When the stream fails, the map
// is kept (the data plane runs on with the last known peers) and the stream is reopened with
// `gt_revision` = the highest revision seen, after an exponential backoff with full jitter
// (AWS Architecture Blog, "Exponential Backoff and Jitter"), reset once a reconnect reaches its tail.
import { WATCH_EXPIRED_CODE } from '@nexodus/api';
import type { VpcDevice } from './reconcile.js';

/** One event of the watch stream (`models.WatchEvent`). */
export interface WatchEvent {
  /** i.e. `device`. */
  kind: string;
  type: 'change' | 'delete' | 'tail' | 'error' | (string & {});
  value?: unknown;
}

/** Opens the stream; `gtRevision` is undefined for the first, full listing. */
export type OpenWatch = (gtRevision: number | undefined, signal: AbortSignal) => AsyncIterable<WatchEvent>;

export interface FollowerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface FollowerOptions {
  open: OpenWatch;
  /** Called with the full device map at the first tail, and after every later change or delete. */
  onDevices(devices: ReadonlyMap<string, VpcDevice>): void;
  /** Called on every reconnect attempt after a failure (metrics: nexd_stream_reconnects_total). */
  onReconnect?(attempt: number, delayMs: number, cause: unknown): void;
  /** Called when a connection reaches its tail (readiness: `peer-stream-at-tail`). */
  onTail?(): void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Injected for tests: [0, 1). */
  random?: () => number;
  timers?: FollowerTimers;
}

export const FOLLOWER_INITIAL_BACKOFF_MS = 500;
/**
 * The backoff's ceiling. Small on purpose: after an outage of any length the stream must be back within
 * about 2 s of the service's return (issue 16: with 30 s, a 16 s outage left proxies without updates for
 * 22-25 s after the server was back). An attempt against a service that is down is a refused connection or
 * a 503, which costs the service next to nothing; full jitter spreads many proxies over the window.
 */
export const FOLLOWER_MAX_BACKOFF_MS = 1500;

type FollowerState = 'idle' | 'listing' | 'following' | 'waiting' | 'stopped';

function isDevice(v: unknown): v is VpcDevice {
  return typeof v === 'object' && v !== null && typeof (v as VpcDevice).id === 'string';
}

export class PeerStreamFollower {
  readonly #opts: FollowerOptions;
  readonly #devices = new Map<string, VpcDevice>();
  #state: FollowerState = 'idle';
  #revision: number | undefined;
  #haveListed = false;
  #attempt = 0;
  #abort: AbortController | undefined;
  #timer: unknown;
  #done: Promise<void> | undefined;

  constructor(options: FollowerOptions) {
    this.#opts = options;
  }

  get state(): FollowerState {
    return this.#state;
  }

  /** The highest revision seen; the next connection resumes after it. */
  get revision(): number | undefined {
    return this.#revision;
  }

  get devices(): ReadonlyMap<string, VpcDevice> {
    return this.#devices;
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /** Stops following; resolves once the current connection has been torn down. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#abort?.abort();
    if (this.#timer !== undefined)
      (this.#opts.timers ?? globalThis).clearTimeout(this.#timer as NodeJS.Timeout);
    await this.#done;
  }

  #connect(): void {
    if (this.#state === 'stopped') return;
    this.#state = this.#haveListed ? 'following' : 'listing';
    const abort = new AbortController();
    this.#abort = abort;
    this.#done = this.#consume(abort.signal).then(
      () => this.#failed(new Error('watch stream ended')),
      (err: unknown) => this.#failed(err),
    );
  }

  async #consume(signal: AbortSignal): Promise<void> {
    const resume = this.#haveListed ? this.#revision : undefined;
    // A full listing starts from nothing: devices from an earlier listing that failed before its tail
    // may have been deleted since, and a fresh listing carries no delete events for them.
    if (resume === undefined) this.#devices.clear();
    for await (const ev of this.#opts.open(resume, signal)) {
      if (this.#state === 'stopped') return;
      this.#onEvent(ev);
    }
  }

  #onEvent(ev: WatchEvent): void {
    switch (ev.type) {
      case 'change':
      case 'delete': {
        if (!isDevice(ev.value)) return;
        const d = ev.value;
        if (typeof d.revision === 'number' && (this.#revision === undefined || d.revision > this.#revision)) {
          this.#revision = d.revision;
        }
        if (ev.type === 'change') this.#devices.set(d.id, d);
        else this.#devices.delete(d.id);
        if (this.#haveListed) this.#opts.onDevices(this.#devices);
        return;
      }
      case 'tail':
        this.#attempt = 0;
        if (!this.#haveListed) {
          this.#haveListed = true;
          this.#state = 'following';
          this.#opts.onDevices(this.#devices);
        }
        this.#opts.onTail?.();
        return;
      case 'error':
        // The service purged the tombstones since our revision: the next connection lists everything again
        // (the peers stay as they are until that listing reaches its tail).
        if ((ev.value as { code?: unknown } | null)?.code === WATCH_EXPIRED_CODE) this.#haveListed = false;
        throw new Error(`watch stream error event: ${JSON.stringify(ev.value)}`);
      default:
        // Unknown event types from a newer server are ignored, not fatal.
        return;
    }
  }

  #failed(cause: unknown): void {
    if (this.#state === 'stopped') return;
    this.#state = 'waiting';
    const initial = this.#opts.initialBackoffMs ?? FOLLOWER_INITIAL_BACKOFF_MS;
    const max = this.#opts.maxBackoffMs ?? FOLLOWER_MAX_BACKOFF_MS;
    const ceiling = Math.min(max, initial * 2 ** this.#attempt);
    const delay = Math.floor((this.#opts.random ?? Math.random)() * ceiling);
    this.#attempt++;
    this.#opts.onReconnect?.(this.#attempt, delay, cause);
    const timers = this.#opts.timers ?? globalThis;
    this.#timer = timers.setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
  }
}
