// SPDX-License-Identifier: Apache-2.0
// The VPC as nexlink sees it: its devices and their `nexlink` metadata, followed through the watch stream
// (`POST /api/vpcs/{id}/events`, kinds `device` and `device-metadata`). The first connection lists everything
// and ends with one `tail` per kind; only then is the view handed out (a partial list would delete imports).
// When the stream fails the view is kept and the stream reopened with `gt_revision` per kind after a
// backoff; a resume the service refuses (`NEX_ERR_WATCH_EXPIRED`, tombstones purged) lists from scratch.
import {
  type Device,
  type DeviceMetadata,
  WATCH_EXPIRED_CODE,
  type Watch,
  type WatchEvent,
} from '@nexodus/api';
import { METADATA_KEY } from '../labels.js';

export type OpenWatch = (watches: Watch[], signal: AbortSignal) => AsyncIterable<WatchEvent>;

export interface VpcCacheOptions {
  open: OpenWatch;
  /** After the first listing, and after every later change. */
  onChange(): void;
  onReconnect?(attempt: number, delayMs: number, cause: unknown): void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

const KINDS = ['device', 'device-metadata'] as const;

export class VpcCache {
  readonly devices = new Map<string, Device>();
  /** device id -> the value of its `nexlink` key. */
  readonly metadata = new Map<string, unknown>();
  readonly #opts: VpcCacheOptions;
  readonly #revisions = new Map<string, number>();
  #synced = false;
  #abort = new AbortController();
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(opts: VpcCacheOptions) {
    this.#opts = opts;
  }

  /** True once the first listing reached its tail. */
  get synced(): boolean {
    return this.#synced;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let attempt = 0;
    const initial = this.#opts.initialBackoffMs ?? 500;
    const max = this.#opts.maxBackoffMs ?? 5000;
    while (!this.#stopped) {
      let cause: unknown;
      try {
        if (await this.#follow()) attempt = 0;
        cause = new Error('the watch stream ended');
      } catch (err) {
        cause = err;
      }
      if (this.#stopped) return;
      const delay = Math.min(max, initial * 2 ** attempt++);
      this.#opts.onReconnect?.(attempt, delay, cause);
      await new Promise<void>((r) => setTimeout(r, delay).unref());
    }
  }

  /** One connection; true when it reached its tail (the backoff starts over). */
  async #follow(): Promise<boolean> {
    const watches: Watch[] = KINDS.map((kind) => {
      const rev = this.#revisions.get(kind);
      return rev === undefined ? { kind } : { kind, gt_revision: rev };
    });
    // A full listing replaces the view at its tail, so deletes missed while away are not kept.
    const full = !this.#revisions.size;
    const listed = { devices: new Map<string, Device>(), metadata: new Map<string, unknown>() };
    const tails = new Set<string>();
    let atTail = false;
    this.#abort = new AbortController();
    for await (const ev of this.#opts.open(watches, this.#abort.signal)) {
      if (ev.type === 'error') {
        if (ev.value?.code === WATCH_EXPIRED_CODE) this.#revisions.clear();
        throw new Error(`watch error ${ev.value?.code}: ${ev.value?.error}`);
      }
      if (ev.type === 'tail') {
        tails.add(ev.kind);
        if (!atTail && tails.size === KINDS.length) {
          atTail = true;
          if (full) this.#replace(listed);
          this.#synced = true;
          this.#opts.onChange();
        }
        continue;
      }
      if (ev.type !== 'change' && ev.type !== 'delete') continue;
      const target = full && !atTail ? listed : this;
      let changed = false;
      if (ev.kind === 'device') {
        this.#seen('device', ev.value.revision);
        changed = apply(target.devices, ev.value.id, ev.type === 'change' ? ev.value : undefined);
        if (ev.type === 'delete') target.metadata.delete(ev.value.id);
      } else if (ev.kind === 'device-metadata') {
        const m = ev.value as DeviceMetadata;
        this.#seen('device-metadata', m.revision);
        if (m.key !== METADATA_KEY) continue;
        changed = apply(target.metadata, m.device_id, ev.type === 'change' ? m.value : undefined);
      }
      if (changed && atTail) this.#opts.onChange();
    }
    return atTail;
  }

  #seen(kind: string, revision: number | undefined): void {
    if (typeof revision === 'number' && revision > (this.#revisions.get(kind) ?? -1)) {
      this.#revisions.set(kind, revision);
    }
  }

  #replace(listed: { devices: Map<string, Device>; metadata: Map<string, unknown> }): void {
    this.devices.clear();
    for (const [k, v] of listed.devices) this.devices.set(k, v);
    this.metadata.clear();
    for (const [k, v] of listed.metadata) this.metadata.set(k, v);
  }
}

/** Sets or deletes `key`; whether that changed anything (an unchanged device does not wake the importer). */
function apply<T>(map: Map<string, T>, key: string, value: T | undefined): boolean {
  if (value === undefined) return map.delete(key);
  const before = map.get(key);
  map.set(key, value);
  return before === undefined || JSON.stringify(before) !== JSON.stringify(value);
}
