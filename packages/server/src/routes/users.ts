// SPDX-License-Identifier: Apache-2.0
// /api/users: who the token acts for (`me`), and the users a user can see: themselves and the members of the
// organizations they belong to (owners and those who accepted an invitation). Tokens see their owner only.
import { type User, userSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { isUuid } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import { badPathParam, notFound } from '../errors.js';
import { membersOf, organizationIdsOf } from '../membership.js';
import { byText } from '../order.js';
import type { Principal } from '../principal.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/** Finds a username for a device/reg-key token's owner (identity's getUser), if identity is present. */
export type LookupUser = (id: string) => Promise<{ id: string; username: string } | undefined>;

export async function userRoutes(
  app: FastifyInstance,
  opts: { lookupUser: LookupUser | undefined; ctx: ServerContext },
): Promise<void> {
  // The original's user: {id, full_name, picture, username}; the profile fields from user_profiles.
  const me = async (p: Principal): Promise<User> => {
    if (p.kind === 'user') return loadUser(opts.ctx, p.userId, p.username);
    const u = opts.lookupUser ? await opts.lookupUser(p.ownerId) : undefined;
    return loadUser(opts.ctx, p.ownerId, u?.username ?? '');
  };

  app.get('/api/users/me', { schema: { response: responses(200, userSchema) } }, async (req) =>
    me(principalOf(req)),
  );

  /** Me first, then the other members of my organizations by username. */
  const visible = async (p: Principal): Promise<User[]> => {
    const self = await me(p);
    if (p.kind !== 'user') return [self];
    const others = new Map<string, string>();
    for (const orgId of await organizationIdsOf(opts.ctx, p.userId)) {
      const org = await opts.ctx.db
        .selectFrom('organizations')
        .selectAll()
        .where('id', '=', orgId)
        .executeTakeFirst();
      if (!org) continue;
      for (const m of await membersOf(opts.ctx, org))
        if (m.userId !== self.id) others.set(m.userId, m.username);
    }
    const rest = [...others]
      .sort(
        byText(
          ([, name]) => name,
          ([id]) => id,
        ),
      )
      .map(([id, name]) => loadUser(opts.ctx, id, name));
    return [self, ...(await Promise.all(rest))];
  };

  app.get('/api/users', { schema: { response: responses(200, arrayOf(userSchema)) } }, async (req) =>
    visible(principalOf(req)),
  );

  app.get<{ Params: { id: string } }>(
    '/api/users/:id',
    { schema: { params: idParams, response: responses(200, userSchema) } },
    async (req) => {
      const p = principalOf(req);
      if (req.params.id === 'me') return me(p);
      if (!isUuid(req.params.id)) throw badPathParam('id');
      const u = (await visible(p)).find((x) => x.id === req.params.id);
      if (!u) throw notFound('user');
      return u;
    },
  );
}

/** The user with its profile (empty full_name and picture when it has none). */
export async function loadUser(ctx: ServerContext, id: string, username: string): Promise<User> {
  const p = await ctx.db
    .selectFrom('user_profiles')
    .select(['full_name', 'picture'])
    .where('user_id', '=', id)
    .executeTakeFirst();
  return { id, full_name: p?.full_name ?? '', picture: p?.picture ?? '', username };
}
