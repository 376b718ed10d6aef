// SPDX-License-Identifier: Apache-2.0
// Tombstone clean-up, run by the server itself: tombstones (deleted objects kept so that a resumed watch sees
// the delete) older than the retention are purged. Each VPC keeps one `compacted` marker at the highest purged
// revision, so a watch resuming from before it learns that it missed deletes (NEX_ERR_WATCH_EXPIRED) and lists
// again from scratch, instead of silently keeping objects that no longer exist.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Tombstones are kept this long by default (a device offline for longer lists its VPC again). */
export const DEFAULT_TOMBSTONE_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often the clean-up runs by default. */
export const DEFAULT_TOMBSTONE_GC_INTERVAL_MS = 3600 * 1000;
/** The marker's kind: never a watch kind, so streams never send it. */
export const COMPACTED_KIND = 'compacted';

/** Purges tombstones created before `cutoff`; returns how many were removed (markers not counted). */
export async function purgeTombstones(db: Kysely<Database>, cutoff: Date): Promise<number> {
  const old = await db
    .selectFrom('tombstones')
    .select(['vpc_id'])
    .select((eb) => eb.fn.max('revision').as('upTo'))
    .where('created_at', '<', cutoff.toISOString())
    .where('kind', '!=', COMPACTED_KIND)
    .groupBy('vpc_id')
    .execute();
  let purged = 0;
  for (const { vpc_id, upTo } of old) {
    const revision = Number(upTo);
    await db.transaction().execute(async (trx) => {
      const r = await trx
        .deleteFrom('tombstones')
        .where('vpc_id', '=', vpc_id)
        .where('revision', '<=', revision)
        .where('kind', '!=', COMPACTED_KIND)
        .executeTakeFirst();
      purged += Number(r.numDeletedRows);
      // One marker per VPC, at the highest purged revision (its tombstone's slot is free now).
      await trx
        .deleteFrom('tombstones')
        .where('vpc_id', '=', vpc_id)
        .where('kind', '=', COMPACTED_KIND)
        .execute();
      await trx
        .insertInto('tombstones')
        .values({
          vpc_id,
          revision,
          kind: COMPACTED_KIND,
          item_id: '',
          value: 'null',
          created_at: new Date().toISOString(),
        })
        .execute();
    });
  }
  return purged;
}

/** The highest purged revision of a VPC (0 when nothing was purged). */
export async function compactedRevision(db: Kysely<Database>, vpcId: string): Promise<number> {
  const r = await db
    .selectFrom('tombstones')
    .select('revision')
    .where('vpc_id', '=', vpcId)
    .where('kind', '=', COMPACTED_KIND)
    .executeTakeFirst();
  return Number(r?.revision ?? 0);
}

/** Runs purgeTombstones every `intervalMs` (timer unref'd); returns a stop function. */
export function startTombstoneGc(
  db: Kysely<Database>,
  opts: { intervalMs: number; retentionMs: number; onError: (err: unknown) => void; now?: () => number },
): () => void {
  const now = opts.now ?? Date.now;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = purgeTombstones(db, new Date(now() - opts.retentionMs))
      .then(() => undefined, opts.onError)
      .finally(() => {
        running = undefined;
      });
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
