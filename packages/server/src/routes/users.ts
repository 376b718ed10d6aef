// SPDX-License-Identifier: Apache-2.0
// /api/users/me: who the token acts for.
import { userSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth.js';
import { responses } from './route-schemas.js';

/** Finds a username for a device/reg-key token's owner (identity's getUser), if identity is present. */
export type LookupUser = (id: string) => Promise<{ id: string; username: string } | undefined>;

export async function userRoutes(
  app: FastifyInstance,
  opts: { lookupUser: LookupUser | undefined },
): Promise<void> {
  app.get('/api/users/me', { schema: { response: responses(200, userSchema) } }, async (req) => {
    const p = principalOf(req);
    // The original's user: {id, full_name, picture, username}; we keep no full name or picture yet.
    if (p.kind === 'user') return { id: p.userId, full_name: '', picture: '', username: p.username };
    const u = opts.lookupUser ? await opts.lookupUser(p.ownerId) : undefined;
    return { id: p.ownerId, full_name: '', picture: '', username: u?.username ?? '' };
  });
}
