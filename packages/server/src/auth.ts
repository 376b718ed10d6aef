// SPDX-License-Identifier: Apache-2.0
// Request authentication: a Bearer token is tried as a user access token (identity), then as a device token,
// then as a registration key token. The result is `request.principal`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from './context.js';
import { ensureUserDefaults } from './defaults.js';
import { NexError } from './errors.js';
import type { Principal, UserPrincipal } from './principal.js';
import { DEVICE_TOKEN_PREFIX, hashToken, REG_KEY_TOKEN_PREFIX, SITE_TOKEN_PREFIX } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set instead of `principal` for a site's token, on the only routes it may call (SITE_ROUTES). */
    site?: { siteId: string; ownerId: string };
  }
}

/** What a site token may call: its own site, read and update (the original's device-token scope for sites). */
const SITE_ROUTES = new Set(['GET /api/sites/:id', 'PATCH /api/sites/:id']);

export type VerifyUserToken = (token: string) => Promise<UserPrincipal | undefined>;

/** Tokens longer than this are rejected before any parsing (a JWT of ours is well under 2 KiB). */
const MAX_TOKEN_LENGTH = 8192;

export async function resolvePrincipal(
  ctx: ServerContext,
  verifyUser: VerifyUserToken | undefined,
  token: string,
  now = new Date(),
): Promise<Principal> {
  if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('the bearer token is too long');
  if (token.startsWith(DEVICE_TOKEN_PREFIX)) {
    const d = await ctx.db
      .selectFrom('devices')
      .select(['id', 'vpc_id', 'owner_id'])
      .where('bearer_token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!d) throw unauthenticated('unknown device token (was the device deleted?)');
    return { kind: 'device', deviceId: d.id, vpcId: d.vpc_id, ownerId: d.owner_id };
  }
  if (token.startsWith(REG_KEY_TOKEN_PREFIX)) {
    const k = await ctx.db
      .selectFrom('reg_keys')
      .selectAll()
      .where('bearer_token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!k) throw unauthenticated('unknown registration key');
    if (k.expires_at && Date.parse(k.expires_at) <= now.getTime()) {
      throw unauthenticated(`the registration key expired at ${k.expires_at}; create a new one`);
    }
    // A used single-use key is dead for every route: the device it registered has its own token.
    if (k.single_use === 1 && k.device_id) {
      throw new NexError(
        'NEX_ERR_REG_KEY_USED',
        'this single-use registration key was already used; the device it registered uses its own token (nexd keeps it in its state), or create a new key',
      );
    }
    return {
      kind: 'reg-key',
      regKeyId: k.id,
      vpcId: k.vpc_id,
      ownerId: k.owner_id,
      singleUse: k.single_use === 1,
      deviceId: k.device_id ?? undefined,
      securityGroupId: k.security_group_id ?? undefined,
    };
  }
  const user = verifyUser ? await verifyUser(token) : undefined;
  if (!user) throw unauthenticated('invalid or expired access token; log in again');
  return user;
}

function unauthenticated(message: string): NexError {
  return new NexError('NEX_ERR_UNAUTHENTICATED', message);
}

export function makeAuthHook(
  ctx: ServerContext,
  verifyUser: VerifyUserToken | undefined,
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (req) => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
    if (!m?.[1]) throw unauthenticated('missing "Authorization: Bearer <token>" header');
    if (m[1].startsWith(SITE_TOKEN_PREFIX)) {
      const s = await ctx.db
        .selectFrom('sites')
        .select(['id', 'owner_id'])
        .where('bearer_token_hash', '=', hashToken(m[1]))
        .executeTakeFirst();
      if (!s) throw unauthenticated('unknown site token (was the site deleted?)');
      if (!SITE_ROUTES.has(`${req.method} ${req.routeOptions.url}`)) {
        throw new NexError('NEX_ERR_FORBIDDEN', 'a site token may only read and update its own site');
      }
      req.site = { siteId: s.id, ownerId: s.owner_id };
      return;
    }
    const principal = await resolvePrincipal(ctx, verifyUser, m[1]);
    if (principal.kind === 'user') await ensureUserDefaults(ctx, principal);
    req.principal = principal;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated('not authenticated');
  return req.principal;
}
