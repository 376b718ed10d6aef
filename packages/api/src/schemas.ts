// SPDX-License-Identifier: Apache-2.0
// The REST contract as `const` JSON Schemas (draft-07 subset that both Ajv in Fastify and OpenAPI 3.0 read).
// Field names follow the original Nexodus API (reference/nexodus-openapi.yaml). TypeScript types are derived
// from these with json-schema-to-ts `FromSchema`, so the served document, the server's validation and the
// client's types cannot drift apart.
import type { FromSchema } from 'json-schema-to-ts';

const uuid = { type: 'string', format: 'uuid' } as const;

export const errorSchema = {
  type: 'object',
  // Property order is the serialized order: the original writes a conflict as {"id", "error"}.
  properties: {
    id: { type: 'string', description: 'for 409 conflicts: the id of the existing object' },
    error: { type: 'string', description: 'what went wrong and what to do' },
    code: { type: 'string', description: 'stable NEX_ERR_* code (absent on the original-shaped bodies)' },
    field: { type: 'string', description: 'the request field (or path parameter) that is invalid' },
    reason: { type: 'string', description: 'why the operation is not allowed, or the parameter invalid' },
    resource: { type: 'string', description: 'for 404s: the kind of object not found, i.e. device' },
  },
  required: ['error'],
  additionalProperties: false,
} as const;
export type ErrorBody = FromSchema<typeof errorSchema>;

export const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    full_name: { type: 'string' },
    picture: { type: 'string' },
    username: { type: 'string' },
  },
  required: ['id', 'full_name', 'picture', 'username'],
  additionalProperties: false,
} as const;
export type User = FromSchema<typeof userSchema>;

export const organizationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
  },
  required: ['id', 'name', 'description'],
  additionalProperties: false,
} as const;
export type Organization = FromSchema<typeof organizationSchema>;

/** A member of an organization (models.UserOrganization); we have one member per organization, its owner. */
export const userOrganizationSchema = {
  type: 'object',
  properties: {
    organization_id: { type: 'string' },
    user_id: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    user: userSchema,
  },
  required: ['organization_id', 'user_id', 'roles', 'user'],
  additionalProperties: false,
} as const;
export type UserOrganization = FromSchema<typeof userOrganizationSchema>;

/** GET /api/fflags: the original's feature flags, what this service implements. */
export const featureFlagsSchema = {
  type: 'object',
  additionalProperties: { type: 'boolean' },
} as const;
export type FeatureFlags = Record<string, boolean>;

export const addOrganizationSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    description: { type: 'string', maxLength: 256 },
  },
  required: ['name'],
  additionalProperties: false,
} as const;
export type AddOrganization = FromSchema<typeof addOrganizationSchema>;

export const vpcSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    organization_id: { type: 'string' },
    description: { type: 'string' },
    ipv4_cidr: { type: 'string' },
    ipv6_cidr: { type: 'string' },
    private_cidr: { type: 'boolean' },
    revision: { type: 'integer' },
  },
  required: ['id', 'organization_id', 'description', 'ipv4_cidr', 'ipv6_cidr', 'private_cidr', 'revision'],
  additionalProperties: false,
} as const;
export type Vpc = FromSchema<typeof vpcSchema>;

export const addVpcSchema = {
  type: 'object',
  properties: {
    organization_id: uuid,
    description: { type: 'string', maxLength: 256 },
    ipv4_cidr: { type: 'string', maxLength: 64, description: 'default 100.100.0.0/16' },
    ipv6_cidr: { type: 'string', maxLength: 64, description: 'default 200::/64' },
    private_cidr: { type: 'boolean' },
  },
  required: ['organization_id'],
  additionalProperties: false,
} as const;
export type AddVpc = FromSchema<typeof addVpcSchema>;

export const updateVpcSchema = {
  type: 'object',
  properties: { description: { type: 'string', maxLength: 256 } },
  additionalProperties: false,
} as const;
export type UpdateVpc = FromSchema<typeof updateVpcSchema>;

export const endpointSchema = {
  type: 'object',
  properties: {
    source: {
      type: 'string',
      maxLength: 32,
      description: 'how the endpoint was discovered, i.e. "local" or "stun:..."',
    },
    address: { type: 'string', maxLength: 128, description: 'host:port, i.e. 10.1.1.1:51820' },
  },
  required: ['source', 'address'],
  additionalProperties: false,
} as const;
export type Endpoint = FromSchema<typeof endpointSchema>;

