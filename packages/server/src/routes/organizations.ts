// SPDX-License-Identifier: Apache-2.0
// /api/organizations: a user's organizations (the default one has the user's id), listed by name: those the
// user owns and those an accepted invitation made them a member of (membership.ts).
import { randomUUID } from 'node:crypto';
import {
  type AddOrganization,
  addOrganizationSchema,
  organizationSchema,
  type UserOrganization,
  userOrganizationSchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { isUuid, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import { uniqueViolation } from '../db/constraints.js';
import { badPathParam, NexError, notFound } from '../errors.js';
import { membersOf, organizationIdsOf, roleIn } from '../membership.js';
import { byText } from '../order.js';
import type { Principal } from '../principal.js';
import { organizationView } from '../views.js';
import { arrayOf, idParams, responses } from './route-schemas.js';
import { loadUser } from './users.js';

/** An organization the principal may read: a user's own or one they are a member of; a token's VPC's. */
export async function readableOrg(ctx: ServerContext, p: Principal, id: string) {
  if (!isUuid(id)) throw badPathParam('id');
  const org = await ctx.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  if (!org) throw notFound('organization');
  const ok =
    p.kind === 'user'
      ? (await roleIn(ctx, org, p.userId)) !== undefined
      : org.id === (await vpcOrg(ctx, p.vpcId));
  if (!ok) throw notFound('organization');
  return org;
}

async function vpcOrg(ctx: ServerContext, vpcId: string): Promise<string | undefined> {
  const v = await ctx.db
    .selectFrom('vpcs')
    .select('organization_id')
    .where('id', '=', vpcId)
    .executeTakeFirst();
  return v?.organization_id;
}

export async function organizationRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  app.get(
    '/api/organizations',
    { schema: { response: responses(200, arrayOf(organizationSchema)) } },
    async (req) => {
      const p = principalOf(req);
      let q = ctx.db.selectFrom('organizations').selectAll();
      if (p.kind === 'user') {
        const ids = await organizationIdsOf(ctx, p.userId);
        q = q.where('id', 'in', ids.length > 0 ? ids : ['']);
      } else q = q.where('id', '=', (await vpcOrg(ctx, p.vpcId)) ?? '');
      const rows = (await q.execute()).sort(
        byText(
          (r) => r.name,
          (r) => r.id,
        ),
      );
      return rows.map(organizationView);
    },
  );

  app.post<{ Body: AddOrganization }>(
    '/api/organizations',
    { schema: { body: addOrganizationSchema, response: responses(201, organizationSchema) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const row = {
        id: randomUUID(),
        name: req.body.name,
        description: req.body.description ?? '',
        owner_id: p.userId,
        created_at: new Date().toISOString(),
      };
      try {
        await ctx.db.insertInto('organizations').values(row).execute();
      } catch (err) {
        if (!uniqueViolation(err)) throw err;
        const existing = await ctx.db
          .selectFrom('organizations')
          .select('id')
          .where('owner_id', '=', p.userId)
          .where('name', '=', row.name)
          .executeTakeFirst();
        throw new NexError(
          'NEX_ERR_CONFLICT',
          `an organization named ${row.name} already exists`,
          existing ? { id: existing.id } : {},
        );
      }
      return reply.code(201).send(organizationView(row));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/organizations/:id',
    { schema: { params: idParams, response: responses(200, organizationSchema) } },
    async (req) => organizationView(await readableOrg(ctx, principalOf(req), req.params.id)),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/organizations/:id',
    { schema: { params: idParams, response: responses(200, organizationSchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const org = await readableOrg(ctx, p, req.params.id);
      // Members see the organization, only its owner deletes it.
      if (org.owner_id !== p.userId) throw notFound('organization');
      if (org.id === p.userId) {
        throw new NexError('NEX_ERR_DEFAULT_VPC', 'the default organization cannot be deleted');
      }
      const vpcs = await ctx.db
        .selectFrom('vpcs')
        .select('id')
        .where('organization_id', '=', org.id)
        .execute();
      if (vpcs.length > 0) {
        throw new NexError(
          'NEX_ERR_VALIDATION',
          `the organization still has ${vpcs.length} VPC(s); delete them first`,
          {
            field: 'id',
          },
        );
      }
      await ctx.db.deleteFrom('organizations').where('id', '=', org.id).execute();
      return organizationView(org);
    },
  );

  // Members (models.UserOrganization): the owner (role `owner`) and those who accepted an invitation.
  const members = async (p: Principal, orgId: string): Promise<UserOrganization[]> => {
    requireUser(p);
    const org = await readableOrg(ctx, p, orgId);
    const list = await membersOf(ctx, org);
    return Promise.all(
      list.map(async (m) => ({
        organization_id: org.id,
        user_id: m.userId,
        roles: m.roles,
        user: await loadUser(ctx, m.userId, m.username),
      })),
    );
  };
  const memberParams = {
    type: 'object',
    properties: { id: { type: 'string', maxLength: 64 }, uid: { type: 'string', maxLength: 256 } },
    required: ['id', 'uid'],
  } as const;

  /**
   * Removes `uid` from the organization: an owner removes anyone but the organization's owner (who cannot be
   * left without it), a member removes only themselves (leaving). Anyone else: 404, existence never leaks.
   */
  const removeMember = async (p: Principal, orgId: string, uid: string): Promise<void> => {
    requireUser(p);
    const org = await readableOrg(ctx, p, orgId);
    const userId = uid === 'me' ? p.userId : uid;
    const target = (await membersOf(ctx, org)).find((m) => m.userId === userId);
    if (!target) throw notFound('user');
    if (userId === org.owner_id) {
      throw new NexError('NEX_ERR_FORBIDDEN', 'the owner of an organization cannot be removed from it');
    }
    if (userId !== p.userId && (await roleIn(ctx, org, p.userId)) !== 'owner') {
      throw new NexError('NEX_ERR_FORBIDDEN', 'only an owner of the organization may remove other members');
    }
    await ctx.db
      .deleteFrom('organization_members')
      .where('organization_id', '=', org.id)
      .where('user_id', '=', userId)
      .execute();
  };

  app.get<{ Params: { id: string } }>(
    '/api/organizations/:id/users',
    { schema: { params: idParams, response: responses(200, arrayOf(userOrganizationSchema)) } },
    async (req) => members(principalOf(req), req.params.id),
  );

  app.get<{ Params: { id: string; uid: string } }>(
    '/api/organizations/:id/users/:uid',
    { schema: { params: memberParams, response: responses(200, userOrganizationSchema) } },
    async (req) => {
      const m = (await members(principalOf(req), req.params.id)).find((x) => x.user_id === req.params.uid);
      if (!m) throw notFound('user');
      return m;
    },
  );

  app.delete<{ Params: { id: string; uid: string } }>(
    '/api/organizations/:id/users/:uid',
    { schema: { params: memberParams } },
    async (req, reply) => {
      await removeMember(principalOf(req), req.params.id, req.params.uid);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string; organization: string } }>(
    '/api/users/:id/organizations/:organization',
    {
      schema: {
        params: {
          type: 'object',
          properties: {
            id: { type: 'string', maxLength: 256 },
            organization: { type: 'string', maxLength: 64 },
          },
          required: ['id', 'organization'],
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      if (!isUuid(req.params.organization)) throw badPathParam('organization');
      await removeMember(p, req.params.organization, req.params.id);
      return reply.code(204).send();
    },
  );
}
