// SPDX-License-Identifier: Apache-2.0
// Admin-only user management: GET/POST /api/admin/users, DELETE /api/admin/users/{username}.
// A Bearer access token of a user with admin=true is required: none or invalid -> 401, not admin -> 403.
// Errors are `{"error": message, "code": "IDENTITY_ERR_..."}` (the Nexodus error body plus a stable code).
import type { FastifyError, FastifyInstance } from 'fastify';
import { IdentityError } from '../errors.js';
import { IDENTITY_PATHS, type IdentityService } from '../service.js';
import { MAX_PASSWORD_LENGTH } from '../users.js';

const ADMIN_BODY_LIMIT = 16 * 1024;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' }, field: { type: 'string' } },
  required: ['error'],
} as const;

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    admin: { type: 'boolean' },
    created_at: { type: 'string' },
  },
  required: ['id', 'username', 'admin', 'created_at'],
} as const;

const createBodySchema = {
  type: 'object',
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
    admin: { type: 'boolean' },
  },
  required: ['username', 'password'],
  additionalProperties: false,
} as const;

const usernameParamsSchema = {
  type: 'object',
  properties: { username: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['username'],
} as const;

const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

export async function adminUserRoutes(
  app: FastifyInstance,
  opts: { identity: IdentityService },
): Promise<void> {
  const { identity } = opts;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof IdentityError) {
      if (err.code === 'IDENTITY_ERR_UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer');
      return reply.code(err.statusCode).send({ error: err.message, code: err.code });
    }
    if (err.validation) {
      const v = err.validation[0];
      const missing =
        (v?.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
      const field =
        missing.missingProperty ?? missing.additionalProperty ?? v?.instancePath.replace(/^\//, '');
      return reply
        .code(400)
        .send({ error: err.message, code: 'IDENTITY_ERR_BAD_REQUEST', field: field || undefined });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: err.message, code: 'IDENTITY_ERR_BAD_REQUEST' });
    }
    req.log.error({ err }, 'identity: admin API failed');
    return reply.code(500).send({ error: 'internal error; see the server log' });
  });

  // Runs before body validation, so an anonymous caller learns nothing about the expected body.
  app.addHook('onRequest', async (req) => {
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m) {
      throw new IdentityError(
        'IDENTITY_ERR_UNAUTHENTICATED',
        'missing bearer token: send Authorization: Bearer <access token>',
      );
    }
    const principal = await identity.verifyAccessToken(m[1]);
    if (!principal) {
      throw new IdentityError(
        'IDENTITY_ERR_UNAUTHENTICATED',
        'the access token is invalid or expired; log in again',
      );
    }
    if (!principal.admin) {
      throw new IdentityError(
        'IDENTITY_ERR_FORBIDDEN',
        `user ${JSON.stringify(principal.username)} is not an admin`,
      );
    }
  });

  app.get(
    IDENTITY_PATHS.adminUsers,
    { schema: { response: { 200: { type: 'array', items: userSchema }, ...errorResponses } } },
    async () => identity.listUsers(),
  );

  app.post<{ Body: { username: string; password: string; admin?: boolean } }>(
    IDENTITY_PATHS.adminUsers,
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: { body: createBodySchema, response: { 201: userSchema, ...errorResponses } },
    },
    async (req, reply) => {
      const created = await identity.createUser(req.body.username, req.body.password, {
        admin: req.body.admin === true,
      });
      const user = await identity.getUser(created.id);
      if (!user)
        throw new IdentityError(
          'IDENTITY_ERR_USER_NOT_FOUND',
          `user ${created.username} was deleted concurrently`,
        );
      return reply.code(201).send(user);
    },
  );

  app.delete<{ Params: { username: string } }>(
    `${IDENTITY_PATHS.adminUsers}/:username`,
    { schema: { params: usernameParamsSchema, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (req, reply) => {
      const deleted = await identity.deleteUser(req.params.username);
      if (!deleted) {
        throw new IdentityError(
          'IDENTITY_ERR_USER_NOT_FOUND',
          `user ${JSON.stringify(req.params.username)} does not exist`,
        );
      }
      return reply.code(204).send();
    },
  );
}
