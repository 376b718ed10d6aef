// SPDX-License-Identifier: Apache-2.0
// /api/devices: registration (IPAM), update, delete; the device's bearer token.
import { randomUUID } from 'node:crypto';
import {
  type AddDevice,
  addDeviceSchema,
  type Device,
  deviceSchema,
  type UpdateDevice,
  updateDeviceSchema,
} from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import type { Selectable, Transaction } from 'kysely';
import { isUuid, mayReadToken, readableDevice, readableVpc, writableDevice } from '../access.js';
import { principalOf } from '../auth.js';
import { type ServerContext, writeVpc } from '../context.js';
import { uniqueViolation } from '../db/constraints.js';
import type { Database, DevicesTable, VpcsTable } from '../db/schema.js';
import { badPathParam, NexError, notFound } from '../errors.js';
import { addTombstone, nextRevision } from '../events/revisions.js';
import { checkAdvertisedCidr, checkRequested, type Pool, parsePool } from '../ipam.js';
import { byText } from '../order.js';
import type { Principal } from '../principal.js';
import { DEVICE_TOKEN_PREFIX, newToken } from '../tokens.js';
import { deviceView, metadataView } from '../views.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/** Retries of a registration that lost an address race (only possible if a writer bypassed the VPC lock). */
const ALLOCATION_ATTEMPTS = 5;
/** 32 zero bytes: not a Curve25519 public key any peer can complete a handshake with. */
const ALL_ZERO_KEY = Buffer.alloc(32).toString('base64');

export async function loadDevice(
  db: ServerContext['db'] | Transaction<Database>,
  row: Selectable<DevicesTable>,
  withToken: boolean,
): Promise<Device> {
  const allocs = await db.selectFrom('ip_allocations').selectAll().where('device_id', '=', row.id).execute();
  return deviceView(row, allocs, withToken);
}

/** Loads many devices with their addresses in two queries. */
export async function loadDevices(
  ctx: ServerContext,
  rows: Selectable<DevicesTable>[],
  withToken: (r: Selectable<DevicesTable>) => boolean,
): Promise<Device[]> {
  if (rows.length === 0) return [];
  const vpcIds = [...new Set(rows.map((r) => r.vpc_id))];
  const allocs = await ctx.db
    .selectFrom('ip_allocations')
    .selectAll()
    .where('vpc_id', 'in', vpcIds)
    .execute();
  const byDevice = new Map<string, (typeof allocs)[number][]>();
  for (const a of allocs) {
    let l = byDevice.get(a.device_id);
    if (!l) byDevice.set(a.device_id, (l = []));
    l.push(a);
  }
  return rows.map((r) => deviceView(r, byDevice.get(r.id) ?? [], withToken(r)));
}

function checkEndpoints(endpoints: AddDevice['endpoints']): string {
  for (const [i, e] of (endpoints ?? []).entries()) {
    // host:port or [v6]:port, port 0-65535
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(e.address);
    if (!m || Number(m[2]) > 65535) {
      throw new NexError(
        'NEX_ERR_VALIDATION',
        `endpoints[${i}].address: expected host:port, got ${JSON.stringify(e.address)}`,
        {
          field: `endpoints[${i}].address`,
        },
      );
    }
  }
  return JSON.stringify(endpoints ?? []);
}

function checkAdvertised(cidrs: string[] | undefined): string {
  return JSON.stringify((cidrs ?? []).map((c, i) => checkAdvertisedCidr(c, `advertise_cidrs[${i}]`)));
}

async function checkSecurityGroup(
  ctx: ServerContext,
  vpcId: string,
  sgId: string | undefined,
): Promise<void> {
  if (!sgId) return;
  const sg = await ctx.db
    .selectFrom('security_groups')
    .select('vpc_id')
    .where('id', '=', sgId)
    .executeTakeFirst();
  if (!sg || sg.vpc_id !== vpcId) {
    throw new NexError('NEX_ERR_VALIDATION', 'security_group_id: no such security group in this VPC', {
      field: 'security_group_id',
    });
  }
}

