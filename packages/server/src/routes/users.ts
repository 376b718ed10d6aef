// SPDX-License-Identifier: Apache-2.0
// /api/users: who the token acts for (`me`), and the users a user can see. Users see only themselves here: an
// organization has one member, its owner (no invitations have been accepted into it).
import { type User, userSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { isUuid } from '../access.js';
import { principalOf } from '../auth.js';
import { badPathParam, notFound } from '../errors.js';
import type { Principal } from '../principal.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/** Finds a username for a device/reg-key token's owner (identity's getUser), if identity is present. */
export type LookupUser = (id: string) => Promise<{ id: string; username: string } | undefined>;

export async function userRoutes(
  app: FastifyInstance,
  opts: { lookupUser: LookupUser | undefined },
): Promise<void> {
  // The original's user: {id, full_name, picture, username}; we keep no full name or picture yet.
  const me = async (p: Principal): Promise<User> => {
    if (p.kind === 'user') return userView(p.userId, p.username);
    const u = opts.lookupUser ? await opts.lookupUser(p.ownerId) : undefined;
    return userView(p.ownerId, u?.username ?? '');
  };

  app.get('/api/users/me', { schema: { response: responses(200, userSchema) } }, async (req) =>
    me(principalOf(req)),
  );

  app.get('/api/users', { schema: { response: responses(200, arrayOf(userSchema)) } }, async (req) => [
    await me(principalOf(req)),
  ]);

  app.get<{ Params: { id: string } }>(
    '/api/users/:id',
    { schema: { params: idParams, response: responses(200, userSchema) } },
    async (req) => {
      const u = await me(principalOf(req));
      if (req.params.id === 'me' || req.params.id === u.id) return u;
      if (!isUuid(req.params.id)) throw badPathParam('id');
      throw notFound('user');
    },
  );
}

export function userView(id: string, username: string): User {
  return { id, full_name: '', picture: '', username };
}
