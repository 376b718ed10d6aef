// SPDX-License-Identifier: Apache-2.0
// /api/sites: a user's sites in the service networks of their organizations (models.Site), behind the `sites`
// feature flag as in the original (405 when off). A site gets a bearer token like a device does here: stored
// as its SHA-256 for lookups and shown (bearer_token) only to the site's owner and the site itself, whose
// token reads and updates its own site and nothing else (auth.ts). Listed by hostname.
import { randomUUID } from 'node:crypto';
import {
  type AddSite,
  addSiteSchema,
  type Site,
  siteSchema,
  type UpdateSite,
  updateSiteSchema,
} from '@nexodus/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Selectable } from 'kysely';
import { isUuid, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import { uniqueViolation } from '../db/constraints.js';
import type { SitesTable } from '../db/schema.js';
import { badPathParam, fieldNotPresent, NexError, notFound } from '../errors.js';
import { byText } from '../order.js';
import type { UserPrincipal } from '../principal.js';
import { newToken, SITE_TOKEN_PREFIX } from '../tokens.js';
import { requireFlag } from './fflags.js';
import { arrayOf, idParams, inOrder, responses } from './route-schemas.js';
import { nextTableRevision, readableServiceNetwork } from './service-networks.js';

type Row = Selectable<SitesTable>;

/** `online_at` is null until the site was online (the original's `*time.Time` without omitempty). */
export function siteView(r: Row, withToken: boolean): Site {
  const s: Site = {
    id: r.id,
    revision: Number(r.revision),
    owner_id: r.owner_id,
    service_network_id: r.service_network_id,
    hostname: r.hostname,
    os: r.os,
    name: r.name,
    platform: r.platform,
    public_key: r.public_key,
    link_secret: r.link_secret,
    online: r.online === 1,
    online_at: r.online_at,
  };
  if (withToken) s.bearer_token = r.bearer_token;
  return s;
}

async function ownSite(ctx: ServerContext, p: UserPrincipal, id: string): Promise<Row> {
  if (!isUuid(id)) throw badPathParam('id');
  const s = await ctx.db.selectFrom('sites').selectAll().where('id', '=', id).executeTakeFirst();
  if (!s || s.owner_id !== p.userId) throw notFound('site');
  return s;
}

export async function siteRoutes(
  app: FastifyInstance,
  opts: { ctx: ServerContext; flags: Readonly<Record<string, boolean>> },
): Promise<void> {
  const { ctx } = opts;
  /** Users only, and only with the flag on (the fixed 403 for tokens comes first, as everywhere). */
  const gate = (p: ReturnType<typeof principalOf>): UserPrincipal => {
    requireUser(p);
    requireFlag(opts.flags, 'sites');
    return p;
  };

  app.get(
    '/api/sites',
    { schema: { response: responses(200, arrayOf(inOrder(siteSchema))) } },
    async (req) => {
      const p = gate(principalOf(req));
      const rows = await ctx.db.selectFrom('sites').selectAll().where('owner_id', '=', p.userId).execute();
      return rows
        .sort(
          byText(
            (r) => r.hostname,
            (r) => r.id,
          ),
        )
        .map((r) => siteView(r, true));
    },
  );

  app.post<{ Body: AddSite | undefined }>(
    '/api/sites',
    { schema: { body: addSiteSchema, response: responses(201, inOrder(siteSchema)) } },
    async (req, reply) => {
      const p = gate(principalOf(req));
      const body = req.body ?? {};
      if (!body.public_key) throw fieldNotPresent('public_key');
      if (!body.service_network_id) throw fieldNotPresent('service_network_id');
      let sn: Awaited<ReturnType<typeof readableServiceNetwork>>;
      try {
        sn = await readableServiceNetwork(ctx, p, body.service_network_id);
      } catch (err) {
        // A body field is not a path parameter: a malformed id is a service network that does not exist.
        if (err instanceof NexError && err.code === 'NEX_ERR_BAD_PATH_PARAM')
          throw notFound('service_network');
        throw err;
      }
      const existing = await ctx.db
        .selectFrom('sites')
        .select('id')
        .where('public_key', '=', body.public_key)
        .executeTakeFirst();
      const conflict = (id: string) =>
        new NexError('NEX_ERR_CONFLICT', 'the public key has a site already', { id });
      if (existing) throw conflict(existing.id);
      const { token, hash } = newToken(SITE_TOKEN_PREFIX);
      const now = new Date().toISOString();
      try {
        const row = await ctx.db.transaction().execute(async (trx) => {
          const r: Row = {
            id: randomUUID(),
            owner_id: p.userId,
            service_network_id: sn.id,
            organization_id: sn.organization_id,
            public_key: body.public_key as string,
            name: body.name ?? '',
            platform: body.platform ?? '',
            hostname: '',
            os: '',
            link_secret: '',
            bearer_token_hash: hash,
            bearer_token: token,
            online: 0,
            online_at: null,
            revision: await nextTableRevision(trx, 'sites'),
            created_at: now,
          };
          await trx.insertInto('sites').values(r).execute();
          return r;
        });
        return reply.code(201).send(siteView(row, true));
      } catch (err) {
        if (!uniqueViolation(err)) throw err;
        // Two registrations of one key raced: the loser learns the winner's id.
        const winner = await ctx.db
          .selectFrom('sites')
          .select('id')
          .where('public_key', '=', body.public_key)
          .executeTakeFirst();
        throw winner ? conflict(winner.id) : err;
      }
    },
  );

  /** The site a request may read or update: the owner's, or the site's own token's (others: fixed 403). */
  const target = async (req: FastifyRequest<{ Params: { id: string } }>): Promise<Row> => {
    if (!req.site) return ownSite(ctx, gate(principalOf(req)), req.params.id);
    if (req.params.id !== req.site.siteId) {
      throw new NexError('NEX_ERR_FORBIDDEN', 'a site token may only read and update its own site');
    }
    requireFlag(opts.flags, 'sites');
    const s = await ctx.db
      .selectFrom('sites')
      .selectAll()
      .where('id', '=', req.site.siteId)
      .executeTakeFirst();
    if (!s) throw notFound('site');
    return s;
  };

  app.get<{ Params: { id: string } }>(
    '/api/sites/:id',
    { schema: { params: idParams, response: responses(200, inOrder(siteSchema)) } },
    async (req) => siteView(await target(req), true),
  );

  app.patch<{ Params: { id: string }; Body: UpdateSite | undefined }>(
    '/api/sites/:id',
    { schema: { params: idParams, body: updateSiteSchema, response: responses(200, inOrder(siteSchema)) } },
    async (req) => {
      const s = await target(req);
      const b = req.body ?? {};
      const next = await ctx.db.transaction().execute(async (trx) => {
        const r: Row = {
          ...s,
          hostname: b.hostname ?? s.hostname,
          os: b.os ?? s.os,
          link_secret: b.link_secret ?? s.link_secret,
          revision: await nextTableRevision(trx, 'sites'),
        };
        await trx
          .updateTable('sites')
          .set({ hostname: r.hostname, os: r.os, link_secret: r.link_secret, revision: r.revision })
          .where('id', '=', s.id)
          .execute();
        return r;
      });
      return siteView(next, true);
    },
  );

  // Answers the deleted site without its token (the token dies with it).
  app.delete<{ Params: { id: string } }>(
    '/api/sites/:id',
    { schema: { params: idParams, response: responses(200, inOrder(siteSchema)) } },
    async (req) => {
      const p = gate(principalOf(req));
      const s = await ownSite(ctx, p, req.params.id);
      await ctx.db.deleteFrom('sites').where('id', '=', s.id).execute();
      return siteView(s, false);
    },
  );
}
