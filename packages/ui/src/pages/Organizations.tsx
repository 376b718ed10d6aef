// SPDX-License-Identifier: Apache-2.0
// Organizations and their members (`GET /api/organizations/{id}/users`, the original's route).
import type { Organization } from '@nexodus/api/schemas';
import { useOrganizations, useOrgMembers } from '../api/hooks.js';
import { ErrorNote } from '../components/ErrorNote.js';

function Members(props: { org: Organization }) {
  const members = useOrgMembers(props.org.id);
  if (members.isPending) return <p>Loading members…</p>;
  if (members.error) {
    return (
      <div>
        <p>Members cannot be listed:</p>
        <ErrorNote error={members.error} />
      </div>
    );
  }
  return (
    <ul className="plain">
      {(members.data ?? []).map((m) => (
        <li key={m.user_id}>
          {m.user?.username ?? m.user_id}
          {m.roles?.length ? ` (${m.roles.join(', ')})` : ''}
        </li>
      ))}
    </ul>
  );
}

export function OrganizationsPage() {
  const orgs = useOrganizations();
  return (
    <section aria-labelledby="org-h">
      <h1 id="org-h">Organizations</h1>
      <ErrorNote error={orgs.error} />
      {(orgs.data ?? []).map((o) => (
        <article className="card" key={o.id} aria-labelledby={`org-${o.id}`}>
          <h2 id={`org-${o.id}`}>{o.name}</h2>
          {o.description && <p>{o.description}</p>}
          <h3>Members</h3>
          <Members org={o} />
        </article>
      ))}
    </section>
  );
}
