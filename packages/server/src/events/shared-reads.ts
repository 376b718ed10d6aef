// SPDX-License-Identifier: Apache-2.0
// Coalesces identical reads of many watch streams. When one change wakes 200 streams of a VPC, they all ask
// "what is the VPC's revision now?" and "which devices changed in (cursor, upTo]?" with the same arguments;
// each question is answered once and the rendered lines are shared.
//
// Correctness: a revision read is shared only between streams woken by the same notification (the key holds
// the bus generation, which is bumped before listeners run), so no stream reuses a read that began before the
// change that woke it. A range (cursor, upTo] answer stays valid: a row changed later moves above upTo and is
// delivered by a later poll with its newer revision.

/** How long a settled answer is kept for late-arriving streams of the same wake-up. */
const SHARED_READ_TTL_MS = 1000;

export class SharedReads {
  private readonly entries = new Map<string, Promise<unknown>>();

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit) return hit as Promise<T>;
    const p = load();
    this.entries.set(key, p);
    p.then(
      () => setTimeout(() => this.entries.delete(key), SHARED_READ_TTL_MS).unref(),
      () => this.entries.delete(key),
    );
    return p;
  }

  get size(): number {
    return this.entries.size;
  }
}
