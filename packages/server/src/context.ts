// SPDX-License-Identifier: Apache-2.0
// What every route plugin needs: the database, its engine, the change bus, and the write helper that ties
// a VPC's revision, the NOTIFY and the in-process publish to one transaction.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './db/schema.js';
import type { ChangeBus } from './events/bus.js';
import { nextRevision, notifyInTransaction } from './events/revisions.js';
import type { SharedReads } from './events/shared-reads.js';
import type { PoolCache } from './ipam.js';

export interface ServerContext {
  db: Kysely<Database>;
  postgres: boolean;
  bus: ChangeBus;
  /** Reads shared by the watch streams of one wake-up. */
  reads: SharedReads;
  /** Used addresses per VPC pool, kept exact by revisions. */
  ipam: PoolCache;
}

/**
 * Runs `fn` in a transaction holding `vpcId`'s next revision; after commit, wakes this process's watch
 * streams of that VPC (other replicas are woken by the NOTIFY sent inside the transaction).
 */
export async function writeVpc<T>(
  ctx: ServerContext,
  vpcId: string,
  fn: (trx: Transaction<Database>, revision: number) => Promise<T>,
): Promise<T> {
  const result = await ctx.db.transaction().execute(async (trx) => {
    const revision = await nextRevision(trx, vpcId);
    const r = await fn(trx, revision);
    await notifyInTransaction(trx, ctx.postgres, ctx.bus, vpcId);
    return r;
  });
  ctx.bus.publishLocal(vpcId);
  return result;
}
