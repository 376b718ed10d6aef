// SPDX-License-Identifier: Apache-2.0
// Loading objects on behalf of a principal. Anything the principal may not see answers 404, so existence
// never leaks. An operation a token kind may never do answers one fixed 403 before any object is loaded, so
// that answer says nothing about the object either.
import type { Selectable } from 'kysely';
import type { ServerContext } from './context.js';
import type { DevicesTable, VpcsTable } from './db/schema.js';
import { badPathParam, NexError, notFound } from './errors.js';
import type { Principal } from './principal.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path ids that are not UUIDs cannot exist: answer 404 without a query. */
export function isUuid(id: string): boolean {
  return UUID_RE.test(id);
}

export function requireUser(p: Principal): asserts p is Extract<Principal, { kind: 'user' }> {
  if (p.kind !== 'user') {
    throw new NexError('NEX_ERR_FORBIDDEN', `a ${p.kind} token cannot do this; use a user login`);
  }
}

/** A VPC the principal may read: its owner's, or the one a device/reg-key token belongs to. */
export async function readableVpc(
  ctx: ServerContext,
  p: Principal,
  vpcId: string,
): Promise<Selectable<VpcsTable>> {
  if (!isUuid(vpcId)) throw badPathParam('id');
  const vpc = await ctx.db.selectFrom('vpcs').selectAll().where('id', '=', vpcId).executeTakeFirst();
  if (!vpc) throw notFound('vpc');
  const ok = p.kind === 'user' ? vpc.owner_id === p.userId : vpc.id === p.vpcId;
  if (!ok) throw notFound('vpc');
  return vpc;
}

/** A VPC the principal may change (users only). */
export async function ownedVpc(
  ctx: ServerContext,
  p: Principal,
  vpcId: string,
): Promise<Selectable<VpcsTable>> {
  requireUser(p);
  return readableVpc(ctx, p, vpcId);
}

/** A device the principal may read: owner's devices, or any device of a device/reg-key token's VPC. */
export async function readableDevice(
  ctx: ServerContext,
  p: Principal,
  deviceId: string,
): Promise<Selectable<DevicesTable>> {
  if (!isUuid(deviceId)) throw badPathParam('id');
  const d = await ctx.db.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst();
  if (!d) throw notFound('device');
  const ok = p.kind === 'user' ? d.owner_id === p.userId : d.vpc_id === p.vpcId;
  if (!ok) throw notFound('device');
  return d;
}

/**
 * A device the principal may change: the owner, the device itself, or the reg key it registered with.
 * A device token on any other id gets one fixed 403 (checked before the lookup); a reg key on a device it
 * did not register gets 404, as for an object it cannot see.
 */
export async function writableDevice(
  ctx: ServerContext,
  p: Principal,
  deviceId: string,
): Promise<Selectable<DevicesTable>> {
  if (p.kind === 'device' && p.deviceId !== deviceId) {
    throw new NexError('NEX_ERR_FORBIDDEN', 'a device token may only change its own device');
  }
  const d = await readableDevice(ctx, p, deviceId);
  if (p.kind === 'reg-key' && d.reg_key_id !== p.regKeyId) throw notFound('device');
  return d;
}

/** Whether the principal may see the device's bearer token. */
export function mayReadToken(p: Principal, d: Selectable<DevicesTable>): boolean {
  if (p.kind === 'user') return d.owner_id === p.userId;
  if (p.kind === 'device') return p.deviceId === d.id;
  return d.reg_key_id === p.regKeyId;
}
