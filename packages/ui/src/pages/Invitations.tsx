// SPDX-License-Identifier: Apache-2.0
// Invitations to organizations: send one, accept or decline those sent to you (the original's
// /api/invitations contract).
import { ApiError } from '@nexodus/api/errors';
import { useState } from 'react';
import type { Invitation } from '../api/client.js';
import { useAnswerInvitation, useInvitations, useInvite, useMe, useOrganizations } from '../api/hooks.js';
import { ErrorNote, fieldError } from '../components/ErrorNote.js';
import { Field } from '../components/Field.js';

export function InvitationsPage() {
  const me = useMe();
  const list = useInvitations();
  const orgs = useOrganizations();
  const invite = useInvite();
  const answer = useAnswerInvitation();
  const [org, setOrg] = useState('');
  const [who, setWho] = useState('');
  const [whoError, setWhoError] = useState<string | undefined>();
  const orgId = org || orgs.data?.[0]?.id || '';
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const v = who.trim();
    setWhoError(v === '' ? 'Enter the user id or email address of the person to invite.' : undefined);
    if (v === '' || !orgId) return;
    invite.mutate(
      v.includes('@') ? { organization_id: orgId, email: v } : { organization_id: orgId, user_id: v },
    );
  };
  // An older service without the invitations routes answers the list with a plain 404 (no `resource`).
  const unsupported =
    list.error instanceof ApiError &&
    list.error.status === 404 &&
    !('resource' in list.error && list.error.resource);
  // For me: addressed to my id, or to my login name as e-mail before my account existed.
  const forMe = (i: Invitation) =>
    i.user_id === me.data?.id || (i.user_id === undefined && i.email === me.data?.username);
  const mine = (list.data ?? []).filter(forMe);
  const sent = (list.data ?? []).filter((i) => !forMe(i));
  return (
    <section aria-labelledby="inv-h">
      <h1 id="inv-h">Invitations</h1>
      {unsupported ? (
        <p role="alert">This service does not offer invitations yet.</p>
      ) : (
        <ErrorNote error={list.error} />
      )}
      <h2>For you</h2>
      {mine.length === 0 ? (
        <p>No invitations for you.</p>
      ) : (
        <ul className="plain list">
          {mine.map((i) => {
            const name = i.organization?.name ?? i.organization_id;
            return (
              <li key={i.id} className="card">
                {i.from?.username ?? 'Someone'} invites you to <strong>{name}</strong>
                {i.roles?.includes('owner') ? ' as an owner' : ''}.{' '}
                <button type="button" onClick={() => answer.mutate({ id: i.id, accept: true })}>
                  Accept invitation to {name}
                </button>{' '}
                <button type="button" onClick={() => answer.mutate({ id: i.id, accept: false })}>
                  Decline invitation to {name}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <ErrorNote error={answer.error} />
      <h2>Sent</h2>
      {sent.length === 0 ? (
        <p>No open invitations you sent.</p>
      ) : (
        <ul className="plain">
          {sent.map((i) => (
            <li key={i.id}>
              {i.email ?? i.user_id} to {i.organization?.name ?? i.organization_id}
              {i.expires_at ? `, expires ${new Date(i.expires_at).toLocaleString()}` : ''}
            </li>
          ))}
        </ul>
      )}
      <form className="card" onSubmit={submit} noValidate aria-labelledby="inv-new-h">
        <h2 id="inv-new-h">Invite someone</h2>
        <Field label="Organization" error={fieldError(invite.error, 'organization_id')}>
          <select value={orgId} onChange={(e) => setOrg(e.target.value)}>
            {(orgs.data ?? []).map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          label="User id or email"
          error={whoError ?? fieldError(invite.error, 'user_id') ?? fieldError(invite.error, 'email')}
        >
          <input value={who} onChange={(e) => setWho(e.target.value)} />
        </Field>
        <button type="submit" disabled={invite.isPending}>
          Send invitation
        </button>
        {invite.isSuccess && <p role="status">Invitation sent.</p>}
        <ErrorNote error={invite.error} />
      </form>
    </section>
  );
}
