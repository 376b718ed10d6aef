// SPDX-License-Identifier: Apache-2.0
// Identity migrations, merged by server-core's migrator with its own (named from 0002_ on), so every
// name here starts with `0001_identity_` and sorts before core migrations that reference users(id).
// Portable SQLite + PostgreSQL: only the schema builder and the shared type conventions.
import type { Kysely, Migration } from 'kysely';

export const identityMigrations: Record<string, Migration> = {
  '0001_identity_001_init': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('identity_signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('identity_refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('rotated_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createIndex('identity_refresh_tokens_family_idx')
        .on('identity_refresh_tokens')
        .column('family_id')
        .execute();
      await db.schema
        .createIndex('identity_refresh_tokens_user_idx')
        .on('identity_refresh_tokens')
        .column('user_id')
        .execute();
      await db.schema
        .createIndex('identity_refresh_tokens_expires_idx')
        .on('identity_refresh_tokens')
        .column('expires_at')
        .execute();

      await db.schema
        .createTable('identity_device_grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device_code_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_code', 'text', (c) => c.notNull().unique())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('poll_interval_seconds', 'bigint', (c) => c.notNull())
        .addColumn('last_polled_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .execute();
      await db.schema
        .createIndex('identity_device_grants_expires_idx')
        .on('identity_device_grants')
        .column('expires_at')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('identity_device_grants').ifExists().execute();
      await db.schema.dropTable('identity_refresh_tokens').ifExists().execute();
      await db.schema.dropTable('identity_signing_keys').ifExists().execute();
      await db.schema.dropTable('users').ifExists().execute();
    },
  },
  '0001_identity_002_login_failures': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('identity_login_failures')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_started_at', 'text', (c) => c.notNull())
        .addColumn('failures', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('identity_login_failures_window_idx')
        .on('identity_login_failures')
        .column('window_started_at')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('identity_login_failures').ifExists().execute();
    },
  },
};
