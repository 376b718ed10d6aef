// SPDX-License-Identifier: Apache-2.0
// One device: its fields and metadata, its security group (changeable), and deletion.
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import {
  useAllVpcMetadata,
  useDeleteDevice,
  useDevices,
  useSecurityGroups,
  useUpdateDevice,
} from '../api/hooks.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorNote, fieldError } from '../components/ErrorNote.js';
import { Field } from '../components/Field.js';
import { ipv4Of, ipv6Of, statusText } from './device-view.js';

export function DeviceDetailPage() {
  const { id = '' } = useParams();
  const devices = useDevices();
  const device = devices.data?.find((d) => d.id === id);
  const meta = useAllVpcMetadata(device ? [device.vpc_id] : []).filter((m) => m.device_id === id);
  const groups = useSecurityGroups();
  const update = useUpdateDevice();
  const del = useDeleteDevice();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const [group, setGroup] = useState<string | undefined>();

  if (devices.isPending) return <p>Loading…</p>;
  if (!device) {
    return (
      <section>
        <h1>Device not found</h1>
        <p>
          This device does not exist (any more) or is not yours. <Link to="/devices">Back to devices</Link>
        </p>
      </section>
    );
  }
  const v4 = ipv4Of(device);
  const v6 = ipv6Of(device);
  const vpcGroups = (groups.data ?? []).filter((g) => g.vpc_id === device.vpc_id);
  const selected = group ?? device.security_group_id ?? '';
  return (
    <section aria-labelledby="device-h">
      <p>
        <Link to="/devices">← All devices</Link>
      </p>
      <h1 id="device-h">{device.hostname}</h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>{statusText(device)}</dd>
        <dt>IPv4</dt>
        <dd>
          {v4 ? (
            <>
              <code>{v4}</code> <CopyButton text={v4} label="Copy IPv4 address" />
            </>
          ) : (
            'none'
          )}
        </dd>
        <dt>IPv6</dt>
        <dd>
          {v6 ? (
            <>
              <code>{v6}</code> <CopyButton text={v6} label="Copy IPv6 address" />
            </>
          ) : (
            'none'
          )}
        </dd>
        <dt>OS</dt>
        <dd>{device.os}</dd>
        <dt>Public key</dt>
        <dd>
          <code className="wrap">{device.public_key}</code>
        </dd>
        <dt>Endpoints</dt>
        <dd>{device.endpoints.map((e) => `${e.address} (${e.source})`).join(', ') || 'none'}</dd>
        <dt>VPC</dt>
        <dd>
          <code>{device.vpc_id}</code>
        </dd>
      </dl>

      <h2>Metadata</h2>
      {meta.length === 0 ? (
        <p>No metadata.</p>
      ) : (
        meta.map((m) => (
          <div key={m.key}>
            <h3>{m.key}</h3>
            <pre className="json">{JSON.stringify(m.value, null, 2)}</pre>
          </div>
        ))
      )}

      <h2>Security group</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (selected) update.mutate({ id: device.id, body: { security_group_id: selected } });
        }}
      >
        <Field label="Security group" error={fieldError(update.error, 'security_group_id')}>
          <select value={selected} onChange={(e) => setGroup(e.target.value)}>
            <option value="">(the VPC's default)</option>
            {vpcGroups.map((g) => (
              <option key={g.id} value={g.id}>
                {g.description || g.id}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" disabled={!selected || update.isPending}>
          Save security group
        </button>
        {update.isSuccess && <p role="status">Saved.</p>}
        <ErrorNote error={update.error} />
      </form>

      <h2>Delete</h2>
      {!confirming ? (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Delete device
        </button>
      ) : (
        <fieldset>
          <legend>Confirm deletion</legend>
          <p>Delete {device.hostname}? Its nexd loses access to the VPC.</p>
          <button
            type="button"
            className="danger"
            onClick={() => del.mutate(device.id, { onSuccess: () => navigate('/devices') })}
          >
            Yes, delete {device.hostname}
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </fieldset>
      )}
      <ErrorNote error={del.error} />
    </section>
  );
}
