// SPDX-License-Identifier: Apache-2.0
// POST /oauth2/token (RFC 6749 §3.2): password (§4.3), refresh_token (§6) and device_code (RFC 8628 §3.4)
// grants, form-urlencoded (the standard) or JSON. Public clients only: client_id, no secret.
import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../errors.js';
import {
  DEFAULT_CLIENT_ID,
  DEVICE_CODE_GRANT_TYPE,
  IDENTITY_PATHS,
  type IdentityService,
} from '../service.js';
import { MAX_PASSWORD_LENGTH } from '../users.js';
import { noStore, oauthErrorHandler, oauthErrorSchema } from './oauth-errors.js';

/** Token requests are a handful of short fields. */
const TOKEN_BODY_LIMIT = 16 * 1024;

const tokenBodySchema = {
  type: 'object',
  properties: {
    grant_type: { type: 'string', minLength: 1, maxLength: 200 },
    client_id: { type: 'string', minLength: 1, maxLength: 200 },
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
    refresh_token: { type: 'string', maxLength: 512 },
    device_code: { type: 'string', maxLength: 512 },
    scope: { type: 'string', maxLength: 1000 },
  },
  required: ['grant_type'],
} as const;

const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string' },
    scope: { type: 'string' },
    id_token: { type: 'string' },
  },
  required: ['access_token', 'token_type', 'expires_in', 'refresh_token'],
} as const;

interface TokenBody {
  grant_type: string;
  client_id?: string;
  username?: string;
  password?: string;
  refresh_token?: string;
  device_code?: string;
  scope?: string;
}

function required(body: TokenBody, field: keyof TokenBody, grant: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') {
    throw new OAuthError('invalid_request', `grant_type ${grant} needs the ${field} parameter`);
  }
  return v;
}

export async function tokenRoutes(app: FastifyInstance, opts: { identity: IdentityService }): Promise<void> {
  const { identity } = opts;
  app.setErrorHandler(oauthErrorHandler);

  app.post<{ Body: TokenBody }>(
    IDENTITY_PATHS.token,
    {
      bodyLimit: TOKEN_BODY_LIMIT,
      schema: {
        body: tokenBodySchema,
        response: { 200: tokenResponseSchema, '4xx': oauthErrorSchema, '5xx': oauthErrorSchema },
      },
    },
    async (req, reply) => {
      noStore(reply);
      const body = req.body;
      const clientId = body.client_id ?? DEFAULT_CLIENT_ID;
      if (!identity.isKnownClient(clientId)) {
        throw new OAuthError(
          'invalid_client',
          `unknown client_id ${JSON.stringify(clientId)}; expected ${DEFAULT_CLIENT_ID}`,
        );
      }
      switch (body.grant_type) {
        case 'password':
          return identity.passwordGrant({
            username: required(body, 'username', 'password'),
            password: required(body, 'password', 'password'),
            clientId,
            scope: body.scope,
            address: req.ip,
          });
        case 'refresh_token':
          return identity.refreshGrant({
            refreshToken: required(body, 'refresh_token', 'refresh_token'),
            clientId,
          });
        case DEVICE_CODE_GRANT_TYPE:
          // RFC 8628 §3.4: client_id is REQUIRED for a public client here.
          if (body.client_id === undefined) {
            throw new OAuthError(
              'invalid_request',
              `grant_type ${DEVICE_CODE_GRANT_TYPE} needs the client_id parameter`,
            );
          }
          return identity.deviceCodeGrant({
            deviceCode: required(body, 'device_code', DEVICE_CODE_GRANT_TYPE),
            clientId,
          });
        default:
          throw new OAuthError(
            'unsupported_grant_type',
            `grant_type ${JSON.stringify(body.grant_type)} is not supported; expected password, refresh_token or ${DEVICE_CODE_GRANT_TYPE}`,
          );
      }
    },
  );
}
