// SPDX-License-Identifier: Apache-2.0
// A user's profile as the original's models.User shows it (`full_name`, `picture`), beside identity's users
// table (which only logs people in). Deleting a user deletes the profile.
import type { Kysely, Migration } from 'kysely';

export const coreMigration0003: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('user_profiles')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('full_name', 'text', (c) => c.notNull())
      .addColumn('picture', 'text', (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('user_profiles').execute();
  },
};
