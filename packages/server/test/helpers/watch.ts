// SPDX-License-Identifier: Apache-2.0
// Collects a watch stream's events in the background so tests can wait for a condition with a deadline.
import type { NexodusClient, Watch, WatchEvent } from '@nexodus/api';

export class Collector {
  readonly events: WatchEvent[] = [];
  private readonly ac = new AbortController();
  private waiters: Array<() => void> = [];
  error: unknown;
  readonly done: Promise<void>;

  constructor(client: NexodusClient, vpcId: string, watches: Watch[], opts: { publicKey?: string } = {}) {
    this.done = (async () => {
      try {
        for await (const ev of client.watchEvents(vpcId, watches, { ...opts, signal: this.ac.signal })) {
          this.events.push(ev);
          for (const w of this.waiters.splice(0)) w();
        }
      } catch (err) {
        this.error = err;
      }
      for (const w of this.waiters.splice(0)) w();
    })();
  }

  /** Waits until `pred(events)` holds; fails after `timeoutMs` with the events seen so far. */
  async waitFor(pred: (evs: WatchEvent[]) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      if (this.error) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; saw ${this.events.length} events: ${JSON.stringify(this.events.slice(-5))}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  tails(): number {
    return this.events.filter((e) => e.type === 'tail').length;
  }

  async close(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}

/** Object identity of a watched value: device id, `device/key` for metadata, security group id. */
export function itemKey(ev: WatchEvent): string {
  const v = ev.value as { id?: string; device_id?: string; key?: string };
  return ev.kind === 'device-metadata' ? `${ev.kind}:${v.device_id}/${v.key}` : `${ev.kind}:${v.id}`;
}

/** Applies change/delete events to a state map (what a client's cache would hold). */
export function applyEvents(state: Map<string, string>, events: WatchEvent[]): Map<string, string> {
  for (const ev of events) {
    if (ev.type === 'change') state.set(itemKey(ev), JSON.stringify(ev.value));
    else if (ev.type === 'delete') state.delete(itemKey(ev));
  }
  return state;
}

export function revisionOf(ev: WatchEvent): number {
  return (ev.value as { revision?: number } | undefined)?.revision ?? 0;
}
