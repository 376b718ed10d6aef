// SPDX-License-Identifier: Apache-2.0
// Registration keys: create (single-use or reusable, optional expiry) and show the ready nexd command once.
import type { RegKey } from '@nexodus/api/schemas';
import { useState } from 'react';
import { useCreateRegKey, useDeleteRegKey, useRegKeys, useSecurityGroups, useVpcs } from '../api/hooks.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorNote, fieldError } from '../components/ErrorNote.js';
import { Field } from '../components/Field.js';

/** The command a user pastes on the machine to register: nexd proxy with this key. */
export function nexdCommand(origin: string, token: string): string {
  return `nexd --service-url ${origin} --reg-key ${token} proxy`;
}

interface Draft {
  description: string;
  vpc_id: string;
  single_use: boolean;
  expires_in_hours: string;
  security_group_id: string;
}

function validate(d: Draft): Partial<Record<keyof Draft, string>> {
  const e: Partial<Record<keyof Draft, string>> = {};
  if (!d.vpc_id) e.vpc_id = 'Choose the VPC the device joins.';
  if (d.description.length > 256) e.description = 'At most 256 characters.';
  if (d.expires_in_hours.trim() !== '') {
    const h = Number(d.expires_in_hours);
    if (!Number.isFinite(h) || h <= 0 || h > 24 * 365)
      e.expires_in_hours = 'Hours from now: a number above 0, at most 8760.';
  }
  return e;
}

export function RegKeysPage() {
  const keysQ = useRegKeys();
  const vpcs = useVpcs();
  const groups = useSecurityGroups();
  const create = useCreateRegKey();
  const del = useDeleteRegKey();
  const [draft, setDraft] = useState<Draft>({
    description: '',
    vpc_id: '',
    single_use: true,
    expires_in_hours: '',
    security_group_id: '',
  });
  const [errors, setErrors] = useState<Partial<Record<keyof Draft, string>>>({});
  const [created, setCreated] = useState<RegKey | undefined>();
  const vpcId = draft.vpc_id || vpcs.data?.[0]?.id || '';
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const d = { ...draft, vpc_id: vpcId };
    const found = validate(d);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    const hours = Number(d.expires_in_hours);
    create.mutate(
      {
        vpc_id: d.vpc_id,
        description: d.description,
        single_use: d.single_use,
        ...(d.expires_in_hours.trim()
          ? { expires_at: new Date(Date.now() + hours * 3600_000).toISOString() }
          : {}),
        ...(d.security_group_id ? { security_group_id: d.security_group_id } : {}),
      },
      { onSuccess: (k) => setCreated(k) },
    );
  };
  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  return (
    <section aria-labelledby="rk-h">
      <h1 id="rk-h">Registration keys</h1>
      <p>A registration key lets a nexd join a VPC without anyone signing in on that machine.</p>

      {created?.bearer_token && (
        <div className="card notice" role="status">
          <h2>Key created: run this on the new device</h2>
          <p>This is the only time the key is shown. Copy it now.</p>
          <pre className="command">
            <code>{nexdCommand(window.location.origin, created.bearer_token)}</code>
          </pre>
          <CopyButton
            text={nexdCommand(window.location.origin, created.bearer_token)}
            label="Copy the nexd command"
          />{' '}
          <button type="button" onClick={() => setCreated(undefined)}>
            Done, hide the key
          </button>
        </div>
      )}

      <form className="card" onSubmit={submit} noValidate aria-labelledby="rk-new-h">
        <h2 id="rk-new-h">New registration key</h2>
        <Field label="Description" error={errors.description ?? fieldError(create.error, 'description')}>
          <input value={draft.description} onChange={(e) => set({ description: e.target.value })} />
        </Field>
        <Field label="VPC" error={errors.vpc_id ?? fieldError(create.error, 'vpc_id')}>
          <select value={vpcId} onChange={(e) => set({ vpc_id: e.target.value })}>
            {(vpcs.data ?? []).map((v) => (
              <option key={v.id} value={v.id}>
                {v.description || v.id}
              </option>
            ))}
          </select>
        </Field>
        <fieldset>
          <legend>Use</legend>
          <label className="inline">
            <input
              type="radio"
              name="use"
              checked={draft.single_use}
              onChange={() => set({ single_use: true })}
            />{' '}
            Single use (one device)
          </label>
          <label className="inline">
            <input
              type="radio"
              name="use"
              checked={!draft.single_use}
              onChange={() => set({ single_use: false })}
            />{' '}
            Reusable (many devices)
          </label>
        </fieldset>
        <Field
          label="Expires in (hours)"
          hint="Empty: never expires"
          error={errors.expires_in_hours ?? fieldError(create.error, 'expires_at')}
        >
          <input
            inputMode="decimal"
            value={draft.expires_in_hours}
            onChange={(e) => set({ expires_in_hours: e.target.value })}
          />
        </Field>
        <Field label="Security group (optional)" error={fieldError(create.error, 'security_group_id')}>
          <select
            value={draft.security_group_id}
            onChange={(e) => set({ security_group_id: e.target.value })}
          >
            <option value="">(the VPC's default)</option>
            {(groups.data ?? [])
              .filter((g) => g.vpc_id === vpcId)
              .map((g) => (
                <option key={g.id} value={g.id}>
                  {g.description || g.id}
                </option>
              ))}
          </select>
        </Field>
        <button type="submit" disabled={create.isPending}>
          Create registration key
        </button>
        <ErrorNote error={create.error} />
      </form>

      <h2>Existing keys</h2>
      <ErrorNote error={keysQ.error ?? del.error} />
      {(keysQ.data ?? []).length === 0 ? (
        <p>No registration keys.</p>
      ) : (
        <ul className="plain list">
          {(keysQ.data ?? []).map((k) => (
            <li key={k.id} className="card">
              <strong>{k.description || 'Registration key'}</strong> —{' '}
              {k.single_use ? 'single use' : 'reusable'}
              {k.device_id ? ', used' : ''}
              {k.expires_at ? `, expires ${new Date(k.expires_at).toLocaleString()}` : ', never expires'}{' '}
              <button type="button" onClick={() => del.mutate(k.id)}>
                Delete key {k.description || k.id}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
