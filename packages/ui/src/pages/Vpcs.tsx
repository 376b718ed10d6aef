// SPDX-License-Identifier: Apache-2.0
// VPCs: the address spaces the user's devices live in; create one in an organization.
import { useState } from 'react';
import { useCreateVpc, useOrganizations, useVpcs } from '../api/hooks.js';
import { ErrorNote, fieldError } from '../components/ErrorNote.js';
import { Field } from '../components/Field.js';

const CIDR4 = /^(\d{1,3})(\.\d{1,3}){3}\/(\d|[12]\d|3[0-2])$/;

export function VpcsPage() {
  const vpcs = useVpcs();
  const orgs = useOrganizations();
  const create = useCreateVpc();
  const [description, setDescription] = useState('');
  const [org, setOrg] = useState('');
  const [cidr, setCidr] = useState('');
  const [cidrError, setCidrError] = useState<string | undefined>();
  const orgId = org || orgs.data?.[0]?.id || '';
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const bad = cidr.trim() !== '' && !CIDR4.test(cidr.trim());
    setCidrError(bad ? 'An IPv4 CIDR such as 100.64.0.0/16, or empty for the default.' : undefined);
    if (bad || !orgId) return;
    create.mutate({
      organization_id: orgId,
      description,
      ...(cidr.trim() ? { ipv4_cidr: cidr.trim(), private_cidr: true } : {}),
    });
  };
  return (
    <section aria-labelledby="vpc-h">
      <h1 id="vpc-h">VPCs</h1>
      <ErrorNote error={vpcs.error} />
      <table className="cards">
        <caption className="sr-only">VPCs</caption>
        <thead>
          <tr>
            <th scope="col">Description</th>
            <th scope="col">IPv4</th>
            <th scope="col">IPv6</th>
            <th scope="col">Id</th>
          </tr>
        </thead>
        <tbody>
          {(vpcs.data ?? []).map((v) => (
            <tr key={v.id}>
              <th scope="row" data-label="Description">
                {v.description || '(default VPC)'}
              </th>
              <td data-label="IPv4">
                <code>{v.ipv4_cidr}</code>
              </td>
              <td data-label="IPv6">
                <code>{v.ipv6_cidr}</code>
              </td>
              <td data-label="Id">
                <code className="wrap">{v.id}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="card" onSubmit={submit} noValidate aria-labelledby="vpc-new-h">
        <h2 id="vpc-new-h">New VPC</h2>
        <Field label="Description" error={fieldError(create.error, 'description')}>
          <input value={description} maxLength={256} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <Field label="Organization" error={fieldError(create.error, 'organization_id')}>
          <select value={orgId} onChange={(e) => setOrg(e.target.value)}>
            {(orgs.data ?? []).map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          label="IPv4 CIDR"
          hint="Empty: 100.100.0.0/16"
          error={cidrError ?? fieldError(create.error, 'ipv4_cidr')}
        >
          <input value={cidr} onChange={(e) => setCidr(e.target.value)} />
        </Field>
        <button type="submit" disabled={create.isPending}>
          Create VPC
        </button>
        {create.isSuccess && <p role="status">Created.</p>}
        <ErrorNote error={create.error} />
      </form>
    </section>
  );
}
