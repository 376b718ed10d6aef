// SPDX-License-Identifier: Apache-2.0
// Who belongs to an organization: its owner (organizations.owner_id, role `owner`) and the members an accepted
// invitation added (organization_members, with the invitation's roles). Members may read the organization,
// its members and its service networks; owners (the owner, or a member given the `owner` role) may also
// invite, remove members and change service networks.
import type { Selectable } from 'kysely';
import { isUuid } from './access.js';
import type { ServerContext } from './context.js';
import type { OrganizationsTable } from './db/schema.js';

export type OrgRole = 'owner' | 'member';

function parseRoles(text: string): string[] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The organization a request body names by `organization_id`, or undefined when the id is not a UUID or
 * names none (the routes then answer 404 organization, as for one the user may not see).
 */
export async function organizationNamed(
  ctx: ServerContext,
  id: string,
): Promise<Selectable<OrganizationsTable> | undefined> {
  if (!isUuid(id)) return undefined;
  return ctx.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The user's strongest role in the organization, or undefined when not a member. */
export async function roleIn(
  ctx: ServerContext,
  org: Selectable<OrganizationsTable>,
  userId: string,
): Promise<OrgRole | undefined> {
  if (org.owner_id === userId) return 'owner';
  const m = await ctx.db
    .selectFrom('organization_members')
    .select('roles')
    .where('organization_id', '=', org.id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!m) return undefined;
  return parseRoles(m.roles).includes('owner') ? 'owner' : 'member';
}

/** Ids of the organizations the user owns or is a member of (with the owner role when `owners`). */
export async function organizationIdsOf(
  ctx: ServerContext,
  userId: string,
  opts: { owners?: boolean } = {},
): Promise<string[]> {
  const owned = await ctx.db
    .selectFrom('organizations')
    .select('id')
    .where('owner_id', '=', userId)
    .execute();
  const member = await ctx.db
    .selectFrom('organization_members')
    .select(['organization_id', 'roles'])
    .where('user_id', '=', userId)
    .execute();
  const ids = new Set(owned.map((o) => o.id));
  for (const m of member) {
    if (!opts.owners || parseRoles(m.roles).includes('owner')) ids.add(m.organization_id);
  }
  return [...ids];
}

export interface Member {
  userId: string;
  username: string;
  roles: string[];
}

/** The organization's members, the owner first, then the others by username. */
export async function membersOf(ctx: ServerContext, org: Selectable<OrganizationsTable>): Promise<Member[]> {
  const owner = await ctx.db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('id', '=', org.owner_id)
    .executeTakeFirst();
  const rows = await ctx.db
    .selectFrom('organization_members')
    .innerJoin('users', 'users.id', 'organization_members.user_id')
    .select(['organization_members.user_id', 'organization_members.roles', 'users.username'])
    .where('organization_members.organization_id', '=', org.id)
    .execute();
  const others = rows
    .map((r) => ({ userId: r.user_id, username: r.username, roles: parseRoles(r.roles) }))
    .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  return [{ userId: org.owner_id, username: owner?.username ?? '', roles: ['owner'] }, ...others];
}
