// SPDX-License-Identifier: Apache-2.0
// One binary min-heap of socket deadlines for the whole interface (instead of a host timer per socket).
// Entries are lazy: an entry is live only while its time equals the socket's `heapAt`; when a deadline moves
// later nothing is touched, and the stale entry re-schedules the socket when it surfaces. So a retransmission
// timer restarted on every ACK costs nothing here.

export interface Schedulable {
  heapAt: number;
}

export class DeadlineHeap<T extends Schedulable> {
  private readonly at: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  /** Ensures item is visited no later than t. */
  schedule(item: T, t: number): void {
    if (!(t < item.heapAt)) return;
    item.heapAt = t;
    this.push(t, item);
  }

  /** Earliest live deadline, dropping stale entries from the top. */
  peek(): number {
    while (this.at.length > 0 && this.at[0] !== this.items[0].heapAt) this.pop();
    return this.at.length > 0 ? this.at[0] : Number.POSITIVE_INFINITY;
  }

  /** Removes and returns the earliest live item due at or before now. */
  popDue(now: number): T | undefined {
    while (this.at.length > 0) {
      const t = this.at[0];
      const item = this.items[0];
      if (t !== item.heapAt) {
        this.pop();
        continue;
      }
      if (t > now) return undefined;
      this.pop();
      item.heapAt = Number.POSITIVE_INFINITY;
      return item;
    }
    return undefined;
  }

  private push(t: number, item: T): void {
    const at = this.at;
    const items = this.items;
    let i = at.length;
    at.push(t);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p] <= t) break;
      at[i] = at[p];
      items[i] = items[p];
      i = p;
    }
    at[i] = t;
    items[i] = item;
  }

  private pop(): void {
    const at = this.at;
    const items = this.items;
    const lastT = at.pop() as number;
    const lastItem = items.pop() as T;
    const n = at.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && at[r] < at[l] ? r : l;
      if (at[c] >= lastT) break;
      at[i] = at[c];
      items[i] = items[c];
      i = c;
    }
    at[i] = lastT;
    items[i] = lastItem;
  }
}
