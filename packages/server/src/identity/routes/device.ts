// SPDX-License-Identifier: Apache-2.0
// RFC 8628 device authorization: POST /oauth2/device_authorization (§3.1/3.2) for nexd, and the
// verification page GET/POST /device (§3.3) where a person types the code and approves or denies it.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { IdentityError, OAuthError } from '../errors.js';
import { IDENTITY_PATHS, type IdentityService } from '../service.js';
import { MAX_PASSWORD_LENGTH } from '../users.js';
import {
  renderVerificationPage,
  VERIFICATION_PAGE_HEADERS,
  type VerificationView,
} from '../verification-page.js';
import { noStore, oauthErrorHandler, oauthErrorSchema } from './oauth-errors.js';

const SMALL_BODY_LIMIT = 16 * 1024;

const deviceAuthorizationBodySchema = {
  type: 'object',
  properties: {
    client_id: { type: 'string', minLength: 1, maxLength: 200 },
    scope: { type: 'string', maxLength: 1000 },
  },
  required: ['client_id'],
} as const;

const deviceAuthorizationResponseSchema = {
  type: 'object',
  properties: {
    device_code: { type: 'string' },
    user_code: { type: 'string' },
    verification_uri: { type: 'string' },
    verification_uri_complete: { type: 'string' },
    expires_in: { type: 'integer' },
    interval: { type: 'integer' },
  },
  required: ['device_code', 'user_code', 'verification_uri', 'expires_in', 'interval'],
} as const;

const pageQuerySchema = {
  type: 'object',
  properties: { user_code: { type: 'string', maxLength: 64 } },
} as const;

const pageBodySchema = {
  type: 'object',
  properties: {
    user_code: { type: 'string', maxLength: 64 },
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
    action: { type: 'string', enum: ['approve', 'deny'] },
  },
  required: ['user_code', 'username', 'password', 'action'],
} as const;

interface PageBody {
  user_code: string;
  username: string;
  password: string;
  action: 'approve' | 'deny';
}

function sendPage(reply: FastifyReply, status: number, view: VerificationView): FastifyReply {
  return (
    reply
      .code(status)
      .headers(VERIFICATION_PAGE_HEADERS)
      // The page posts back to where it is served (under the issuer's path, when it has one).
      .send(renderVerificationPage(view, reply.request.routeOptions.url ?? IDENTITY_PATHS.verification))
  );
}

export async function deviceRoutes(app: FastifyInstance, opts: { identity: IdentityService }): Promise<void> {
  const { identity } = opts;

  // The OAuth2 endpoint: errors in RFC 6749 form.
  await app.register(async (scope) => {
    scope.setErrorHandler(oauthErrorHandler);
    scope.post<{ Body: { client_id: string; scope?: string } }>(
      IDENTITY_PATHS.deviceAuthorization,
      {
        bodyLimit: SMALL_BODY_LIMIT,
        schema: {
          body: deviceAuthorizationBodySchema,
          response: {
            200: deviceAuthorizationResponseSchema,
            '4xx': oauthErrorSchema,
            '5xx': oauthErrorSchema,
          },
        },
      },
      async (req, reply) => {
        noStore(reply);
        if (!identity.isKnownClient(req.body.client_id)) {
          throw new OAuthError('invalid_client', `unknown client_id ${JSON.stringify(req.body.client_id)}`);
        }
        return identity.startDeviceAuthorization({
          clientId: req.body.client_id,
          scope: req.body.scope,
          address: req.ip,
        });
      },
    );
  });

  // The verification page: errors as the page again, with a message.
  await app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, req, reply) => {
      if (err instanceof IdentityError && err.code === 'IDENTITY_ERR_BUSY') {
        reply.header('retry-after', String(err.retryAfterSeconds ?? 1));
        return sendPage(reply, 503, { kind: 'form', error: 'The server is busy; try again in a moment.' });
      }
      if (err.validation) {
        return sendPage(reply, 400, {
          kind: 'form',
          error: `The form was incomplete or malformed (${err.message}).`,
        });
      }
      const status = err.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendPage(reply, status, { kind: 'form', error: err.message });
      req.log.error({ err }, 'identity: verification page failed');
      return sendPage(reply, 500, { kind: 'form', error: 'Something went wrong on the server; try again.' });
    });

    scope.get<{ Querystring: { user_code?: string } }>(
      IDENTITY_PATHS.verification,
      { schema: { querystring: pageQuerySchema } },
      async (req, reply) => sendPage(reply, 200, { kind: 'form', userCode: req.query.user_code }),
    );

    scope.post<{ Body: PageBody }>(
      IDENTITY_PATHS.verification,
      { bodyLimit: SMALL_BODY_LIMIT, schema: { body: pageBodySchema } },
      async (req, reply) => {
        const { user_code: userCode, username, password, action } = req.body;
        const retry = (status: number, error: string) =>
          sendPage(reply, status, { kind: 'form', userCode, username, error });
        // Credentials first: without them nobody learns whether a code exists.
        const check = await identity.checkPassword(username, password, req.ip);
        if (!check.ok) {
          if (check.reason === 'rate-limited') {
            reply.header('retry-after', String(check.retryAfterSeconds));
            return retry(429, `Too many failed logins; try again in ${check.retryAfterSeconds} seconds.`);
          }
          return retry(401, 'The username or password is wrong.');
        }
        const outcome = await identity.decideDeviceRequest(userCode, check.user.id, action === 'approve');
        switch (outcome) {
          case 'approved':
            return sendPage(reply, 200, { kind: 'approved' });
          case 'denied':
            return sendPage(reply, 200, { kind: 'denied' });
          case 'malformed':
            return retry(400, 'That is not a valid code: it has 8 letters, like BCDF-GHJK.');
          case 'not-found':
            return retry(400, 'No login request has that code; check the code your device shows.');
          case 'expired':
            return retry(400, 'That code has expired; start the login on your device again.');
          case 'already-decided':
            return retry(409, 'That code was already used; start the login on your device again.');
          default: {
            const never: never = outcome;
            throw new Error(`unhandled outcome ${String(never)}`);
          }
        }
      },
    );
  });
}
