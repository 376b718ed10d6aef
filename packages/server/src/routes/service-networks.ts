// SPDX-License-Identifier: Apache-2.0
// /api/service-networks: groups of interconnected sites, one organization's each (models.ServiceNetwork).
// Members of the organization read them and create them; owners change and delete them. Listed by description.
import { randomUUID } from 'node:crypto';
import {
  type AddServiceNetwork,
  addServiceNetworkSchema,
  type ServiceNetwork,
  serviceNetworkSchema,
  siteSchema,
  type UpdateServiceNetwork,
  updateServiceNetworkSchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { isUuid, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import type { ServerContext } from '../context.js';
import type { Database, ServiceNetworksTable } from '../db/schema.js';
import { badPathParam, fieldNotPresent, NexError, notFound } from '../errors.js';
import { organizationIdsOf, organizationNamed, roleIn } from '../membership.js';
import { byText } from '../order.js';
import type { UserPrincipal } from '../principal.js';
import { requireFlag } from './fflags.js';
import { arrayOf, idParams, inOrder, responses } from './route-schemas.js';
import { siteView } from './sites.js';

type Row = Selectable<ServiceNetworksTable>;

export function serviceNetworkView(r: Row): ServiceNetwork {
  return {
    id: r.id,
    organization_id: r.organization_id,
    description: r.description,
    revision: Number(r.revision),
  };
}

/**
 * The next revision of `table` (service_networks or sites), from its counter row: the UPDATE holds the row
 * until commit, so concurrent writers get distinct, increasing values. Call inside the writing transaction.
 */
export async function nextTableRevision(
  trx: Transaction<Database> | Kysely<Database>,
  table: 'service_networks' | 'sites',
): Promise<number> {
  const r = await trx
    .updateTable('table_revisions')
    .set((eb) => ({ revision: eb('revision', '+', 1) }))
    .where('name', '=', table)
    .returning('revision')
    .executeTakeFirstOrThrow();
  return Number(r.revision);
}

/** A service network of an organization the user belongs to (`owner`: with the owner role). */
export async function readableServiceNetwork(
  ctx: ServerContext,
  p: UserPrincipal,
  id: string,
  need: 'member' | 'owner' = 'member',
): Promise<Row> {
  if (!isUuid(id)) throw badPathParam('id');
  const sn = await ctx.db.selectFrom('service_networks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!sn) throw notFound('service_network');
  const org = await ctx.db
    .selectFrom('organizations')
    .selectAll()
    .where('id', '=', sn.organization_id)
    .executeTakeFirst();
  const role = org ? await roleIn(ctx, org, p.userId) : undefined;
  if (!role || (need === 'owner' && role !== 'owner')) throw notFound('service_network');
  return sn;
}

export async function serviceNetworkRoutes(
  app: FastifyInstance,
  opts: { ctx: ServerContext; flags: Readonly<Record<string, boolean>> },
): Promise<void> {
  const { ctx } = opts;

  app.get(
    '/api/service-networks',
    { schema: { response: responses(200, arrayOf(serviceNetworkSchema)) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const orgs = await organizationIdsOf(ctx, p.userId);
      const rows = await ctx.db
        .selectFrom('service_networks')
        .selectAll()
        .where('organization_id', 'in', orgs.length > 0 ? orgs : [''])
        .execute();
      return rows
        .sort(
          byText(
            (r) => r.description,
            (r) => r.id,
          ),
        )
        .map(serviceNetworkView);
    },
  );

  app.post<{ Body: AddServiceNetwork | undefined }>(
    '/api/service-networks',
    { schema: { body: addServiceNetworkSchema, response: responses(201, serviceNetworkSchema) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const body = req.body ?? {};
      if (!body.organization_id) throw fieldNotPresent('organization_id');
      const org = await organizationNamed(ctx, body.organization_id);
      if (!org || !(await roleIn(ctx, org, p.userId))) throw notFound('organization');
      const row = await ctx.db.transaction().execute(async (trx) => {
        const r: Row = {
          id: randomUUID(),
          organization_id: org.id,
          description: body.description ?? '',
          revision: await nextTableRevision(trx, 'service_networks'),
          created_at: new Date().toISOString(),
        };
        await trx.insertInto('service_networks').values(r).execute();
        return r;
      });
      return reply.code(201).send(serviceNetworkView(row));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/service-networks/:id',
    { schema: { params: idParams, response: responses(200, serviceNetworkSchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      return serviceNetworkView(await readableServiceNetwork(ctx, p, req.params.id));
    },
  );

  app.patch<{ Params: { id: string }; Body: UpdateServiceNetwork | undefined }>(
    '/api/service-networks/:id',
    {
      schema: {
        params: idParams,
        body: updateServiceNetworkSchema,
        response: responses(200, serviceNetworkSchema),
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const sn = await readableServiceNetwork(ctx, p, req.params.id, 'owner');
      const updated = await ctx.db.transaction().execute(async (trx) => {
        const next: Row = {
          ...sn,
          description: req.body?.description ?? sn.description,
          revision: await nextTableRevision(trx, 'service_networks'),
        };
        await trx
          .updateTable('service_networks')
          .set({ description: next.description, revision: next.revision })
          .where('id', '=', sn.id)
          .execute();
        return next;
      });
      return serviceNetworkView(updated);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/service-networks/:id',
    { schema: { params: idParams, response: responses(200, serviceNetworkSchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const sn = await readableServiceNetwork(ctx, p, req.params.id, 'owner');
      const site = await ctx.db
        .selectFrom('sites')
        .select('id')
        .where('service_network_id', '=', sn.id)
        .executeTakeFirst();
      if (site) {
        throw new NexError(
          'NEX_ERR_REFUSED',
          'service network cannot be deleted while sites are still attached',
        );
      }
      await ctx.db.deleteFrom('service_networks').where('id', '=', sn.id).execute();
      return serviceNetworkView(sn);
    },
  );

  // The sites of a service network, for every member of its organization; tokens only for their owners.
  // The reference document spells the path /api/ServiceNetworks/{id}/sites: both are served.
  for (const url of ['/api/service-networks/:id/sites', '/api/ServiceNetworks/:id/sites']) {
    app.get<{ Params: { id: string } }>(
      url,
      { schema: { params: idParams, response: responses(200, arrayOf(inOrder(siteSchema))) } },
      async (req) => {
        const p = principalOf(req);
        requireUser(p);
        requireFlag(opts.flags, 'sites');
        const sn = await readableServiceNetwork(ctx, p, req.params.id);
        const rows = await ctx.db
          .selectFrom('sites')
          .selectAll()
          .where('service_network_id', '=', sn.id)
          .execute();
        return rows
          .sort(
            byText(
              (r) => r.hostname,
              (r) => r.id,
            ),
          )
          .map((r) => siteView(r, r.owner_id === p.userId));
      },
    );
  }
}
