// SPDX-License-Identifier: Apache-2.0
// Runs identity's (0001_identity_*) and server-core's (0002_*) migrations, in name order, on either engine.
import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { identityMigrations } from '../identity/index.js';
import { coreMigration0002 } from './migrations/0002_core.js';
import { coreMigration0003 } from './migrations/0003_user_profiles.js';
import { coreMigration0004 } from './migrations/0004_invitations_sites.js';

export const coreMigrations: Record<string, Migration> = {
  '0002_core': coreMigration0002,
  '0003_user_profiles': coreMigration0003,
  '0004_invitations_sites': coreMigration0004,
};

/** Brings the schema to the latest version. Throws with the failing migration's name. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<void> {
  const all: Record<string, Migration> = { ...identityMigrations, ...coreMigrations };
  const provider: MigrationProvider = { getMigrations: async () => all };
  // The migrator only touches its own bookkeeping tables, so the database's table types do not matter here.
  const migrator = new Migrator({ db: db as unknown as Kysely<unknown>, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
}
