// SPDX-License-Identifier: Apache-2.0
// Devices: every device the user can see, updated live from the watch stream.
import type { Device, DeviceMetadata } from '@nexodus/api/schemas';
import { Link } from 'react-router';
import { useAllVpcMetadata, useDevices, useVpcs } from '../api/hooks.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { ipv4Of, ipv6Of, nexlinkOf, proxyRulesOf, statusText } from './device-view.js';

function Address(props: { value: string | undefined; family: string; host: string }) {
  if (!props.value) return <span>none</span>;
  return (
    <span className="addr">
      <code>{props.value}</code>
      <CopyButton text={props.value} label={`Copy ${props.family} address of ${props.host}`} />
    </span>
  );
}

function MetadataCell(props: { meta: DeviceMetadata[]; device: Device }) {
  const rules = proxyRulesOf(props.meta, props.device.id);
  const nexlink = nexlinkOf(props.meta, props.device.id);
  if (rules.length === 0 && !nexlink) return <span>none</span>;
  return (
    <ul className="plain">
      {rules.map((r) => (
        <li key={r}>
          <code>{r}</code>
        </li>
      ))}
      {nexlink?.services.map((s) => (
        <li key={`nl-${s.name}`}>
          nexlink export {s.name}
          {s.port ? ` (${s.protocol ?? 'tcp'}/${s.port})` : ''}
          {nexlink.realm ? `, realm ${nexlink.realm}` : ''}
        </li>
      ))}
    </ul>
  );
}

export function DevicesPage() {
  const devices = useDevices();
  const vpcs = useVpcs();
  const meta = useAllVpcMetadata((vpcs.data ?? []).map((v) => v.id));
  const list = [...(devices.data ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname));
  return (
    <section aria-labelledby="devices-h">
      <h1 id="devices-h">Devices</h1>
      <p>
        Every nexd registered in your VPCs. The list updates by itself as devices join, leave or go offline.
      </p>
      <ErrorNote error={devices.error} />
      {devices.isPending ? (
        <p>Loading devices…</p>
      ) : list.length === 0 ? (
        <p>No devices yet. Create a registration key and start a nexd with it.</p>
      ) : (
        <table className="cards">
          <caption className="sr-only">Devices</caption>
          <thead>
            <tr>
              <th scope="col">Hostname</th>
              <th scope="col">IPv4</th>
              <th scope="col">IPv6</th>
              <th scope="col">Endpoints</th>
              <th scope="col">Status</th>
              <th scope="col">OS</th>
              <th scope="col">Proxy rules and exports</th>
            </tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.id} className={d.online ? 'online' : 'offline'} data-device-id={d.id}>
                <th scope="row" data-label="Hostname">
                  <Link to={`/devices/${d.id}`}>{d.hostname}</Link>
                </th>
                <td data-label="IPv4">
                  <Address value={ipv4Of(d)} family="IPv4" host={d.hostname} />
                </td>
                <td data-label="IPv6">
                  <Address value={ipv6Of(d)} family="IPv6" host={d.hostname} />
                </td>
                <td data-label="Endpoints">
                  {d.endpoints.length === 0 ? (
                    'none'
                  ) : (
                    <ul className="plain">
                      {d.endpoints.map((e) => (
                        <li key={`${e.source}-${e.address}`}>
                          <code>{e.address}</code> ({e.source})
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td data-label="Status">
                  <span className={`status ${d.online ? 'on' : 'off'}`}>{statusText(d)}</span>
                </td>
                <td data-label="OS">{d.os}</td>
                <td data-label="Proxy rules and exports">
                  <MetadataCell meta={meta} device={d} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
