// SPDX-License-Identifier: Apache-2.0
// Table types of the core tables (server-core). See the contract: ids text UUID, timestamps ISO text,
// booleans integer 0/1, JSON text, revisions bigint (read as number).
import type { IdentityTables } from '../identity/index.js';
export interface OrganizationsTable {
  id: string;
  name: string;
  description: string;
  owner_id: string;
  created_at: string;
}

export interface VpcsTable {
  id: string;
  organization_id: string;
  owner_id: string;
  description: string;
  ipv4_cidr: string;
  ipv6_cidr: string;
  private_cidr: number;
  is_default: number;
  created_at: string;
}

/** Per-VPC revision counter: every change to a device, device metadata or security group of a VPC takes the next value. */
export interface VpcRevisionsTable {
  vpc_id: string;
  revision: number;
}

export interface DevicesTable {
  id: string;
  owner_id: string;
  vpc_id: string;
  organization_id: string;
  public_key: string;
  hostname: string;
  os: string;
  /** JSON `[{source, address}]` */
  endpoints: string;
  /** JSON string array */
  advertise_cidrs: string;
  relay: number;
  symmetric_nat: number;
  security_group_id: string | null;
  /** SHA-256 hex of the device bearer token (the lookup key) */
  bearer_token_hash: string;
  /** the token itself: nexd reads it back after a restart (409 on re-registration, then GET) */
  bearer_token: string;
  reg_key_id: string | null;
  online: number;
  online_at: string | null;
  revision: number;
  created_at: string;
  updated_at: string;
}

/** One row per assigned tunnel address; UNIQUE (vpc_id, address) makes double assignment impossible. */
export interface IpAllocationsTable {
  vpc_id: string;
  address: string;
  family: number;
  cidr: string;
  device_id: string;
}

export interface DeviceMetadataTable {
  device_id: string;
  key: string;
  vpc_id: string;
  /** JSON */
  value: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

export interface SecurityGroupsTable {
  id: string;
  vpc_id: string;
  owner_id: string;
  description: string;
  inbound_rules: string;
  outbound_rules: string;
  revision: number;
  created_at: string;
}

export interface RegKeysTable {
  id: string;
  owner_id: string;
  vpc_id: string;
  description: string;
  bearer_token_hash: string;
  /** the token itself, so that its owner can read it back (as the original does) */
  bearer_token: string;
  single_use: number;
  expires_at: string | null;
  device_id: string | null;
  security_group_id: string | null;
  settings: string;
  created_at: string;
}

/** Deleted watchable objects, so that a stream resumed from an older revision sees the delete. */
export interface TombstonesTable {
  vpc_id: string;
  kind: string;
  item_id: string;
  revision: number;
  /** JSON of the object as it was when deleted */
  value: string;
  created_at: string;
}

/** The original's user fields that identity does not keep (`nexodus-server user add --full-name`). */
export interface UserProfilesTable {
  user_id: string;
  full_name: string;
  picture: string;
}

/** A member of an organization other than its owner (the owner is organizations.owner_id, role `owner`). */
export interface OrganizationMembersTable {
  organization_id: string;
  user_id: string;
  /** JSON string array, i.e. `["member"]` */
  roles: string;
  created_at: string;
}

/** An invitation into an organization: for a user (user_id) or an e-mail address (a login name). */
export interface InvitationsTable {
  id: string;
  organization_id: string;
  user_id: string | null;
  email: string | null;
  /** the inviting user (an owner of the organization) */
  from_id: string;
  /** JSON string array */
  roles: string;
  expires_at: string;
  created_at: string;
}

export interface ServiceNetworksTable {
  id: string;
  organization_id: string;
  description: string;
  revision: number;
  created_at: string;
}

export interface SitesTable {
  id: string;
  owner_id: string;
  service_network_id: string;
  /** the service network's organization, copied for lookups */
  organization_id: string;
  public_key: string;
  name: string;
  platform: string;
  hostname: string;
  os: string;
  link_secret: string;
  /** SHA-256 hex of the site's bearer token */
  bearer_token_hash: string;
  bearer_token: string;
  online: number;
  online_at: string | null;
  revision: number;
  created_at: string;
}

/** The revision counter of a table without a VPC (service_networks, sites). */
export interface TableRevisionsTable {
  name: string;
  revision: number;
}

export interface CoreTables {
  table_revisions: TableRevisionsTable;
  organization_members: OrganizationMembersTable;
  invitations: InvitationsTable;
  service_networks: ServiceNetworksTable;
  sites: SitesTable;
  organizations: OrganizationsTable;
  vpcs: VpcsTable;
  vpc_revisions: VpcRevisionsTable;
  devices: DevicesTable;
  ip_allocations: IpAllocationsTable;
  device_metadata: DeviceMetadataTable;
  security_groups: SecurityGroupsTable;
  reg_keys: RegKeysTable;
  tombstones: TombstonesTable;
  user_profiles: UserProfilesTable;
}

export type Database = IdentityTables & CoreTables;