export const tunnelIpSchema = {
  type: 'object',
  properties: {
    address: { type: 'string', maxLength: 64 },
    cidr: { type: 'string', maxLength: 64 },
  },
  required: ['address'],
  additionalProperties: false,
} as const;
export type TunnelIp = FromSchema<typeof tunnelIpSchema>;

export const deviceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    owner_id: { type: 'string' },
    vpc_id: { type: 'string' },
    public_key: { type: 'string' },
    hostname: { type: 'string' },
    os: { type: 'string' },
    endpoints: { type: 'array', items: endpointSchema },
    advertise_cidrs: { type: 'array', items: { type: 'string' } },
    allowed_ips: { type: 'array', items: { type: 'string' } },
    ipv4_tunnel_ips: { type: 'array', items: tunnelIpSchema },
    ipv6_tunnel_ips: { type: 'array', items: tunnelIpSchema },
    relay: { type: 'boolean' },
    symmetric_nat: { type: 'boolean' },
    security_group_id: { type: 'string' },
    online: { type: 'boolean' },
    online_at: { type: 'string' },
    revision: { type: 'integer' },
    bearer_token: { type: 'string', description: 'the token nexd uses to reconcile device state' },
  },
  required: [
    'id',
    'owner_id',
    'vpc_id',
    'public_key',
    'hostname',
    'os',
    'endpoints',
    'advertise_cidrs',
    'allowed_ips',
    'ipv4_tunnel_ips',
    'ipv6_tunnel_ips',
    'relay',
    'symmetric_nat',
    'online',
    'revision',
  ],
  additionalProperties: false,
} as const;
export type Device = FromSchema<typeof deviceSchema>;

/** A WireGuard public key: 32 bytes, standard base64 (44 characters ending in '='). */
export const WG_KEY_PATTERN = '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$';

export const addDeviceSchema = {
  type: 'object',
  properties: {
    public_key: { type: 'string', pattern: WG_KEY_PATTERN },
    vpc_id: uuid,
    hostname: { type: 'string', maxLength: 253 },
    os: { type: 'string', maxLength: 64 },
    endpoints: { type: 'array', maxItems: 32, items: endpointSchema },
    advertise_cidrs: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } },
    ipv4_tunnel_ips: { type: 'array', maxItems: 1, items: tunnelIpSchema, description: 'requested address' },
    relay: { type: 'boolean' },
    symmetric_nat: { type: 'boolean' },
    security_group_id: uuid,
  },
  required: ['public_key'],
  additionalProperties: false,
} as const;
export type AddDevice = FromSchema<typeof addDeviceSchema>;

export const updateDeviceSchema = {
  type: 'object',
  properties: {
    hostname: { type: 'string', maxLength: 253 },
    endpoints: { type: 'array', maxItems: 32, items: endpointSchema },
    advertise_cidrs: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } },
    relay: { type: 'boolean' },
    symmetric_nat: { type: 'boolean' },
    security_group_id: uuid,
    revision: { type: 'integer' },
  },
  additionalProperties: false,
} as const;
export type UpdateDevice = FromSchema<typeof updateDeviceSchema>;

export const deviceMetadataSchema = {
  type: 'object',
  properties: {
    device_id: { type: 'string' },
    key: { type: 'string' },
    value: {},
    revision: { type: 'integer' },
  },
  required: ['device_id', 'key', 'value', 'revision'],
  additionalProperties: false,
} as const;
export type DeviceMetadata = FromSchema<typeof deviceMetadataSchema>;

export const regKeySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    owner_id: { type: 'string' },
    vpc_id: { type: 'string' },
    description: { type: 'string' },
    bearer_token: { type: 'string' },
    single_use: { type: 'boolean' },
    expires_at: { type: 'string' },
    device_id: { type: 'string', description: 'set once a single-use key was used' },
    security_group_id: { type: 'string' },
    settings: { type: 'object', additionalProperties: true },
  },
  required: ['id', 'owner_id', 'vpc_id', 'description', 'single_use'],
  additionalProperties: false,
} as const;
export type RegKey = FromSchema<typeof regKeySchema>;

