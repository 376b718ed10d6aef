// SPDX-License-Identifier: Apache-2.0
// /api/reg-keys: registration keys, bound to a VPC, single-use or reusable, optionally expiring.
import { randomUUID } from 'node:crypto';
import {
  type AddRegKey,
  addRegKeySchema,
  regKeySchema,
  type UpdateRegKey,
  updateRegKeySchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { isUuid, ownedVpc, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import { badPathParam, NexError, notFound } from '../errors.js';
import { newToken, REG_KEY_TOKEN_PREFIX } from '../tokens.js';
import { regKeyView } from '../views.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

export async function regKeyRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  const owned = async (userId: string, id: string) => {
    if (!isUuid(id)) throw badPathParam('id');
    const k = await ctx.db.selectFrom('reg_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!k || k.owner_id !== userId) throw notFound('reg key');
    return k;
  };

  const expiry = (text: string): string => {
    const t = Date.parse(text);
    if (Number.isNaN(t))
      throw new NexError('NEX_ERR_VALIDATION', 'expires_at: expected an RFC 3339 time', {
        field: 'expires_at',
      });
    return new Date(t).toISOString();
  };
  const checkGroup = async (vpcId: string, id: string): Promise<void> => {
    const sg = isUuid(id)
      ? await ctx.db.selectFrom('security_groups').select('vpc_id').where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!sg || sg.vpc_id !== vpcId) {
      throw new NexError('NEX_ERR_VALIDATION', 'security_group_id: no such security group in this VPC', {
        field: 'security_group_id',
      });
    }
  };

  app.get('/api/reg-keys', { schema: { response: responses(200, arrayOf(regKeySchema)) } }, async (req) => {
    const p = principalOf(req);
    requireUser(p);
    const rows = await ctx.db
      .selectFrom('reg_keys')
      .selectAll()
      .where('owner_id', '=', p.userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(regKeyView);
  });

  app.post<{ Body: AddRegKey }>(
    '/api/reg-keys',
    { schema: { body: addRegKeySchema, response: responses(201, regKeySchema) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const vpc = await ownedVpc(ctx, p, req.body.vpc_id);
      let expiresAt: string | null = null;
      if (req.body.expires_at !== undefined) {
        const t = Date.parse(req.body.expires_at);
        if (Number.isNaN(t))
          throw new NexError('NEX_ERR_VALIDATION', 'expires_at: expected an RFC 3339 time', {
            field: 'expires_at',
          });
        if (t <= Date.now())
          throw new NexError(
            'NEX_ERR_VALIDATION',
            `expires_at: ${req.body.expires_at} is in the past; give a future time or omit it`,
            { field: 'expires_at' },
          );
        expiresAt = new Date(t).toISOString();
      }
      if (req.body.security_group_id) {
        const sg = await ctx.db
          .selectFrom('security_groups')
          .select('vpc_id')
          .where('id', '=', req.body.security_group_id)
          .executeTakeFirst();
        if (!sg || sg.vpc_id !== vpc.id) {
          throw new NexError('NEX_ERR_VALIDATION', 'security_group_id: no such security group in this VPC', {
            field: 'security_group_id',
          });
        }
      }
      const { token, hash } = newToken(REG_KEY_TOKEN_PREFIX);
      const row = {
        id: randomUUID(),
        owner_id: p.userId,
        vpc_id: vpc.id,
        description: req.body.description ?? '',
        bearer_token_hash: hash,
        bearer_token: token,
        single_use: req.body.single_use ? 1 : 0,
        expires_at: expiresAt,
        device_id: null,
        security_group_id: req.body.security_group_id ?? null,
        settings: JSON.stringify(req.body.settings ?? {}),
        created_at: new Date().toISOString(),
      };
      await ctx.db.insertInto('reg_keys').values(row).execute();
      return reply.code(201).send(regKeyView(row));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/reg-keys/:id',
    { schema: { params: idParams, response: responses(200, regKeySchema) } },
    async (req) => {
      const p = principalOf(req);
      if (p.kind === 'reg-key' && (req.params.id === 'me' || req.params.id === p.regKeyId)) {
        const k = await ctx.db
          .selectFrom('reg_keys')
          .selectAll()
          .where('id', '=', p.regKeyId)
          .executeTakeFirstOrThrow();
        return regKeyView(k);
      }
      requireUser(p);
      return regKeyView(await owned(p.userId, req.params.id));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/reg-keys/:id',
    { schema: { params: idParams, response: responses(200, regKeySchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const k = await owned(p.userId, req.params.id);
      await ctx.db.deleteFrom('reg_keys').where('id', '=', k.id).execute();
      return regKeyView(k);
    },
  );

  // The original's UpdateRegKey: description, expiry, security group and settings; the VPC and the token stay.
  app.patch<{ Params: { id: string }; Body: UpdateRegKey }>(
    '/api/reg-keys/:id',
    { schema: { params: idParams, body: updateRegKeySchema, response: responses(200, regKeySchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const k = await owned(p.userId, req.params.id);
      const body = req.body ?? {};
      const patch: {
        description?: string;
        expires_at?: string;
        security_group_id?: string;
        settings?: string;
      } = {};
      if (body.description !== undefined) patch.description = body.description;
      if (body.expires_at !== undefined) patch.expires_at = expiry(body.expires_at);
      if (body.security_group_id !== undefined) {
        await checkGroup(k.vpc_id, body.security_group_id);
        patch.security_group_id = body.security_group_id;
      }
      if (body.settings !== undefined) patch.settings = JSON.stringify(body.settings);
      if (Object.keys(patch).length > 0) {
        await ctx.db.updateTable('reg_keys').set(patch).where('id', '=', k.id).execute();
      }
      return regKeyView({ ...k, ...patch });
    },
  );
}
