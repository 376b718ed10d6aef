// SPDX-License-Identifier: Apache-2.0
// POST /oauth2/token (RFC 6749 §3.2): password (§4.3), refresh_token (§6), device_code (RFC 8628 §3.4)
// and authorization_code with PKCE (§4.1.3, RFC 7636 §4.5; the web UI's client only) grants, form-urlencoded (the standard) or JSON. Public clients only: client_id, no secret.
import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../errors.js';
import {
  AUTHORIZATION_CODE_GRANT_TYPE,
  DEFAULT_CLIENT_ID,
  DEVICE_CODE_GRANT_TYPE,
  IDENTITY_PATHS,
  type IdentityService,
  WEB_CLIENT_ID,
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
    code: { type: 'string', maxLength: 4096 },
    redirect_uri: { type: 'string', maxLength: 2048 },
    code_verifier: { type: 'string', maxLength: 128 },
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
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  scope?: string;
}

const BASIC = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i;

/**
 * The client_id of a request: RFC 6749 §2.3.1 allows HTTP Basic (client_id:secret, form-urlencoded
 * parts) or the body parameter. Public clients have no secret, so a non-empty one is refused.
 */
function clientIdOf(authorization: string | undefined, bodyClientId: string | undefined): string | undefined {
  if (authorization === undefined) return bodyClientId;
  const m = BASIC.exec(authorization);
  if (!m)
    throw new OAuthError(
      'invalid_client',
      'unsupported Authorization header: expected Basic client_id: or none',
    );
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent((colon < 0 ? decoded : decoded.slice(0, colon)).replace(/\+/g, ' '));
    secret = colon < 0 ? '' : decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    throw new OAuthError('invalid_client', 'the Basic credentials are not form-urlencoded');
  }
  if (secret !== '')
    throw new OAuthError('invalid_client', `client ${JSON.stringify(id)} is public and has no secret`);
  if (bodyClientId !== undefined && bodyClientId !== id) {
    throw new OAuthError(
      'invalid_request',
      'client_id in the body differs from the one in the Authorization header',
    );
  }
  return id;
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
      const explicitClientId = clientIdOf(req.headers.authorization, body.client_id);
      const clientId = explicitClientId ?? DEFAULT_CLIENT_ID;
      if (!identity.isKnownClient(clientId)) {
        throw new OAuthError(
          'invalid_client',
          `unknown client_id ${JSON.stringify(clientId)}; expected ${DEFAULT_CLIENT_ID}`,
        );
      }
      // The web UI is a browser app: it never sees a password (RFC 9700 §2.4) and has no device flow.
      if (
        clientId === WEB_CLIENT_ID &&
        body.grant_type !== AUTHORIZATION_CODE_GRANT_TYPE &&
        body.grant_type !== 'refresh_token'
      ) {
        throw new OAuthError(
          'unauthorized_client',
          `client ${WEB_CLIENT_ID} may only use grant_type ${AUTHORIZATION_CODE_GRANT_TYPE} or refresh_token`,
        );
      }
      switch (body.grant_type) {
        case AUTHORIZATION_CODE_GRANT_TYPE:
          if (clientId !== WEB_CLIENT_ID) {
            throw new OAuthError(
              'unauthorized_client',
              `grant_type ${AUTHORIZATION_CODE_GRANT_TYPE} is for client_id ${WEB_CLIENT_ID} only`,
            );
          }
          return identity.authorizationCodeGrant({
            code: required(body, 'code', AUTHORIZATION_CODE_GRANT_TYPE),
            redirectUri: required(body, 'redirect_uri', AUTHORIZATION_CODE_GRANT_TYPE),
            codeVerifier: required(body, 'code_verifier', AUTHORIZATION_CODE_GRANT_TYPE),
            clientId,
          });
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
          if (explicitClientId === undefined) {
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
            `grant_type ${JSON.stringify(body.grant_type)} is not supported; expected password, refresh_token, ${AUTHORIZATION_CODE_GRANT_TYPE} or ${DEVICE_CODE_GRANT_TYPE}`,
          );
      }
    },
  );
}