export const addRegKeySchema = {
  type: 'object',
  properties: {
    vpc_id: uuid,
    description: { type: 'string', maxLength: 256 },
    single_use: { type: 'boolean' },
    expires_at: { type: 'string', format: 'date-time' },
    security_group_id: uuid,
    settings: { type: 'object', additionalProperties: true },
  },
  required: ['vpc_id'],
  additionalProperties: false,
} as const;
export type AddRegKey = FromSchema<typeof addRegKeySchema>;

/** PATCH /api/reg-keys/{id} (models.UpdateRegKey): only the fields given change. */
export const updateRegKeySchema = {
  type: 'object',
  properties: {
    description: { type: 'string', maxLength: 256 },
    expires_at: { type: 'string', maxLength: 64, description: 'RFC 3339 time' },
    security_group_id: { type: 'string', maxLength: 64 },
    settings: { type: 'object', additionalProperties: true },
  },
  additionalProperties: false,
} as const;
export type UpdateRegKey = FromSchema<typeof updateRegKeySchema>;

export const securityRuleSchema = {
  type: 'object',
  properties: {
    ip_protocol: {
      type: 'string',
      enum: ['', 'ip', 'ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'icmpv4', 'icmpv6'],
    },
    from_port: { type: 'integer', minimum: 0, maximum: 65535 },
    to_port: { type: 'integer', minimum: 0, maximum: 65535 },
    ip_ranges: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 96 } },
  },
  required: ['ip_protocol'],
  additionalProperties: false,
} as const;
export type SecurityRule = FromSchema<typeof securityRuleSchema>;

export const securityGroupSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    vpc_id: { type: 'string' },
    description: { type: 'string' },
    inbound_rules: { type: 'array', items: securityRuleSchema },
    outbound_rules: { type: 'array', items: securityRuleSchema },
    revision: { type: 'integer' },
  },
  // The original omits empty rule lists (omitempty): absent means none.
  required: ['id', 'vpc_id', 'description', 'revision'],
  additionalProperties: false,
} as const;
export type SecurityGroup = FromSchema<typeof securityGroupSchema>;

export const addSecurityGroupSchema = {
  type: 'object',
  properties: {
    vpc_id: uuid,
    description: { type: 'string', maxLength: 256 },
    inbound_rules: { type: 'array', maxItems: 256, items: securityRuleSchema },
    outbound_rules: { type: 'array', maxItems: 256, items: securityRuleSchema },
  },
  required: ['vpc_id'],
  additionalProperties: false,
} as const;
export type AddSecurityGroup = FromSchema<typeof addSecurityGroupSchema>;

export const updateSecurityGroupSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', maxLength: 256 },
    inbound_rules: { type: 'array', maxItems: 256, items: securityRuleSchema },
    outbound_rules: { type: 'array', maxItems: 256, items: securityRuleSchema },
  },
  additionalProperties: false,
} as const;
export type UpdateSecurityGroup = FromSchema<typeof updateSecurityGroupSchema>;

export const WATCH_KINDS = ['device', 'device-metadata', 'security-group'] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

export const watchSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: WATCH_KINDS },
    gt_revision: { type: 'integer', minimum: 0 },
    at_tail: { type: 'boolean' },
    options: { type: 'object', additionalProperties: true },
  },
  required: ['kind'],
  additionalProperties: false,
} as const;
export type Watch = FromSchema<typeof watchSchema>;

export const watchListSchema = {
  type: 'array',
  minItems: 1,
  maxItems: 3,
  items: watchSchema,
} as const;

export const WATCH_EVENT_TYPES = ['change', 'delete', 'tail', 'bookmark', 'error'] as const;
export type WatchEventType = (typeof WATCH_EVENT_TYPES)[number];

export const watchEventSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: WATCH_EVENT_TYPES },
    kind: { type: 'string' },
    value: {},
  },
  required: ['type', 'kind'],
  additionalProperties: false,
} as const;

/** One line of an `application/json;stream=watch` body, typed by kind. */
export type WatchEvent =
  | { type: 'change' | 'delete'; kind: 'device'; value: Device }
  | { type: 'change' | 'delete'; kind: 'device-metadata'; value: DeviceMetadata }
  | { type: 'change' | 'delete'; kind: 'security-group'; value: SecurityGroup }
  | { type: 'tail'; kind: WatchKind; value?: undefined }
  | { type: 'bookmark'; kind: string; value?: { revision?: number } }
  | { type: 'error'; kind: string; value: ErrorBody };

