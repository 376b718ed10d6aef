// SPDX-License-Identifier: Apache-2.0
// /api/invitations: an owner of an organization invites a user (by id, or by e-mail: the login name) to join
// it with roles; the invitee accepts (joins) or deletes (declines) it, an owner may withdraw it. An invitation
// expires a week after it was made (models.NewInvitation); an expired one is still listed but cannot be
// accepted, and a new one for the same user and organization may then be made.
import { randomUUID } from 'node:crypto';
import { type AddInvitation, addInvitationSchema, type Invitation, invitationSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import type { Selectable } from 'kysely';
import { isUuid, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import type { InvitationsTable } from '../db/schema.js';
import { badPathParam, fieldNotPresent, NexError, notFound } from '../errors.js';
import { membersOf, organizationIdsOf, organizationNamed, roleIn } from '../membership.js';
import { byText } from '../order.js';
import type { UserPrincipal } from '../principal.js';
import { organizationView } from '../views.js';
import { arrayOf, idParams, inOrder, responses } from './route-schemas.js';
import { loadUser } from './users.js';

/** How long an invitation can be accepted (the original's seven days). */
export const INVITATION_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
const DEFAULT_ROLES = ['member'];

type Row = Selectable<InvitationsTable>;

const parseRoles = (text: string): string[] => {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
};

/** Whether the invitation is addressed to this user (by id, or by e-mail before the user existed). */
const isFor = (r: Row, u: UserPrincipal): boolean =>
  r.user_id === u.userId || (r.user_id === null && r.email !== null && r.email === u.username);

export async function invitationRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  /** The API object with `from` and `organization` embedded (omitted if either was deleted meanwhile). */
  async function view(r: Row): Promise<Invitation> {
    const inv: Invitation = { id: r.id, organization_id: r.organization_id, roles: [], expires_at: '' };
    if (r.user_id) inv.user_id = r.user_id;
    if (r.email) inv.email = r.email;
    const from = await ctx.db
      .selectFrom('users')
      .select('username')
      .where('id', '=', r.from_id)
      .executeTakeFirst();
    if (from) inv.from = await loadUser(ctx, r.from_id, from.username);
    inv.organization_id = r.organization_id;
    const org = await ctx.db
      .selectFrom('organizations')
      .selectAll()
      .where('id', '=', r.organization_id)
      .executeTakeFirst();
    if (org) inv.organization = organizationView(org);
    inv.roles = parseRoles(r.roles);
    inv.expires_at = r.expires_at;
    return inv;
  }

  /** Invitations the user may see: addressed to them, or into an organization they own. */
  async function visible(u: UserPrincipal): Promise<Row[]> {
    const owned = await organizationIdsOf(ctx, u.userId, { owners: true });
    return ctx.db
      .selectFrom('invitations')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('user_id', '=', u.userId),
          eb.and([eb('user_id', 'is', null), eb('email', '=', u.username)]),
          eb('organization_id', 'in', owned.length > 0 ? owned : ['']),
        ]),
      )
      .execute();
  }

  async function visibleOne(u: UserPrincipal, id: string): Promise<Row> {
    if (!isUuid(id)) throw badPathParam('id');
    const r = (await visible(u)).find((x) => x.id === id);
    if (!r) throw notFound('invitation');
    return r;
  }

  app.post<{ Body: AddInvitation | undefined }>(
    '/api/invitations',
    { schema: { body: addInvitationSchema, response: responses(201, inOrder(invitationSchema)) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const body = req.body ?? {};
      if (!body.organization_id) throw fieldNotPresent('organization_id');
      if (!body.user_id && !body.email) throw fieldNotPresent('email or user_id');
      // Only an owner of the organization invites; to anyone else it does not exist.
      const org = await organizationNamed(ctx, body.organization_id);
      if (!org || (await roleIn(ctx, org, p.userId)) !== 'owner') throw notFound('organization');

      let userId: string | null = null;
      let email: string | null = null;
      if (body.user_id) {
        const u = isUuid(body.user_id)
          ? await ctx.db.selectFrom('users').select('id').where('id', '=', body.user_id).executeTakeFirst()
          : undefined;
        if (!u) throw notFound('user');
        userId = u.id;
      } else if (body.email) {
        // Login names are lower-case; a user who has this address as login name is the invitee.
        email = body.email.trim().toLowerCase();
        const u = await ctx.db
          .selectFrom('users')
          .select('id')
          .where('username', '=', email)
          .executeTakeFirst();
        userId = u?.id ?? null;
      }
      if (userId && (await membersOf(ctx, org)).some((m) => m.userId === userId)) {
        throw new NexError('NEX_ERR_FIELD_INVALID', 'user is already in requested org', {
          field: 'organization',
        });
      }
      const now = new Date();
      const pending = await ctx.db
        .selectFrom('invitations')
        .select(['id', 'expires_at'])
        .where('organization_id', '=', org.id)
        .where((eb) =>
          userId
            ? eb.or([eb('user_id', '=', userId), eb('email', '=', email ?? '')])
            : eb('email', '=', email ?? ''),
        )
        .execute();
      const live = pending.find((x) => Date.parse(x.expires_at) > now.getTime());
      if (live) throw new NexError('NEX_ERR_CONFLICT', 'an invitation is pending already', { id: live.id });

      const row: Row = {
        id: randomUUID(),
        organization_id: org.id,
        user_id: userId,
        email,
        from_id: p.userId,
        roles: JSON.stringify([...new Set(body.roles?.length ? body.roles : DEFAULT_ROLES)]),
        expires_at: new Date(now.getTime() + INVITATION_LIFETIME_MS).toISOString(),
        created_at: now.toISOString(),
      };
      await ctx.db.insertInto('invitations').values(row).execute();
      return reply.code(201).send(await view(row));
    },
  );

  app.get(
    '/api/invitations',
    { schema: { response: responses(200, arrayOf(inOrder(invitationSchema))) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const rows = (await visible(p)).sort(byText((r) => r.id));
      return Promise.all(rows.map(view));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/invitations/:id',
    { schema: { params: idParams, response: responses(200, inOrder(invitationSchema)) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      return view(await visibleOne(p, req.params.id));
    },
  );

  // The invitee declines, or an owner withdraws.
  app.delete<{ Params: { id: string } }>(
    '/api/invitations/:id',
    { schema: { params: idParams } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const r = await visibleOne(p, req.params.id);
      await ctx.db.deleteFrom('invitations').where('id', '=', r.id).execute();
      return reply.code(204).send();
    },
  );

  // Only the invitee accepts (an owner who can see the invitation gets 404 like anyone else), and only
  // before it expires. Joining and removing the invitation happen in one transaction.
  app.post<{ Params: { id: string } }>(
    '/api/invitations/:id/accept',
    { schema: { params: idParams } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      if (!isUuid(req.params.id)) throw badPathParam('id');
      const now = new Date().toISOString();
      await ctx.db.transaction().execute(async (trx) => {
        const r = await trx
          .selectFrom('invitations')
          .selectAll()
          .where('id', '=', req.params.id)
          .executeTakeFirst();
        if (!r || !isFor(r, p) || Date.parse(r.expires_at) <= Date.parse(now)) throw notFound('invitation');
        const org = await trx
          .selectFrom('organizations')
          .select(['id', 'owner_id'])
          .where('id', '=', r.organization_id)
          .executeTakeFirst();
        if (!org) throw notFound('organization');
        if (org.owner_id !== p.userId) {
          await trx
            .insertInto('organization_members')
            .values({ organization_id: org.id, user_id: p.userId, roles: r.roles, created_at: now })
            .onConflict((oc) => oc.columns(['organization_id', 'user_id']).doUpdateSet({ roles: r.roles }))
            .execute();
        }
        await trx.deleteFrom('invitations').where('id', '=', r.id).execute();
      });
      return reply.code(204).send();
    },
  );
}