/** Which VPC a registration goes to, after checking the principal may register there. */
async function registrationVpc(
  ctx: ServerContext,
  p: Principal,
  body: AddDevice,
): Promise<Selectable<VpcsTable>> {
  if (p.kind === 'device') {
    // A restarted nexd that kept its device token re-registers its own key: the usual 409 with its id.
    const own = await ctx.db
      .selectFrom('devices')
      .select(['id', 'public_key'])
      .where('id', '=', p.deviceId)
      .executeTakeFirst();
    if (own && own.public_key === body.public_key) throw duplicateKey(own.id);
    throw new NexError('NEX_ERR_FORBIDDEN', 'a device token cannot register devices');
  }
  if (p.kind === 'reg-key') {
    if (body.vpc_id && body.vpc_id !== p.vpcId) {
      throw new NexError(
        'NEX_ERR_FORBIDDEN',
        'this registration key is bound to another VPC; omit vpc_id or use its VPC',
      );
    }
    return readableVpc(ctx, p, p.vpcId);
  }
  return readableVpc(ctx, p, body.vpc_id ?? p.userId);
}

async function register(ctx: ServerContext, p: Principal, body: AddDevice): Promise<Device> {
  if (body.public_key === ALL_ZERO_KEY) {
    throw new NexError(
      'NEX_ERR_VALIDATION',
      'public_key: the all-zero key is not a WireGuard public key; send the key of the device (wg pubkey)',
      { field: 'public_key' },
    );
  }
  const vpc = await registrationVpc(ctx, p, body);
  const endpoints = checkEndpoints(body.endpoints);
  const advertise = checkAdvertised(body.advertise_cidrs);
  const pool4 = parsePool(vpc.ipv4_cidr, 4, 'ipv4_cidr');
  const pool6 = parsePool(vpc.ipv6_cidr, 6, 'ipv6_cidr');
  const requested = body.ipv4_tunnel_ips?.[0]?.address;
  const requested4 = requested ? checkRequested(pool4, requested, 'ipv4_tunnel_ips[0].address') : undefined;
  if (p.kind === 'reg-key' && body.security_group_id && body.security_group_id !== p.securityGroupId) {
    throw new NexError(
      'NEX_ERR_FORBIDDEN',
      'a registration key registers into its own security group; omit security_group_id',
    );
  }
  const sgId = body.security_group_id ?? (p.kind === 'reg-key' ? p.securityGroupId : undefined) ?? vpc.id;
  await checkSecurityGroup(ctx, vpc.id, body.security_group_id);

  const existing = await ctx.db
    .selectFrom('devices')
    .select(['id', 'owner_id'])
    .where('public_key', '=', body.public_key)
    .executeTakeFirst();
  // Only the owner learns which device holds the key; anyone else gets the bare conflict.
  if (existing) throw duplicateKey(existing.owner_id === vpc.owner_id ? existing.id : undefined);

  const id = randomUUID();
  const { token, hash } = newToken(DEVICE_TOKEN_PREFIX);
  const ownerId = vpc.owner_id;
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeVpc(ctx, vpc.id, async (trx, revision) => {
        const now = new Date().toISOString();
        const v4 = requested4 ?? (await allocate(ctx, trx, vpc.id, pool4, revision));
        const v6 = await allocate(ctx, trx, vpc.id, pool6, revision);
        const row: Selectable<DevicesTable> = {
          id,
          owner_id: ownerId,
          vpc_id: vpc.id,
          organization_id: vpc.organization_id,
          public_key: body.public_key,
          hostname: body.hostname ?? '',
          os: body.os ?? '',
          endpoints,
          advertise_cidrs: advertise,
          relay: body.relay ? 1 : 0,
          symmetric_nat: body.symmetric_nat ? 1 : 0,
          security_group_id: sgId,
          bearer_token_hash: hash,
          bearer_token: token,
          reg_key_id: p.kind === 'reg-key' ? p.regKeyId : null,
          online: 0,
          online_at: null,
          revision,
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto('devices').values(row).execute();
        await trx
          .insertInto('ip_allocations')
          .values([
            { vpc_id: vpc.id, address: v4, family: 4, cidr: pool4.cidr, device_id: id },
            { vpc_id: vpc.id, address: v6, family: 6, cidr: pool6.cidr, device_id: id },
          ])
          .execute();
        if (p.kind === 'reg-key' && p.singleUse) {
          const r = await trx
            .updateTable('reg_keys')
            .set({ device_id: id })
            .where('id', '=', p.regKeyId)
            .where('device_id', 'is', null)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) !== 1) {
            throw new NexError(
              'NEX_ERR_REG_KEY_USED',
              'this single-use registration key was already used; create a new one',
            );
          }
        }
        return loadDevice(trx, row, true);
      });
    } catch (err) {
      const u = uniqueViolation(err);
      if (!u) throw err;
      if (/public_key/.test(u.target)) {
        const again = await ctx.db
          .selectFrom('devices')
          .select(['id', 'owner_id'])
          .where('public_key', '=', body.public_key)
          .executeTakeFirst();
        throw duplicateKey(again?.owner_id === vpc.owner_id ? again.id : undefined);
      }
      if (requested4 && /ip_allocations/.test(u.target)) {
        throw new NexError(
          'NEX_ERR_ADDRESS_IN_USE',
          `${requested4} is already assigned to another device of this VPC`,
        );
      }
      if (attempt >= ALLOCATION_ATTEMPTS) throw err;
    }
  }
}

