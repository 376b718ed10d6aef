// SPDX-License-Identifier: Apache-2.0
// Organization members beyond the owner (an accepted invitation adds one), invitations, service networks and
// their sites. Portable between SQLite and PostgreSQL: schema builder and portable column types only.
// Deleting a user or an organization deletes their memberships, invitations, service networks and sites.
import type { Kysely, Migration } from 'kysely';

export const coreMigration0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // The owner stays implicit (organizations.owner_id, role `owner`); this table holds everyone else.
    await db.schema
      .createTable('organization_members')
      .addColumn('organization_id', 'text', (c) =>
        c.notNull().references('organizations.id').onDelete('cascade'),
      )
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('organization_members_pk', ['organization_id', 'user_id'])
      .execute();
    await db.schema
      .createIndex('organization_members_user_idx')
      .on('organization_members')
      .column('user_id')
      .execute();

    // An invitation names its invitee by user id, or only by e-mail (a user whose login name is that
    // address sees and accepts it, also one who signs up later).
    await db.schema
      .createTable('invitations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('organization_id', 'text', (c) =>
        c.notNull().references('organizations.id').onDelete('cascade'),
      )
      .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('email', 'text')
      .addColumn('from_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('invitations_user_idx').on('invitations').column('user_id').execute();
    await db.schema.createIndex('invitations_org_idx').on('invitations').column('organization_id').execute();

    await db.schema
      .createTable('service_networks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('organization_id', 'text', (c) =>
        c.notNull().references('organizations.id').onDelete('cascade'),
      )
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('service_networks_org_idx')
      .on('service_networks')
      .column('organization_id')
      .execute();

    // One counter per table (service_networks, sites): an UPDATE ... RETURNING takes the next value, which
    // serializes concurrent writers on both engines (a max()+1 read would hand one value to two of them).
    await db.schema
      .createTable('table_revisions')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .execute();
    await (db as Kysely<{ table_revisions: { name: string; revision: number } }>)
      .insertInto('table_revisions')
      .values([
        { name: 'service_networks', revision: 0 },
        { name: 'sites', revision: 0 },
      ])
      .execute();

    await db.schema
      .createTable('sites')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('service_network_id', 'text', (c) =>
        c.notNull().references('service_networks.id').onDelete('cascade'),
      )
      .addColumn('organization_id', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('platform', 'text', (c) => c.notNull())
      .addColumn('hostname', 'text', (c) => c.notNull())
      .addColumn('os', 'text', (c) => c.notNull())
      .addColumn('link_secret', 'text', (c) => c.notNull())
      .addColumn('bearer_token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('bearer_token', 'text', (c) => c.notNull())
      .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('online_at', 'text')
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('sites_service_network_idx')
      .on('sites')
      .column('service_network_id')
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['sites', 'table_revisions', 'service_networks', 'invitations', 'organization_members']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};
