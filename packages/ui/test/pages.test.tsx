// SPDX-License-Identifier: Apache-2.0
// Pages rendered in jsdom from a filled cache: what a user sees and what a form refuses to send.
import type { Device, SecurityGroup, Vpc } from '@nexodus/api/schemas';
import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { keys } from '../src/api/hooks.js';
import { applyEvent } from '../src/api/live.js';
import { DevicesPage } from '../src/pages/Devices.js';
import { GroupEditor } from '../src/pages/SecurityGroups.js';
import { renderPage } from './render.js';

const VPC: Vpc = {
  id: 'vpc-1',
  organization_id: 'org-1',
  description: '',
  ipv4_cidr: '100.100.0.0/16',
  ipv6_cidr: '200::/64',
  private_cidr: false,
  revision: 1,
};

function device(p: Partial<Device>): Device {
  return {
    id: 'd-1',
    owner_id: 'u-1',
    vpc_id: 'vpc-1',
    public_key: 'k',
    hostname: 'proxy-a',
    os: 'linux',
    endpoints: [{ source: 'local', address: '10.0.0.5:51820' }],
    advertise_cidrs: [],
    allowed_ips: [],
    ipv4_tunnel_ips: [{ address: '100.100.0.7' }],
    ipv6_tunnel_ips: [{ address: '200::7' }],
    relay: false,
    symmetric_nat: false,
    online: true,
    revision: 1,
    ...p,
  };
}

describe('devices page', () => {
  it('shows addresses with copy buttons, endpoints, status and nexlink exports; follows watch events', async () => {
    const { qc } = renderPage(<DevicesPage />, (qc) => {
      qc.setQueryData(keys.vpcs, [VPC]);
      qc.setQueryData(keys.devices, [device({})]);
      qc.setQueryData(keys.vpcMetadata('vpc-1'), [
        {
          device_id: 'd-1',
          key: 'nexlink',
          value: { services: [{ name: 'db', protocol: 'tcp', port: 5432 }] },
          revision: 1,
        },
      ]);
    });
    const row = screen.getByRole('row', { name: /proxy-a/ });
    expect(row.textContent).toContain('100.100.0.7');
    expect(row.textContent).toContain('200::7');
    expect(row.textContent).toContain('10.0.0.5:51820 (local)');
    expect(row.textContent).toContain('Online');
    expect(row.textContent).toContain('nexlink export db (tcp/5432)');
    expect(screen.getByRole('button', { name: 'Copy IPv4 address of proxy-a' })).toBeTruthy();

    act(() =>
      applyEvent(qc, 'vpc-1', {
        type: 'change',
        kind: 'device',
        value: device({ online: false, online_at: '2026-01-01T00:00:00Z', revision: 2 }),
      }),
    );
    // The cache notifies on its next tick.
    await waitFor(() => expect(screen.getByRole('row', { name: /proxy-a/ }).className).toBe('offline'));
    expect(screen.getByRole('row', { name: /proxy-a/ }).textContent).toContain('Offline, last seen');

    act(() =>
      applyEvent(qc, 'vpc-1', {
        type: 'change',
        kind: 'device',
        value: device({ id: 'd-2', hostname: 'proxy-b' }),
      }),
    );
    await screen.findByRole('row', { name: /proxy-b/ });
    act(() => applyEvent(qc, 'vpc-1', { type: 'delete', kind: 'device', value: device({}) }));
    await waitFor(() => expect(screen.queryByRole('row', { name: /proxy-a/ })).toBeNull());
  });
});

describe('security group editor', () => {
  const group: SecurityGroup = {
    id: 'sg-1',
    vpc_id: 'vpc-1',
    description: 'default',
    inbound_rules: [],
    outbound_rules: [],
    revision: 1,
  };

  it('puts each problem next to its field and sends nothing until the rules are valid', async () => {
    const { requests } = renderPage(<GroupEditor group={group} vpcName="default VPC" />);
    fireEvent.click(screen.getByRole('button', { name: 'Add inbound rule' }));
    const port = screen.getByLabelText('First port (inbound rule 1)');
    fireEvent.change(port, { target: { value: 'eighty' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save default' }));
    expect(port.getAttribute('aria-invalid')).toBe('true');
    const described = document.getElementById(port.getAttribute('aria-describedby') ?? '');
    expect(described?.textContent).toMatch(/whole number from 0 to 65535/);
    expect(requests).toHaveLength(0);

    fireEvent.change(port, { target: { value: '443' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save default' }));
    await screen.findByRole('status');
    expect(requests).toEqual([
      {
        method: 'PATCH',
        url: '/api/security-groups/sg-1',
        body: {
          description: 'default',
          inbound_rules: [{ ip_protocol: 'tcp', from_port: 443, to_port: 443 }],
          outbound_rules: [],
        },
      },
    ]);
  });
});
