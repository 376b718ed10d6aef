// SPDX-License-Identifier: Apache-2.0
// Revisions: every change to a watchable object (device, device metadata, security group) takes the next value
// of its VPC's counter inside the writing transaction. On PostgreSQL the UPDATE holds the counter's row lock
// until commit, so revisions become visible in increasing order and a stream resumed from any revision can
// neither miss nor repeat an event. SQLite serialises writers anyway.

import type { WatchKind } from '@nexodus/api';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ChangeBus } from './bus.js';
import { PG_CHANNEL } from './bus.js';

/** Takes the VPC's next revision. Call first in a transaction so the lock covers the whole write. */
export async function nextRevision(trx: Transaction<Database>, vpcId: string): Promise<number> {
  const row = await trx
    .updateTable('vpc_revisions')
    .set((eb) => ({ revision: eb('revision', '+', 1) }))
    .where('vpc_id', '=', vpcId)
    .returning('revision')
    .executeTakeFirst();
  if (!row) throw new Error(`vpc_revisions row missing for vpc ${vpcId}`);
  return Number(row.revision);
}

/** Records a delete so that resumed streams see it. `value` is the object as last seen, with `revision`. */
export async function addTombstone(
  trx: Transaction<Database>,
  vpcId: string,
  kind: WatchKind,
  itemId: string,
  revision: number,
  value: unknown,
): Promise<void> {
  await trx
    .insertInto('tombstones')
    .values({
      vpc_id: vpcId,
      revision,
      kind,
      item_id: itemId,
      value: JSON.stringify(value),
      created_at: new Date().toISOString(),
    })
    .execute();
}

/** Queues a cross-replica notification; PostgreSQL delivers it when the transaction commits. */
export async function notifyInTransaction(
  trx: Transaction<Database>,
  postgres: boolean,
  bus: ChangeBus,
  vpcId: string,
): Promise<void> {
  if (!postgres) return;
  await sql`SELECT pg_notify(${PG_CHANNEL}, ${bus.payload(vpcId)})`.execute(trx);
}

/** Current revision of a VPC (for bookmarks). */
export async function currentRevision(db: Kysely<Database>, vpcId: string): Promise<number> {
  const row = await db
    .selectFrom('vpc_revisions')
    .select('revision')
    .where('vpc_id', '=', vpcId)
    .executeTakeFirst();
  return row ? Number(row.revision) : 0;
}
