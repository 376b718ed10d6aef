// SPDX-License-Identifier: Apache-2.0
// Core tables (organizations, VPCs, devices, IPAM, metadata, security groups, registration keys, tombstones).
// Portable between SQLite and PostgreSQL: only the schema builder and portable column types.
// owner_id references identity's users(id) with ON DELETE CASCADE: deleting a user deletes what they own.
import type { Kysely, Migration } from 'kysely';

export const coreMigration0002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('organizations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('organizations_owner_name_uq', ['owner_id', 'name'])
      .execute();

    await db.schema
      .createTable('vpcs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('organization_id', 'text', (c) =>
        c.notNull().references('organizations.id').onDelete('cascade'),
      )
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('ipv4_cidr', 'text', (c) => c.notNull())
      .addColumn('ipv6_cidr', 'text', (c) => c.notNull())
      .addColumn('private_cidr', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('vpcs_org_idx').on('vpcs').column('organization_id').execute();

    await db.schema
      .createTable('vpc_revisions')
      .addColumn('vpc_id', 'text', (c) => c.primaryKey().references('vpcs.id').onDelete('cascade'))
      .addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();

    await db.schema
      .createTable('security_groups')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('vpc_id', 'text', (c) => c.notNull().references('vpcs.id').onDelete('cascade'))
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('inbound_rules', 'text', (c) => c.notNull())
      .addColumn('outbound_rules', 'text', (c) => c.notNull())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('security_groups_vpc_rev_idx')
      .on('security_groups')
      .columns(['vpc_id', 'revision'])
      .execute();

    await db.schema
      .createTable('reg_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('vpc_id', 'text', (c) => c.notNull().references('vpcs.id').onDelete('cascade'))
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('bearer_token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('bearer_token', 'text', (c) => c.notNull())
      .addColumn('single_use', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('device_id', 'text')
      .addColumn('security_group_id', 'text')
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('vpc_id', 'text', (c) => c.notNull().references('vpcs.id').onDelete('cascade'))
      .addColumn('organization_id', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull().unique())
      .addColumn('hostname', 'text', (c) => c.notNull())
      .addColumn('os', 'text', (c) => c.notNull())
      .addColumn('endpoints', 'text', (c) => c.notNull())
      .addColumn('advertise_cidrs', 'text', (c) => c.notNull())
      .addColumn('relay', 'integer', (c) => c.notNull())
      .addColumn('symmetric_nat', 'integer', (c) => c.notNull())
      .addColumn('security_group_id', 'text')
      .addColumn('bearer_token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('bearer_token', 'text', (c) => c.notNull())
      .addColumn('reg_key_id', 'text')
      .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('online_at', 'text')
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('devices_vpc_rev_idx')
      .on('devices')
      .columns(['vpc_id', 'revision'])
      .execute();
    await db.schema
      .createIndex('devices_vpc_host_idx')
      .on('devices')
      .columns(['vpc_id', 'hostname'])
      .execute();

    // The database, not only the allocator, guarantees one address per device in a VPC.
    await db.schema
      .createTable('ip_allocations')
      .addColumn('vpc_id', 'text', (c) => c.notNull().references('vpcs.id').onDelete('cascade'))
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('family', 'integer', (c) => c.notNull())
      .addColumn('cidr', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('ip_allocations_pk', ['vpc_id', 'address'])
      .execute();
    await db.schema
      .createIndex('ip_allocations_device_idx')
      .on('ip_allocations')
      .column('device_id')
      .execute();

    await db.schema
      .createTable('device_metadata')
      .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('vpc_id', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('device_metadata_pk', ['device_id', 'key'])
      .execute();
    await db.schema
      .createIndex('device_metadata_vpc_rev_idx')
      .on('device_metadata')
      .columns(['vpc_id', 'revision'])
      .execute();

    await db.schema
      .createTable('tombstones')
      .addColumn('vpc_id', 'text', (c) => c.notNull())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('item_id', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tombstones_pk', ['vpc_id', 'revision'])
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of [
      'tombstones',
      'device_metadata',
      'ip_allocations',
      'devices',
      'reg_keys',
      'security_groups',
      'vpc_revisions',
      'vpcs',
      'organizations',
    ]) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};
