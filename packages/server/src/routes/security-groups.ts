// SPDX-License-Identifier: Apache-2.0
// /api/security-groups: stored and streamed (enforcement is nexd's job, later).
import { randomUUID } from 'node:crypto';
import {
  type AddSecurityGroup,
  addSecurityGroupSchema,
  type SecurityRule,
  securityGroupSchema,
  type UpdateSecurityGroup,
  updateSecurityGroupSchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { isUuid, ownedVpc, readableVpc, requireUser } from '../access.js';
import { principalOf } from '../auth.js';
import { type ServerContext, writeVpc } from '../context.js';
import { badPathParam, NexError, notFound } from '../errors.js';
import { addTombstone, nextRevision } from '../events/revisions.js';
import { parseStrictAddress, parseStrictCidr } from '../ip-text.js';
import type { Principal } from '../principal.js';
import { securityGroupView } from '../views.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/**
 * ip_ranges entries: an address, a CIDR, or `first-last` range of addresses of one family, in the strict
 * text forms of ip-text.ts (nexd enforces these rules; `010.0.0.1` must not mean 8.0.0.1 there either).
 */
function checkRange(s: string): boolean {
  if (parseStrictAddress(s) || parseStrictCidr(s)) return true;
  const parts = s.split('-');
  if (parts.length !== 2) return false;
  const a = parseStrictAddress(parts[0]!);
  const b = parseStrictAddress(parts[1]!);
  return a !== undefined && b !== undefined && a.kind() === b.kind();
}

function checkRules(rules: SecurityRule[] | undefined, field: string): string {
  for (const [i, r] of (rules ?? []).entries()) {
    if ((r.from_port ?? 0) > (r.to_port ?? 65535) && r.to_port !== 0) {
      throw new NexError('NEX_ERR_VALIDATION', `${field}[${i}]: from_port must not exceed to_port`, {
        field: `${field}[${i}].from_port`,
      });
    }
    for (const [j, range] of (r.ip_ranges ?? []).entries()) {
      if (!checkRange(range)) {
        throw new NexError(
          'NEX_ERR_BAD_CIDR',
          `${field}[${i}].ip_ranges[${j}]: ${JSON.stringify(range)} is not an address, CIDR or a-b range`,
          {
            field: `${field}[${i}].ip_ranges[${j}]`,
          },
        );
      }
    }
  }
  return JSON.stringify(rules ?? []);
}

export async function securityGroupRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  const readable = async (p: Principal, id: string) => {
    if (!isUuid(id)) throw badPathParam('id');
    const sg = await ctx.db.selectFrom('security_groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!sg) throw notFound('security group');
    await readableVpc(ctx, p, sg.vpc_id).catch(() => {
      throw notFound('security group');
    });
    return sg;
  };

  app.get(
    '/api/security-groups',
    { schema: { response: responses(200, arrayOf(securityGroupSchema)) } },
    async (req) => {
      const p = principalOf(req);
      let q = ctx.db.selectFrom('security_groups').selectAll();
      q = p.kind === 'user' ? q.where('owner_id', '=', p.userId) : q.where('vpc_id', '=', p.vpcId);
      return (await q.orderBy('created_at').orderBy('id').execute()).map(securityGroupView);
    },
  );

  app.post<{ Body: AddSecurityGroup }>(
    '/api/security-groups',
    { schema: { body: addSecurityGroupSchema, response: responses(201, securityGroupSchema) } },
    async (req, reply) => {
      const p = principalOf(req);
      requireUser(p);
      const vpc = await ownedVpc(ctx, p, req.body.vpc_id);
      const inbound = checkRules(req.body.inbound_rules, 'inbound_rules');
      const outbound = checkRules(req.body.outbound_rules, 'outbound_rules');
      const view = await writeVpc(ctx, vpc.id, async (trx, revision) => {
        const row = {
          id: randomUUID(),
          vpc_id: vpc.id,
          owner_id: p.userId,
          description: req.body.description ?? '',
          inbound_rules: inbound,
          outbound_rules: outbound,
          revision,
          created_at: new Date().toISOString(),
        };
        await trx.insertInto('security_groups').values(row).execute();
        return securityGroupView(row);
      });
      return reply.code(201).send(view);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/security-groups/:id',
    { schema: { params: idParams, response: responses(200, securityGroupSchema) } },
    async (req) => securityGroupView(await readable(principalOf(req), req.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: UpdateSecurityGroup }>(
    '/api/security-groups/:id',
    {
      schema: {
        params: idParams,
        body: updateSecurityGroupSchema,
        response: responses(200, securityGroupSchema),
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const sg = await readable(p, req.params.id);
      const body = req.body ?? {};
      const patch: { description?: string; inbound_rules?: string; outbound_rules?: string } = {};
      if (body.description !== undefined) patch.description = body.description;
      if (body.inbound_rules !== undefined)
        patch.inbound_rules = checkRules(body.inbound_rules, 'inbound_rules');
      if (body.outbound_rules !== undefined)
        patch.outbound_rules = checkRules(body.outbound_rules, 'outbound_rules');
      return writeVpc(ctx, sg.vpc_id, async (trx, revision) => {
        const row = await trx
          .updateTable('security_groups')
          .set({ ...patch, revision })
          .where('id', '=', sg.id)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw notFound('security group');
        return securityGroupView(row);
      });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/security-groups/:id',
    { schema: { params: idParams, response: responses(200, securityGroupSchema) } },
    async (req) => {
      const p = principalOf(req);
      requireUser(p);
      const sg = await readable(p, req.params.id);
      if (sg.id === sg.vpc_id)
        throw new NexError('NEX_ERR_DEFAULT_VPC', "a VPC's default security group cannot be deleted");
      return writeVpc(ctx, sg.vpc_id, async (trx, revision) => {
        // Its devices fall back to the VPC's default group, with a new revision so their peers hear of it.
        const moved = await trx
          .selectFrom('devices')
          .select('id')
          .where('security_group_id', '=', sg.id)
          .execute();
        if (moved.length > 0) {
          const devRevision = await nextRevision(trx, sg.vpc_id);
          await trx
            .updateTable('devices')
            .set({ security_group_id: sg.vpc_id, revision: devRevision })
            .where('security_group_id', '=', sg.id)
            .execute();
        }
        await trx.deleteFrom('security_groups').where('id', '=', sg.id).execute();
        const view = { ...securityGroupView(sg), revision };
        await addTombstone(trx, sg.vpc_id, 'security-group', sg.id, revision, view);
        return view;
      });
    },
  );
}
