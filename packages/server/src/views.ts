// SPDX-License-Identifier: Apache-2.0
// Rows to API objects (field names of the reference API). The response schemas then drop anything else.
import type {
  Device,
  DeviceMetadata,
  Endpoint,
  Organization,
  RegKey,
  SecurityGroup,
  SecurityRule,
  Vpc,
} from '@nexodus/api';
import type { Selectable } from 'kysely';
import type {
  DeviceMetadataTable,
  DevicesTable,
  IpAllocationsTable,
  OrganizationsTable,
  RegKeysTable,
  SecurityGroupsTable,
  VpcsTable,
} from './db/schema.js';

type Row<T> = Selectable<T>;

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** The original's organization: `{id, name, description}` (the owner is a member with role `owner`). */
export function organizationView(r: Row<OrganizationsTable>): Organization {
  return { id: r.id, name: r.name, description: r.description };
}

/** `revision` is the VPC's change counter (vpc_revisions), which moves on every change inside the VPC. */
export function vpcView(r: Row<VpcsTable>, revision: number): Vpc {
  return {
    revision,
    id: r.id,
    organization_id: r.organization_id,
    description: r.description,
    ipv4_cidr: r.ipv4_cidr,
    ipv6_cidr: r.ipv6_cidr,
    private_cidr: r.private_cidr === 1,
  };
}

/** `allocs` are the device's rows of ip_allocations. `withToken` adds bearer_token (owner and device only). */
export function deviceView(
  r: Row<DevicesTable>,
  allocs: ReadonlyArray<Row<IpAllocationsTable>>,
  withToken: boolean,
): Device {
  const v4 = allocs.filter((a) => a.family === 4).map((a) => ({ address: a.address, cidr: a.cidr }));
  const v6 = allocs.filter((a) => a.family === 6).map((a) => ({ address: a.address, cidr: a.cidr }));
  const advertise = parseJson<string[]>(r.advertise_cidrs, []);
  const d: Device = {
    id: r.id,
    owner_id: r.owner_id,
    vpc_id: r.vpc_id,
    public_key: r.public_key,
    hostname: r.hostname,
    os: r.os,
    endpoints: parseJson<Endpoint[]>(r.endpoints, []),
    advertise_cidrs: advertise,
    allowed_ips: [...v4.map((a) => `${a.address}/32`), ...v6.map((a) => `${a.address}/128`), ...advertise],
    ipv4_tunnel_ips: v4,
    ipv6_tunnel_ips: v6,
    relay: r.relay === 1,
    symmetric_nat: r.symmetric_nat === 1,
    online: r.online === 1,
    revision: Number(r.revision),
  };
  if (r.security_group_id) d.security_group_id = r.security_group_id;
  if (r.online_at) d.online_at = r.online_at;
  if (withToken) d.bearer_token = r.bearer_token;
  return d;
}

export function metadataView(r: Row<DeviceMetadataTable>): DeviceMetadata {
  return {
    device_id: r.device_id,
    key: r.key,
    value: parseJson<unknown>(r.value, null),
    revision: Number(r.revision),
  };
}

/** Rule lists appear only when non-empty, as the original's `omitempty` writes them. */
export function securityGroupView(r: Row<SecurityGroupsTable>): SecurityGroup {
  const inbound = parseJson<SecurityRule[]>(r.inbound_rules, []);
  const outbound = parseJson<SecurityRule[]>(r.outbound_rules, []);
  const sg: SecurityGroup = {
    id: r.id,
    vpc_id: r.vpc_id,
    description: r.description,
    revision: Number(r.revision),
  };
  if (inbound.length > 0) sg.inbound_rules = inbound;
  if (outbound.length > 0) sg.outbound_rules = outbound;
  return sg;
}

export function regKeyView(r: Row<RegKeysTable>): RegKey {
  const k: RegKey = {
    id: r.id,
    owner_id: r.owner_id,
    vpc_id: r.vpc_id,
    description: r.description,
    bearer_token: r.bearer_token,
    single_use: r.single_use === 1,
    settings: parseJson<Record<string, unknown>>(r.settings, {}),
  };
  if (r.expires_at) k.expires_at = r.expires_at;
  if (r.device_id) k.device_id = r.device_id;
  if (r.security_group_id) k.security_group_id = r.security_group_id;
  return k;
}
