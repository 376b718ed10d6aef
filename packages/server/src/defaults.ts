// SPDX-License-Identifier: Apache-2.0
// A user's default organization, VPC and security group, created on their first authenticated request.
// They take the user's id as their id (as the original service does), which makes creation idempotent and
// safe when a user's first requests arrive concurrently (INSERT ... ON CONFLICT DO NOTHING), also across replicas.
import type { ServerContext } from './context.js';
import { writeVpc } from './context.js';
import { DEFAULT_IPV4_CIDR, DEFAULT_IPV6_CIDR } from './ipam.js';
import type { UserPrincipal } from './principal.js';

export const DEFAULT_VPC_DESCRIPTION = 'default vpc';

/** Users whose defaults exist; bounded by the number of users, which is small next to devices. */
const ensured = new WeakMap<ServerContext, Set<string>>();

export async function ensureUserDefaults(ctx: ServerContext, user: UserPrincipal): Promise<void> {
  let set = ensured.get(ctx);
  if (!set) ensured.set(ctx, (set = new Set()));
  if (set.has(user.userId)) return;
  const now = new Date().toISOString();
  const id = user.userId;
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('organizations')
      .values({
        id,
        name: user.username,
        description: `${user.username}'s organization`,
        owner_id: id,
        created_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await trx
      .insertInto('vpcs')
      .values({
        id,
        organization_id: id,
        owner_id: id,
        description: DEFAULT_VPC_DESCRIPTION,
        ipv4_cidr: DEFAULT_IPV4_CIDR,
        ipv6_cidr: DEFAULT_IPV6_CIDR,
        private_cidr: 0,
        is_default: 1,
        created_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await trx
      .insertInto('vpc_revisions')
      .values({ vpc_id: id, revision: 0 })
      .onConflict((oc) => oc.doNothing())
      .execute();
  });
  const hasGroup = await ctx.db
    .selectFrom('security_groups')
    .select('id')
    .where('id', '=', id)
    .executeTakeFirst();
  if (!hasGroup) await createDefaultSecurityGroup(ctx, id, id);
  set.add(user.userId);
}

/** Every VPC has a default security group whose id is the VPC's id (no rules: allow all). */
export async function createDefaultSecurityGroup(
  ctx: ServerContext,
  vpcId: string,
  ownerId: string,
): Promise<void> {
  await writeVpc(ctx, vpcId, async (trx, revision) => {
    await trx
      .insertInto('security_groups')
      .values({
        id: vpcId,
        vpc_id: vpcId,
        owner_id: ownerId,
        description: 'default vpc security group',
        inbound_rules: '[]',
        outbound_rules: '[]',
        revision,
        created_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  });
}

/** Forget cached state (a user was deleted). */
export function forgetUserDefaults(ctx: ServerContext, userId: string): void {
  ensured.get(ctx)?.delete(userId);
}
