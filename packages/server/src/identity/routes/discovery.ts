// SPDX-License-Identifier: Apache-2.0
// OpenID Connect Discovery 1.0 / RFC 8414 metadata, the RFC 7517 JWK Set, and the original Nexodus
// DeviceStart endpoint that tells nexd where to begin a device login.
import type { FastifyInstance } from 'fastify';
import { DEFAULT_CLIENT_ID, IDENTITY_PATHS, type IdentityService } from '../service.js';

const stringArray = { type: 'array', items: { type: 'string' } } as const;

const discoverySchema = {
  type: 'object',
  properties: {
    issuer: { type: 'string' },
    token_endpoint: { type: 'string' },
    authorization_endpoint: { type: 'string' },
    response_types_supported: stringArray,
    code_challenge_methods_supported: stringArray,
    device_authorization_endpoint: { type: 'string' },
    jwks_uri: { type: 'string' },
    grant_types_supported: stringArray,
    token_endpoint_auth_methods_supported: stringArray,
    scopes_supported: stringArray,
    claims_supported: stringArray,
    subject_types_supported: stringArray,
    id_token_signing_alg_values_supported: stringArray,
  },
  required: [
    'issuer',
    'token_endpoint',
    'device_authorization_endpoint',
    'jwks_uri',
    'grant_types_supported',
  ],
} as const;

const jwksSchema = {
  type: 'object',
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        // Public EC key members only (RFC 7518 §6.2.1); `d` can never leak through this schema.
        properties: {
          kty: { type: 'string' },
          crv: { type: 'string' },
          x: { type: 'string' },
          y: { type: 'string' },
          kid: { type: 'string' },
          alg: { type: 'string' },
          use: { type: 'string' },
        },
        required: ['kty', 'kid', 'alg'],
      },
    },
  },
  required: ['keys'],
} as const;

/** models.DeviceStartResponse of the reference API. */
const deviceStartSchema = {
  type: 'object',
  properties: {
    issuer: { type: 'string' },
    client_id: { type: 'string' },
    device_authorization_endpoint: { type: 'string' },
    server_time: { type: 'string', format: 'date-time' },
  },
  required: ['issuer', 'client_id', 'device_authorization_endpoint', 'server_time'],
} as const;

/** Metadata changes only with a new key or a restart; let clients cache it briefly. */
const METADATA_MAX_AGE_SECONDS = 300;

export async function discoveryRoutes(
  app: FastifyInstance,
  opts: { identity: IdentityService },
): Promise<void> {
  const { identity } = opts;

  app.get(
    IDENTITY_PATHS.discovery,
    { schema: { response: { 200: discoverySchema } } },
    async (_req, reply) => {
      reply.header('cache-control', `public, max-age=${METADATA_MAX_AGE_SECONDS}`);
      return identity.discoveryDocument();
    },
  );

  app.get(IDENTITY_PATHS.jwks, { schema: { response: { 200: jwksSchema } } }, async (_req, reply) => {
    reply.header('cache-control', `public, max-age=${METADATA_MAX_AGE_SECONDS}`);
    return identity.jwks();
  });
}

/**
 * The original's DeviceStart (`POST /device/login/start`), served at the API's root even when the issuer has a
 * path of its own (as a Keycloak realm has): a client finds the issuer here, then discovers the rest.
 */
export async function deviceStartRoutes(
  app: FastifyInstance,
  opts: { identity: IdentityService },
): Promise<void> {
  const { identity } = opts;
  // DeviceStart takes no body; the original clients POST with or without one, so any body is ignored.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 4096 }, (_req, _body, done) =>
      done(null, undefined),
    );
    const handler = async () => ({
      issuer: identity.issuer,
      client_id: DEFAULT_CLIENT_ID,
      device_authorization_endpoint: `${identity.issuer}${IDENTITY_PATHS.deviceAuthorization}`,
      server_time: identity.now().toISOString(),
    });
    scope.get(IDENTITY_PATHS.deviceStart, { schema: { response: { 200: deviceStartSchema } } }, handler);
    scope.post(IDENTITY_PATHS.deviceStart, { schema: { response: { 200: deviceStartSchema } } }, handler);
  });
}