/** The media type of the watch stream: one JSON object per line. */
export const WATCH_CONTENT_TYPE = 'application/json;stream=watch';

/** Roles a member of an organization can have (models.UserOrganization roles). */
export const ORGANIZATION_ROLES = ['owner', 'member'] as const;

/**
 * An invitation into an organization (models.Invitation). `user_id` and `email` appear only when set
 * (omitempty); `from` is the inviting user and `organization` the organization, both embedded.
 */
export const invitationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    user_id: { type: 'string' },
    email: { type: 'string' },
    from: userSchema,
    organization_id: { type: 'string' },
    organization: organizationSchema,
    roles: { type: 'array', items: { type: 'string' } },
    expires_at: { type: 'string', description: 'RFC 3339; an expired invitation cannot be accepted' },
  },
  required: ['id', 'organization_id', 'roles', 'expires_at'],
  additionalProperties: false,
} as const;
export type Invitation = FromSchema<typeof invitationSchema>;

/** POST /api/invitations: one of `user_id` or `email`; `roles` default `["member"]`. */
export const addInvitationSchema = {
  type: 'object',
  properties: {
    user_id: { type: 'string', maxLength: 64 },
    email: { type: 'string', minLength: 1, maxLength: 256 },
    organization_id: { type: 'string', maxLength: 64 },
    roles: {
      type: 'array',
      maxItems: ORGANIZATION_ROLES.length,
      items: { type: 'string', enum: ORGANIZATION_ROLES },
    },
  },
  additionalProperties: false,
} as const;
export type AddInvitation = FromSchema<typeof addInvitationSchema>;

/** A service network: interconnected sites of an organization (models.ServiceNetwork). */
export const serviceNetworkSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    organization_id: { type: 'string' },
    description: { type: 'string' },
    ca_certificates: { type: 'array', items: { type: 'string' } },
    revision: { type: 'integer' },
  },
  required: ['id', 'organization_id', 'description', 'revision'],
  additionalProperties: false,
} as const;
export type ServiceNetwork = FromSchema<typeof serviceNetworkSchema>;

export const addServiceNetworkSchema = {
  type: 'object',
  properties: {
    organization_id: { type: 'string', maxLength: 64 },
    description: { type: 'string', maxLength: 256 },
  },
  additionalProperties: false,
} as const;
export type AddServiceNetwork = FromSchema<typeof addServiceNetworkSchema>;

export const updateServiceNetworkSchema = {
  type: 'object',
  properties: { description: { type: 'string', maxLength: 256 } },
  additionalProperties: false,
} as const;
export type UpdateServiceNetwork = FromSchema<typeof updateServiceNetworkSchema>;

/** A site of a service network (models.Site); `online_at` is null until the site was online once. */
export const siteSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    revision: { type: 'integer' },
    owner_id: { type: 'string' },
    service_network_id: { type: 'string' },
    bearer_token: { type: 'string', description: 'the token the site uses; only for its owner' },
    hostname: { type: 'string' },
    os: { type: 'string' },
    name: { type: 'string' },
    platform: { type: 'string' },
    public_key: { type: 'string' },
    link_secret: { type: 'string' },
    online: { type: 'boolean' },
    online_at: { type: ['string', 'null'] },
  },
  required: [
    'id',
    'revision',
    'owner_id',
    'service_network_id',
    'hostname',
    'os',
    'name',
    'platform',
    'public_key',
    'link_secret',
    'online',
    'online_at',
  ],
  additionalProperties: false,
} as const;
export type Site = FromSchema<typeof siteSchema>;

export const addSiteSchema = {
  type: 'object',
  properties: {
    service_network_id: { type: 'string', maxLength: 64 },
    name: { type: 'string', maxLength: 253 },
    platform: { type: 'string', maxLength: 64 },
    public_key: { type: 'string', pattern: WG_KEY_PATTERN },
  },
  additionalProperties: false,
} as const;
export type AddSite = FromSchema<typeof addSiteSchema>;

export const updateSiteSchema = {
  type: 'object',
  properties: {
    hostname: { type: 'string', maxLength: 253 },
    os: { type: 'string', maxLength: 64 },
    link_secret: { type: 'string', maxLength: 1024 },
    revision: { type: 'integer', minimum: 0 },
  },
  additionalProperties: false,
} as const;
export type UpdateSite = FromSchema<typeof updateSiteSchema>;