/**
 * The answer for a public key that is registered already. `id` only when the device is the caller's own
 * (a restarted nexd updates it); a key registered by another owner reveals nothing, not even that it is
 * foreign: the message covers both cases.
 */
function duplicateKey(id: string | undefined): NexError {
  return new NexError(
    'NEX_ERR_CONFLICT',
    id
      ? 'a device with this public key already exists; `id` names it'
      : 'a device with this public key already exists and is not one you can see; generate a new key pair for this device',
    id ? { id } : {},
  );
}

async function allocate(
  ctx: ServerContext,
  trx: Transaction<Database>,
  vpcId: string,
  pool: Pool,
  revision: number,
): Promise<string> {
  const loadTaken = async () =>
    (
      await trx
        .selectFrom('ip_allocations')
        .select('address')
        .where('vpc_id', '=', vpcId)
        .where('family', '=', pool.family)
        .execute()
    ).map((r) => r.address);
  const free = await ctx.ipam.pick(vpcId, pool, revision, loadTaken);
  if (!free) {
    const assigned = (await loadTaken()).length;
    throw new NexError(
      'NEX_ERR_POOL_EXHAUSTED',
      `no free IPv${pool.family} address left in ${pool.cidr} (${assigned} assigned); delete unused devices or use a VPC with a larger CIDR`,
    );
  }
  return free;
}

