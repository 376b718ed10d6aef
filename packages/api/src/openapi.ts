// SPDX-License-Identifier: Apache-2.0
// The OpenAPI 3.0 document the server serves at GET /openapi.json, built from the same const schemas the
// server validates with (schemas.ts). Paths follow the original Nexodus API.
import * as s from './schemas.js';

const schemas = {
  Error: s.errorSchema,
  User: s.userSchema,
  Organization: s.organizationSchema,
  AddOrganization: s.addOrganizationSchema,
  VPC: s.vpcSchema,
  AddVPC: s.addVpcSchema,
  UpdateVPC: s.updateVpcSchema,
  Endpoint: s.endpointSchema,
  TunnelIP: s.tunnelIpSchema,
  Device: s.deviceSchema,
  AddDevice: s.addDeviceSchema,
  UpdateDevice: s.updateDeviceSchema,
  DeviceMetadata: s.deviceMetadataSchema,
  RegKey: s.regKeySchema,
  AddRegKey: s.addRegKeySchema,
  SecurityRule: s.securityRuleSchema,
  SecurityGroup: s.securityGroupSchema,
  AddSecurityGroup: s.addSecurityGroupSchema,
  UpdateSecurityGroup: s.updateSecurityGroupSchema,
  UpdateRegKey: s.updateRegKeySchema,
  UserOrganization: s.userOrganizationSchema,
  FeatureFlags: s.featureFlagsSchema,
  Invitation: s.invitationSchema,
  AddInvitation: s.addInvitationSchema,
  ServiceNetwork: s.serviceNetworkSchema,
  AddServiceNetwork: s.addServiceNetworkSchema,
  UpdateServiceNetwork: s.updateServiceNetworkSchema,
  Site: s.siteSchema,
  AddSite: s.addSiteSchema,
  UpdateSite: s.updateSiteSchema,
  Watch: s.watchSchema,
  WatchEvent: s.watchEventSchema,
} as const;

