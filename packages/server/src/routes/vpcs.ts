// SPDX-License-Identifier: Apache-2.0
// /api/vpcs: VPCs with their own address pools; /api/vpcs/{id}/devices, /metadata, /security-groups lists.
import { randomUUID } from 'node:crypto';
import {
  type AddVpc,
  addVpcSchema,
  deviceMetadataSchema,
  deviceSchema,
  securityGroupSchema,
  type UpdateVpc,
  updateVpcSchema,
  vpcSchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { mayReadToken, ownedVpc, readableVpc, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import { type ServerContext, writeVpc } from '../context.js';
import { createDefaultSecurityGroup } from '../defaults.js';
import { NexError, notFound } from '../errors.js';
import { DEFAULT_IPV4_CIDR, DEFAULT_IPV6_CIDR, parsePool } from '../ipam.js';
import { byText } from '../order.js';
import { metadataView, securityGroupView, vpcView } from '../views.js';
import { loadDevices } from './devices.js';
import { METADATA_KEY_MAX } from './metadata.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/** Most `key`/`prefix` query parameters one metadata list request may repeat. */
const MAX_KEY_FILTERS = 64;

const metadataQuery = {
  type: 'object',
  properties: {
    key: {
      anyOf: [
        { type: 'string', maxLength: METADATA_KEY_MAX },
        { type: 'array', maxItems: MAX_KEY_FILTERS, items: { type: 'string', maxLength: METADATA_KEY_MAX } },
      ],
    },
    prefix: {
      anyOf: [
        { type: 'string', maxLength: METADATA_KEY_MAX },
        { type: 'array', maxItems: MAX_KEY_FILTERS, items: { type: 'string', maxLength: METADATA_KEY_MAX } },
      ],
    },
  },
} as const;

const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

export async function vpcRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  app.get('/api/vpcs', { schema: { response: responses(200, arrayOf(vpcSchema)) } }, async (req) => {
    const p = principalOf(req);
    let q = ctx.db
      .selectFrom('vpcs')
      .leftJoin('vpc_revisions', 'vpc_revisions.vpc_id', 'vpcs.id')
      .selectAll('vpcs')
      .select('vpc_revisions.revision');
    q = p.kind === 'user' ? q.where('vpcs.owner_id', '=', p.userId) : q.where('vpcs.id', '=', p.vpcId);
    const rows = await q.orderBy('vpcs.created_at').orderBy('vpcs.id').execute();
    return rows.map(({ revision, ...r }) => vpcView(r, Number(revision ?? 0)));
  });

  app.post<{ Body: AddVpc }>(
    '/api/vpcs',
    { schema: { body: addVpcSchema, response: responses(201, vpcSchema) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const org = await ctx.db
        .selectFrom('organizations')
        .selectAll()
        .where('id', '=', req.body.organization_id)
        .executeTakeFirst();
      if (!org || org.owner_id !== p.userId) throw notFound('organization');
      const v4 = parsePool(req.body.ipv4_cidr ?? DEFAULT_IPV4_CIDR, 4, 'ipv4_cidr');
      const v6 = parsePool(req.body.ipv6_cidr ?? DEFAULT_IPV6_CIDR, 6, 'ipv6_cidr');
      const row = {
        id: randomUUID(),
        organization_id: org.id,
        owner_id: p.userId,
        description: req.body.description ?? '',
        ipv4_cidr: v4.cidr,
        ipv6_cidr: v6.cidr,
        private_cidr: req.body.private_cidr ? 1 : 0,
        is_default: 0,
        created_at: new Date().toISOString(),
      };
      await ctx.db.transaction().execute(async (trx) => {
        await trx.insertInto('vpcs').values(row).execute();
        await trx.insertInto('vpc_revisions').values({ vpc_id: row.id, revision: 0 }).execute();
      });
      await createDefaultSecurityGroup(ctx, row.id, p.userId);
      return reply.code(201).send(vpcView(row, await vpcRevision(ctx, row.id)));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/vpcs/:id',
    { schema: { params: idParams, response: responses(200, vpcSchema) } },
    async (req) => {
      const vpc = await readableVpc(ctx, principalOf(req), req.params.id);
      return vpcView(vpc, await vpcRevision(ctx, vpc.id));
    },
  );

  app.patch<{ Params: { id: string }; Body: UpdateVpc }>(
    '/api/vpcs/:id',
    { schema: { params: idParams, body: updateVpcSchema, response: responses(200, vpcSchema) } },
    async (req) => {
      const vpc = await ownedVpc(ctx, principalOf(req), req.params.id);
      const description = req.body?.description ?? vpc.description;
      // A change of the VPC takes the next revision, as the original's VPC revision moves on update.
      const revision = await writeVpc(ctx, vpc.id, async (trx, rev) => {
        await trx.updateTable('vpcs').set({ description }).where('id', '=', vpc.id).execute();
        return rev;
      });
      return vpcView({ ...vpc, description }, revision);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/vpcs/:id',
    { schema: { params: idParams, response: responses(200, vpcSchema) } },
    async (req) => {
      const vpc = await ownedVpc(ctx, principalOf(req), req.params.id);
      const revision = await vpcRevision(ctx, vpc.id);
      if (vpc.is_default === 1)
        throw new NexError('NEX_ERR_DEFAULT_VPC', 'the default VPC cannot be deleted');
      // Foreign keys cascade to devices, addresses, metadata, security groups, reg keys and the counter.
      await ctx.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('tombstones').where('vpc_id', '=', vpc.id).execute();
        await trx.deleteFrom('device_metadata').where('vpc_id', '=', vpc.id).execute();
        await trx.deleteFrom('vpcs').where('id', '=', vpc.id).execute();
      });
      ctx.ipam.drop(vpc.id);
      ctx.bus.publishLocal(vpc.id);
      return vpcView(vpc, revision);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/vpcs/:id/devices',
    { schema: { params: idParams, response: responses(200, arrayOf(deviceSchema)) } },
    async (req) => {
      const p = principalOf(req);
      const vpc = await readableVpc(ctx, p, req.params.id);
      const rows = (
        await ctx.db.selectFrom('devices').selectAll().where('vpc_id', '=', vpc.id).execute()
      ).sort(
        byText(
          (r) => r.hostname,
          (r) => r.id,
        ),
      );
      return loadDevices(ctx, rows, (r) => mayReadToken(p, r));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { key?: string | string[]; prefix?: string | string[] } }>(
    '/api/vpcs/:id/metadata',
    {
      schema: {
        params: idParams,
        querystring: metadataQuery,
        response: responses(200, arrayOf(deviceMetadataSchema)),
      },
    },
    async (req) => {
      const vpc = await readableVpc(ctx, principalOf(req), req.params.id);
      const keys = asList(req.query.key);
      const prefixes = asList(req.query.prefix);
      let q = ctx.db.selectFrom('device_metadata').selectAll().where('vpc_id', '=', vpc.id);
      // Exact keys filter in SQL; prefixes in code, because LIKE escaping and collation differ between engines.
      if (keys.length > 0 && prefixes.length === 0) q = q.where('key', 'in', keys);
      const all = keys.length === 0 && prefixes.length === 0;
      const rows = (await q.execute()).filter(
        (r) => all || keys.includes(r.key) || prefixes.some((pre) => r.key.startsWith(pre)),
      );
      // Filter first: only the rows returned are sorted.
      return rows
        .sort(
          byText(
            (r) => r.key,
            (r) => r.device_id,
          ),
        )
        .map(metadataView);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/vpcs/:id/security-groups',
    { schema: { params: idParams, response: responses(200, arrayOf(securityGroupSchema)) } },
    async (req) => {
      const vpc = await readableVpc(ctx, principalOf(req), req.params.id);
      const rows = await ctx.db
        .selectFrom('security_groups')
        .selectAll()
        .where('vpc_id', '=', vpc.id)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(securityGroupView);
    },
  );
}

/** The VPC's current revision (0 before its first change). */
async function vpcRevision(ctx: ServerContext, vpcId: string): Promise<number> {
  const r = await ctx.db
    .selectFrom('vpc_revisions')
    .select('revision')
    .where('vpc_id', '=', vpcId)
    .executeTakeFirst();
  return Number(r?.revision ?? 0);
}