async function update(ctx: ServerContext, p: Principal, id: string, body: UpdateDevice): Promise<Device> {
  const d = await writableDevice(ctx, p, id);
  const patch: Partial<Selectable<DevicesTable>> = {};
  if (body.hostname !== undefined) patch.hostname = body.hostname;
  if (body.endpoints !== undefined) patch.endpoints = checkEndpoints(body.endpoints);
  if (body.advertise_cidrs !== undefined) patch.advertise_cidrs = checkAdvertised(body.advertise_cidrs);
  if (body.relay !== undefined) patch.relay = body.relay ? 1 : 0;
  if (body.symmetric_nat !== undefined) patch.symmetric_nat = body.symmetric_nat ? 1 : 0;
  if (body.security_group_id !== undefined && body.security_group_id !== d.security_group_id) {
    // The security group is policy set by the owner; a device must not pick its own.
    if (p.kind !== 'user')
      throw new NexError('NEX_ERR_FORBIDDEN', "only the owner may change a device's security group");
    await checkSecurityGroup(ctx, d.vpc_id, body.security_group_id);
    patch.security_group_id = body.security_group_id;
  }
  return writeVpc(ctx, d.vpc_id, async (trx, revision) => {
    const row = await trx
      .updateTable('devices')
      .set({ ...patch, revision, updated_at: new Date().toISOString() })
      .where('id', '=', d.id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound('device');
    return loadDevice(trx, row, mayReadToken(p, row));
  });
}

/** Deletes a device, its addresses and metadata; leaves tombstones for the device and each metadata key. */
export async function deleteDevice(ctx: ServerContext, d: Selectable<DevicesTable>): Promise<Device> {
  // The freed addresses become the lowest free ones again: re-read the pool on the next registration.
  ctx.ipam.drop(d.vpc_id);
  return writeVpc(ctx, d.vpc_id, async (trx, revision) => {
    const current = await trx.selectFrom('devices').selectAll().where('id', '=', d.id).executeTakeFirst();
    if (!current) throw notFound('device');
    const view = await loadDevice(trx, current, false);
    const meta = await trx.selectFrom('device_metadata').selectAll().where('device_id', '=', d.id).execute();
    // Each tombstone needs its own revision: the first one uses the transaction's, later ones take more.
    let rev = revision;
    for (const m of meta) {
      await addTombstone(trx, d.vpc_id, 'device-metadata', `${m.device_id}/${m.key}`, rev, {
        ...metadataView(m),
        revision: rev,
      });
      rev = await nextRevision(trx, d.vpc_id);
    }
    await trx.deleteFrom('device_metadata').where('device_id', '=', d.id).execute();
    await trx.deleteFrom('ip_allocations').where('device_id', '=', d.id).execute();
    await trx.deleteFrom('devices').where('id', '=', d.id).execute();
    await addTombstone(trx, d.vpc_id, 'device', d.id, rev, { ...view, revision: rev });
    return { ...view, revision: rev };
  });
}

export async function deviceRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  app.get('/api/devices', { schema: { response: responses(200, arrayOf(deviceSchema)) } }, async (req) => {
    const p = principalOf(req);
    let q = ctx.db.selectFrom('devices').selectAll();
    q = p.kind === 'user' ? q.where('owner_id', '=', p.userId) : q.where('vpc_id', '=', p.vpcId);
    const rows = (await q.execute()).sort(
      byText(
        (r) => r.hostname,
        (r) => r.id,
      ),
    );
    return loadDevices(ctx, rows, (r) => mayReadToken(p, r));
  });

  app.post<{ Body: AddDevice }>(
    '/api/devices',
    { schema: { body: addDeviceSchema, response: responses(201, deviceSchema) } },
    async (req, reply) => {
      const device = await register(ctx, principalOf(req), req.body);
      req.log.info({ deviceId: device.id, vpcId: device.vpc_id }, 'device registered');
      return reply.code(201).send(device);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/devices/:id',
    { schema: { params: idParams, response: responses(200, deviceSchema) } },
    async (req) => {
      const p = principalOf(req);
      const d = await readableDevice(ctx, p, req.params.id);
      return loadDevice(ctx.db, d, mayReadToken(p, d));
    },
  );

  app.patch<{ Params: { id: string }; Body: UpdateDevice }>(
    '/api/devices/:id',
    { schema: { params: idParams, body: updateDeviceSchema, response: responses(200, deviceSchema) } },
    async (req) => update(ctx, principalOf(req), req.params.id, req.body ?? {}),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/devices/:id',
    { schema: { params: idParams, response: responses(200, deviceSchema) } },
    async (req) => {
      if (!isUuid(req.params.id)) throw badPathParam('id');
      const d = await writableDevice(ctx, principalOf(req), req.params.id);
      return deleteDevice(ctx, d);
    },
  );
}