type SchemaName = keyof typeof schemas;
const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
const list = (name: SchemaName) => ({ type: 'array', items: ref(name) });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = {
  '400': { description: 'bad request; `field` names the offending field', content: json(ref('Error')) },
  '401': { description: 'not authenticated', content: json(ref('Error')) },
  '403': { description: 'not allowed for this credential', content: json(ref('Error')) },
  '404': { description: 'not found (or not yours)', content: json(ref('Error')) },
  '429': { description: 'rate limited', content: json(ref('Error')) },
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const uidParam = { name: 'uid', in: 'path', required: true, schema: { type: 'string' } };
const keyParam = { name: 'key', in: 'path', required: true, schema: { type: 'string' } };

interface Op {
  operationId: string;
  summary: string;
  tags: string[];
  params?: unknown[];
  body?: unknown;
  status?: number;
  result?: unknown;
  produces?: string;
}

function op(o: Op) {
  const status = String(o.status ?? 200);
  return {
    operationId: o.operationId,
    summary: o.summary,
    tags: o.tags,
    security: [{ bearer: [] }],
    ...(o.params ? { parameters: o.params } : {}),
    ...(o.body ? { requestBody: { required: true, content: json(o.body) } } : {}),
    responses: {
      [status]:
        o.result === undefined
          ? { description: 'No Content' }
          : {
              description: 'OK',
              content: o.produces ? { [o.produces]: { schema: o.result } } : json(o.result),
            },
      ...errors,
      ...(o.status === 201
        ? { '409': { description: 'already exists; `id` names it', content: json(ref('Error')) } }
        : {}),
    },
  };
}

const watchOp = (id: string) =>
  op({
    operationId: id,
    summary: 'Watch devices, device metadata and security groups of a VPC',
    tags: ['VPC'],
    params: [idParam, { name: 'public_key', in: 'query', required: false, schema: { type: 'string' } }],
    body: { type: 'array', items: ref('Watch') },
    result: ref('WatchEvent'),
    produces: s.WATCH_CONTENT_TYPE,
  });

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'Nexodus API',
    version: '1.0',
    description:
      'The Nexodus control plane (TypeScript implementation). Errors are the original\'s bodies (`{"error":"not found","resource"}`, `{"error":"operation not allowed","reason"}`, `{"error":"path parameter invalid","field"}`, `{"id","error":"resource already exists"}`), else `{"error": ..., "code": "NEX_ERR_..."}`.',
    license: { name: 'Apache 2.0', url: 'http://www.apache.org/licenses/LICENSE-2.0.html' },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas,
  },
  paths: {
    '/api/users/me': {
      get: op({
        operationId: 'GetUserMe',
        summary: 'The user a token acts for',
        tags: ['Users'],
        result: ref('User'),
      }),
    },
    '/api/users': {
      get: op({
        operationId: 'ListUsers',
        summary: 'The users you can see',
        tags: ['Users'],
        result: list('User'),
      }),
    },
    '/api/users/{id}': {
      get: op({
        operationId: 'GetUser',
        summary: 'One user',
        tags: ['Users'],
        params: [idParam],
        result: ref('User'),
      }),
    },
    '/api/users/{id}/organizations/{organization}': {
      delete: op({
        operationId: 'DeleteUserFromOrganization',
        summary: 'Leave an organization (an owner cannot)',
        tags: ['Users'],
        params: [idParam, { name: 'organization', in: 'path', required: true, schema: { type: 'string' } }],
        status: 204,
      }),
    },
    '/api/fflags': {
      get: op({
        operationId: 'ListFeatureFlags',
        summary: 'Feature flags',
        tags: ['FFlag'],
        result: ref('FeatureFlags'),
      }),
    },
    '/api/fflags/{name}': {
      get: op({
        operationId: 'GetFeatureFlag',
        summary: 'One feature flag',
        tags: ['FFlag'],
        params: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        result: ref('FeatureFlags'),
      }),
    },
    '/api/organizations/{id}/users': {
      get: op({
        operationId: 'ListOrganizationUsers',
        summary: 'Members of an organization',
        tags: ['Organizations'],
        params: [idParam],
        result: list('UserOrganization'),
      }),
    },
    '/api/organizations/{id}/users/{uid}': {
      get: op({
        operationId: 'GetOrganizationUser',
        summary: 'One member of an organization',
        tags: ['Organizations'],
        params: [idParam, uidParam],
        result: ref('UserOrganization'),
      }),
      delete: op({
        operationId: 'DeleteOrganizationUser',
        summary: 'Remove a member (an owner cannot be removed)',
        tags: ['Organizations'],
        params: [idParam, uidParam],
        status: 204,
      }),
    },
    '/api/organizations': {
      get: op({
        operationId: 'ListOrganizations',
        summary: 'Organizations, by name',
        tags: ['Organizations'],
        result: list('Organization'),
      }),
      post: op({
        operationId: 'CreateOrganization',
        summary: 'Create an organization',
        tags: ['Organizations'],
        body: ref('AddOrganization'),
        status: 201,
        result: ref('Organization'),
      }),
    },
    '/api/organizations/{id}': {
      get: op({
        operationId: 'GetOrganization',
        summary: 'One organization',
        tags: ['Organizations'],
        params: [idParam],
        result: ref('Organization'),
      }),
      delete: op({
        operationId: 'DeleteOrganization',
        summary: 'Delete an organization without VPCs',
        tags: ['Organizations'],
        params: [idParam],
        result: ref('Organization'),
      }),
    },
    '/api/vpcs': {
      get: op({ operationId: 'ListVPCs', summary: 'VPCs', tags: ['VPC'], result: list('VPC') }),
      post: op({
        operationId: 'CreateVPC',
        summary: 'Create a VPC',
        tags: ['VPC'],
        body: ref('AddVPC'),
        status: 201,
        result: ref('VPC'),
      }),
    },
    '/api/vpcs/{id}': {
      get: op({
        operationId: 'GetVPC',
        summary: 'One VPC',
        tags: ['VPC'],
        params: [idParam],
        result: ref('VPC'),
      }),
      patch: op({
        operationId: 'UpdateVPC',
        summary: 'Update a VPC',
        tags: ['VPC'],
        params: [idParam],
        body: ref('UpdateVPC'),
        result: ref('VPC'),
      }),
      delete: op({
        operationId: 'DeleteVPC',
        summary: 'Delete a VPC (not the default one)',
        tags: ['VPC'],
        params: [idParam],
        result: ref('VPC'),
      }),
    },
    '/api/vpcs/{id}/devices': {
      get: op({
        operationId: 'ListDevicesInVPC',
        summary: 'Devices of a VPC, by hostname',
        tags: ['VPC'],
        params: [idParam],
        result: list('Device'),
      }),
    },
    '/api/vpcs/{id}/metadata': {
      get: op({
        operationId: 'ListMetadataInVPC',
        summary: 'Device metadata of a VPC, by key',
        tags: ['VPC'],
        params: [
          idParam,
          { name: 'key', in: 'query', required: false, schema: { type: 'array', items: { type: 'string' } } },
          {
            name: 'prefix',
            in: 'query',
            required: false,
            schema: { type: 'array', items: { type: 'string' } },
          },
        ],
        result: list('DeviceMetadata'),
      }),
    },
    '/api/vpcs/{id}/security-groups': {
      get: op({
        operationId: 'ListSecurityGroupsInVPC',
        summary: 'Security groups of a VPC',
        tags: ['VPC'],
        params: [idParam],
        result: list('SecurityGroup'),
      }),
    },
    '/api/vpcs/{id}/events': { post: watchOp('WatchEvents') },
    '/api/vpc/{id}/events': { post: watchOp('WatchEventsReferenceSpelling') },
    '/api/events': {
      post: op({
        operationId: 'Watch',
        summary: "Watch one VPC, named per kind in options (`vpc-id`); default: the token's VPC",
        tags: ['Events'],
        params: [{ name: 'public_key', in: 'query', required: false, schema: { type: 'string' } }],
        body: { type: 'array', items: ref('Watch') },
        result: ref('WatchEvent'),
        produces: s.WATCH_CONTENT_TYPE,
      }),
    },
    '/api/devices': {
      get: op({
        operationId: 'ListDevices',
        summary: 'Devices, by hostname',
        tags: ['Devices'],
        result: list('Device'),
      }),
      post: op({
        operationId: 'CreateDevice',
        summary: 'Register a device',
        tags: ['Devices'],
        body: ref('AddDevice'),
        status: 201,
        result: ref('Device'),
      }),
    },
    '/api/devices/{id}': {
      get: op({
        operationId: 'GetDevice',
        summary: 'One device',
        tags: ['Devices'],
        params: [idParam],
        result: ref('Device'),
      }),
      patch: op({
        operationId: 'UpdateDevice',
        summary: 'Update a device',
        tags: ['Devices'],
        params: [idParam],
        body: ref('UpdateDevice'),
        result: ref('Device'),
      }),
      delete: op({
        operationId: 'DeleteDevice',
        summary: 'Delete a device and free its addresses',
        tags: ['Devices'],
        params: [idParam],
        result: ref('Device'),
      }),
    },
    '/api/devices/{id}/metadata': {
      get: op({
        operationId: 'ListDeviceMetadata',
        summary: 'Metadata of a device, by key',
        tags: ['Devices'],
        params: [idParam],
        result: list('DeviceMetadata'),
      }),
      delete: op({
        operationId: 'DeleteDeviceMetadata',
        summary: 'Delete every metadata key of a device',
        tags: ['Devices'],
        params: [idParam],
        status: 204,
      }),
    },
    '/api/devices/{id}/metadata/{key}': {
      get: op({
        operationId: 'GetDeviceMetadataKey',
        summary: 'One metadata value',
        tags: ['Devices'],
        params: [idParam, keyParam],
        result: ref('DeviceMetadata'),
      }),
      put: op({
        operationId: 'UpdateDeviceMetadataKey',
        summary: 'Set a metadata value (the body is any JSON)',
        tags: ['Devices'],
        params: [idParam, keyParam],
        body: {},
        result: ref('DeviceMetadata'),
      }),
      delete: op({
        operationId: 'DeleteDeviceMetadataKey',
        summary: 'Delete a metadata value',
        tags: ['Devices'],
        params: [idParam, keyParam],
        result: ref('DeviceMetadata'),
      }),
    },
    '/api/reg-keys': {
      get: op({
        operationId: 'ListRegKeys',
        summary: 'Registration keys',
        tags: ['RegKey'],
        result: list('RegKey'),
      }),
      post: op({
        operationId: 'CreateRegKey',
        summary: 'Create a registration key',
        tags: ['RegKey'],
        body: ref('AddRegKey'),
        status: 201,
        result: ref('RegKey'),
      }),
    },
    '/api/reg-keys/{id}': {
      get: op({
        operationId: 'GetRegKey',
        summary: 'One registration key (`me` with a reg-key token)',
        tags: ['RegKey'],
        params: [idParam],
        result: ref('RegKey'),
      }),
      patch: op({
        operationId: 'UpdateRegKey',
        summary: 'Change a registration key (description, expiry, security group, settings)',
        tags: ['RegKey'],
        params: [idParam],
        body: ref('UpdateRegKey'),
        result: ref('RegKey'),
      }),
      delete: op({
        operationId: 'DeleteRegKey',
        summary: 'Delete a registration key',
        tags: ['RegKey'],
        params: [idParam],
        result: ref('RegKey'),
      }),
    },
    '/api/security-groups': {
      get: op({
        operationId: 'ListSecurityGroups',
        summary: 'Security groups',
        tags: ['SecurityGroup'],
        result: list('SecurityGroup'),
      }),
      post: op({
        operationId: 'CreateSecurityGroup',
        summary: 'Create a security group',
        tags: ['SecurityGroup'],
        body: ref('AddSecurityGroup'),
        status: 201,
        result: ref('SecurityGroup'),
      }),
    },
    '/api/security-groups/{id}': {
      get: op({
        operationId: 'GetSecurityGroup',
        summary: 'One security group',
        tags: ['SecurityGroup'],
        params: [idParam],
        result: ref('SecurityGroup'),
      }),
      patch: op({
        operationId: 'UpdateSecurityGroup',
        summary: 'Update a security group',
        tags: ['SecurityGroup'],
        params: [idParam],
        body: ref('UpdateSecurityGroup'),
        result: ref('SecurityGroup'),
      }),
      delete: op({
        operationId: 'DeleteSecurityGroup',
        summary: 'Delete a security group',
        tags: ['SecurityGroup'],
        params: [idParam],
        result: ref('SecurityGroup'),
      }),
    },
    '/api/invitations': {
      get: op({
        operationId: 'ListInvitations',
        summary: 'Invitations for you and into organizations you own, by id',
        tags: ['Invitation'],
        result: list('Invitation'),
      }),
      post: op({
        operationId: 'CreateInvitation',
        summary: 'Invite a user (by user_id or email) into an organization you own',
        tags: ['Invitation'],
        body: ref('AddInvitation'),
        status: 201,
        result: ref('Invitation'),
      }),
    },
    '/api/invitations/{id}': {
      get: op({
        operationId: 'GetInvitation',
        summary: 'One invitation (its invitee or an owner of its organization)',
        tags: ['Invitation'],
        params: [idParam],
        result: ref('Invitation'),
      }),
      delete: op({
        operationId: 'DeleteInvitation',
        summary: 'Withdraw (owner) or decline (invitee) an invitation',
        tags: ['Invitation'],
        params: [idParam],
        status: 204,
      }),
    },
    '/api/invitations/{id}/accept': {
      post: op({
        operationId: 'AcceptInvitation',
        summary: 'Accept an invitation: join its organization with its roles (no body)',
        tags: ['Invitation'],
        params: [idParam],
        status: 204,
      }),
    },
    '/api/service-networks': {
      get: op({
        operationId: 'ListServiceNetworks',
        summary: 'Service networks of your organizations, by description',
        tags: ['ServiceNetwork'],
        result: list('ServiceNetwork'),
      }),
      post: op({
        operationId: 'CreateServiceNetwork',
        summary: 'Create a service network in an organization',
        tags: ['ServiceNetwork'],
        body: ref('AddServiceNetwork'),
        status: 201,
        result: ref('ServiceNetwork'),
      }),
    },
    '/api/service-networks/{id}': {
      get: op({
        operationId: 'GetServiceNetwork',
        summary: 'One service network',
        tags: ['ServiceNetwork'],
        params: [idParam],
        result: ref('ServiceNetwork'),
      }),
      patch: op({
        operationId: 'UpdateServiceNetwork',
        summary: 'Update a service network',
        tags: ['ServiceNetwork'],
        params: [idParam],
        body: ref('UpdateServiceNetwork'),
        result: ref('ServiceNetwork'),
      }),
      delete: op({
        operationId: 'DeleteServiceNetwork',
        summary: 'Delete a service network without sites',
        tags: ['ServiceNetwork'],
        params: [idParam],
        result: ref('ServiceNetwork'),
      }),
    },
    '/api/service-networks/{id}/sites': {
      get: op({
        operationId: 'ListSitesInServiceNetwork',
        summary: 'Sites of a service network, by hostname',
        tags: ['ServiceNetwork'],
        params: [idParam],
        result: list('Site'),
      }),
    },
    '/api/ServiceNetworks/{id}/sites': {
      get: op({
        operationId: 'ListSitesInServiceNetworkReferenceSpelling',
        summary: "The reference document's spelling of /api/service-networks/{id}/sites",
        tags: ['ServiceNetwork'],
        params: [idParam],
        result: list('Site'),
      }),
    },
    '/api/sites': {
      get: op({
        operationId: 'ListSites',
        summary: 'Your sites, by hostname',
        tags: ['Sites'],
        result: list('Site'),
      }),
      post: op({
        operationId: 'CreateSite',
        summary: 'Add a site to a service network (the `sites` feature flag)',
        tags: ['Sites'],
        body: ref('AddSite'),
        status: 201,
        result: ref('Site'),
      }),
    },
    '/api/sites/{id}': {
      get: op({
        operationId: 'GetSite',
        summary: 'One site',
        tags: ['Sites'],
        params: [idParam],
        result: ref('Site'),
      }),
      patch: op({
        operationId: 'UpdateSite',
        summary: 'Update a site',
        tags: ['Sites'],
        params: [idParam],
        body: ref('UpdateSite'),
        result: ref('Site'),
      }),
      delete: op({
        operationId: 'DeleteSite',
        summary: 'Delete a site',
        tags: ['Sites'],
        params: [idParam],
        result: ref('Site'),
      }),
    },
  },
} as const;
