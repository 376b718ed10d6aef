// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1OwnerReference, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Device } from '@nexodus/api';
import {
  DEVICE_LISTEN_BASE,
  deviceEgressRules,
  deviceObjects,
  deviceSlice,
  deviceVerdict,
  egressAddress,
  findDevice,
  parseTarget,
  proxyEndpoints,
} from '../src/device/desired.js';
import type { ProxySettings } from '../src/proxy/workload.js';

const settings: ProxySettings = {
  image: 'img',
  serviceUrl: 'https://nexodus.example',
  credentials: { kind: 'reg-key', secret: 'nexlink-key', key: 'reg-key' },
  logLevel: 'info',
};
const owner: V1OwnerReference = {
  apiVersion: 'v1',
  kind: 'Service',
  name: 'demo2',
  uid: 'u-1',
  controller: true,
};

function device(id: string, hostname: string, address: string, more: Partial<Device> = {}): Device {
  return {
    id,
    hostname,
    online: true,
    revision: 1,
    ipv4_tunnel_ips: [{ address, cidr: '100.100.0.0/16' }],
    ipv6_tunnel_ips: [{ address: `200::${address.split('.').pop()}`, cidr: '200::/64' }],
    ...more,
  } as unknown as Device;
}

function service(
  annotation: string | undefined,
  spec: V1Service['spec'] = { ports: [{ port: 80 }] },
): V1Service {
  return {
    metadata: {
      name: 'demo2',
      namespace: 'nl',
      ...(annotation !== undefined ? { annotations: { 'nexlink.nexodus.io/device': annotation } } : {}),
    },
    spec,
  };
}

function pod(name: string, ip: string | undefined, ready: boolean, deleting = false): V1Pod {
  return {
    metadata: { name, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    status: {
      ...(ip ? { podIP: ip } : {}),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

describe('the device annotation', () => {
  test('a hostname or an IPv4/IPv6 VPC address; anything else names no device', () => {
    assert.deepEqual(parseTarget('demo2-device'), { kind: 'hostname', hostname: 'demo2-device' });
    assert.deepEqual(parseTarget(' 100.100.0.1 '), { kind: 'address', address: '100.100.0.1' });
    assert.deepEqual(parseTarget('200::1'), { kind: 'address', address: '200::1' });
    for (const bad of ['', '  ', 'two words', 'http://x', 'a,b', 'x'.repeat(254)]) {
      assert.equal(parseTarget(bad), undefined, JSON.stringify(bad));
    }
  });

  test('no annotation, or a Service being deleted: nothing to do', () => {
    assert.deepEqual(deviceVerdict(service(undefined)), { kind: 'none' });
    const deleting = service('demo2-device');
    deleting.metadata!.deletionTimestamp = new Date();
    assert.deepEqual(deviceVerdict(deleting), { kind: 'none' });
  });

  test('a selector-less Service: its ports, the device port from a numeric targetPort', () => {
    const v = deviceVerdict(
      service('demo2-device', {
        ports: [
          { name: 'http', port: 8080, targetPort: 80 },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        ],
      }),
    );
    assert.deepEqual(v, {
      kind: 'device',
      spec: {
        service: 'demo2',
        target: { kind: 'hostname', hostname: 'demo2-device' },
        ports: [
          { name: 'http', protocol: 'tcp', port: 8080, devicePort: 80 },
          { name: 'dns', protocol: 'udp', port: 53, devicePort: 53 },
        ],
      },
    });
  });

  test('bad input: a reason and a message that says what is expected', () => {
    const cases: [V1Service, string, RegExp][] = [
      [service('two words'), 'InvalidDevice', /expected a device hostname .* or a VPC address/],
      [service('d', { selector: { app: 'x' }, ports: [{ port: 80 }] }), 'HasSelector', /remove the selector/],
      [service('d', { ports: [] }), 'NoPorts', /give it one port/],
      [service('d', { clusterIP: 'None' }), 'NoPorts', /give it one port/],
      [service('d', { ports: [{ port: 80, protocol: 'SCTP' }] }), 'UnsupportedProtocol', /TCP and UDP only/],
      [
        service('d', { type: 'ExternalName', externalName: 'x.example' }),
        'UnsupportedType',
        /without a selector/,
      ],
    ];
    for (const [svc, reason, message] of cases) {
      const v = deviceVerdict(svc);
      assert.equal(v.kind, 'invalid', reason);
      if (v.kind !== 'invalid') continue;
      assert.equal(v.reason, reason);
      assert.match(v.message, message);
    }
  });
});

describe('finding the device', () => {
  const hostname = { kind: 'hostname', hostname: 'demo2-device' } as const;

  test('by hostname (case-insensitive) or by any of its VPC addresses; unknown: undefined', () => {
    const devices = [device('a', 'other', '100.100.0.2'), device('b', 'Demo2-Device', '100.100.0.1')];
    assert.equal(findDevice(devices, hostname)?.id, 'b');
    assert.equal(findDevice(devices, { kind: 'address', address: '100.100.0.2' })?.id, 'a');
    assert.equal(findDevice(devices, { kind: 'address', address: '200::1' })?.id, 'b');
    assert.equal(findDevice(devices, { kind: 'hostname', hostname: 'nope' }), undefined);
    assert.equal(findDevice(devices, { kind: 'address', address: '100.100.0.9' }), undefined);
  });

  test('several of one hostname: an online one before an offline one, even an older one', () => {
    const devices = [
      device('old', 'demo2-device', '100.100.0.1', {
        online: true,
        online_at: '2026-01-01T00:00:00Z',
        revision: 3,
      }),
      device('new', 'demo2-device', '100.100.0.7', { online: false, revision: 9 }),
    ];
    assert.equal(findDevice(devices, hostname)?.id, 'old');
  });

  test('several online: the one online last; several offline: the highest revision (re-registered last)', () => {
    const online = [
      device('a', 'demo2-device', '100.100.0.1', { online_at: '2026-01-01T00:00:05Z', revision: 9 }),
      device('b', 'demo2-device', '100.100.0.7', { online_at: '2026-01-01T00:00:09Z', revision: 4 }),
    ];
    assert.equal(findDevice(online, hostname)?.id, 'b');
    assert.equal(findDevice([...online].reverse(), hostname)?.id, 'b', 'not the order of the map');
    const offline = [
      device('a', 'demo2-device', '100.100.0.1', { online: false, revision: 12 }),
      device('b', 'demo2-device', '100.100.0.7', { online: false, revision: 4 }),
    ];
    assert.equal(findDevice(offline, hostname)?.id, 'a');
  });

  test('the egress address is the IPv4 one; a device without one has none', () => {
    assert.equal(egressAddress(device('a', 'h', '100.100.0.1')), '100.100.0.1');
    assert.equal(egressAddress(device('a', 'h', '100.100.0.1', { ipv4_tunnel_ips: [] })), undefined);
  });
});

describe('the workload and the EndpointSlice', () => {
  const v = deviceVerdict(
    service('demo2-device', {
      ports: [
        { name: 'http', port: 80, targetPort: 80 },
        { name: 'syslog', port: 514, protocol: 'UDP', targetPort: 514 },
      ],
    }),
  );
  assert.equal(v.kind, 'device');
  const spec = v.kind === 'device' ? v.spec : (undefined as never);

  test('one egress rule per Service port, to the device port, listening from the base', () => {
    assert.deepEqual(deviceEgressRules(spec, '100.100.0.1'), [
      `tcp:${DEVICE_LISTEN_BASE}:100.100.0.1:80`,
      `udp:${DEVICE_LISTEN_BASE + 1}:100.100.0.1:514`,
    ]);
  });

  test('a nexd proxy workload of role device, owned by the Service, with named listen ports', () => {
    const objs = deviceObjects(spec, '100.100.0.1', 'nl', 2, owner, settings);
    const sts = objs.statefulSet;
    assert.equal(sts.metadata?.name, 'nexlink-device-demo2');
    assert.equal(sts.metadata?.labels?.['nexlink.nexodus.io/role'], 'device');
    assert.equal(sts.metadata?.labels?.['nexlink.nexodus.io/service'], 'demo2');
    assert.deepEqual(sts.metadata?.ownerReferences, [owner]);
    assert.equal(sts.spec?.replicas, 2);
    assert.equal(objs.secrets.length, 2);
    const c = sts.spec!.template.spec!.containers[0]!;
    assert.deepEqual(
      c.ports?.filter((p) => p.name !== 'health').map((p) => [p.name, p.containerPort, p.protocol]),
      [
        ['device-0', DEVICE_LISTEN_BASE, 'TCP'],
        ['device-1', DEVICE_LISTEN_BASE + 1, 'UDP'],
      ],
    );
  });

  test('the rules ConfigMap: the egress rules; with the device gone, none (the Pods stay as they are)', () => {
    const there = deviceObjects(spec, '100.100.0.1', 'nl', 1, owner, settings);
    assert.equal(
      there.rules.data?.egress,
      `tcp:${DEVICE_LISTEN_BASE}:100.100.0.1:80\nudp:${DEVICE_LISTEN_BASE + 1}:100.100.0.1:514\n`,
    );
    const gone = deviceObjects(spec, undefined, 'nl', 1, owner, settings);
    assert.equal(gone.rules.data?.egress, '');
    assert.deepEqual(gone.statefulSet, there.statefulSet, 'a rule change does not touch the StatefulSet');
  });

  test('proxy Pods: only those with an IPv4 address, by name, terminating ones not ready', () => {
    const eps = proxyEndpoints([
      pod('nexlink-device-demo2-1', '10.244.1.9', true, true),
      pod('nexlink-device-demo2-0', '10.244.1.8', true),
      pod('nexlink-device-demo2-2', undefined, false),
      pod('nexlink-device-demo2-3', 'fd00::3', true),
      pod('nexlink-device-demo2-4', '10.244.1.10', false),
    ]);
    assert.deepEqual(eps, [
      { ip: '10.244.1.8', pod: 'nexlink-device-demo2-0', serving: true, terminating: false },
      { ip: '10.244.1.9', pod: 'nexlink-device-demo2-1', serving: true, terminating: true },
      { ip: '10.244.1.10', pod: 'nexlink-device-demo2-4', serving: false, terminating: false },
    ]);
  });

  test('the slice: the Service name label, managed by nexlink, ports named as the Service, endpoints', () => {
    const eps = proxyEndpoints([
      pod('nexlink-device-demo2-0', '10.244.1.8', true),
      pod('nexlink-device-demo2-1', '10.244.1.9', true, true),
    ]);
    const slice = deviceSlice(spec, 'nl', owner, eps);
    assert.equal(slice.metadata?.name, 'nexlink-device-demo2');
    assert.equal(slice.metadata?.labels?.['kubernetes.io/service-name'], 'demo2');
    assert.equal(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'nexlink.nexodus.io');
    assert.equal(slice.metadata?.labels?.['app.kubernetes.io/managed-by'], 'nexlink');
    assert.deepEqual(slice.metadata?.ownerReferences, [owner]);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.ports, [
      { name: 'http', port: DEVICE_LISTEN_BASE, protocol: 'TCP' },
      { name: 'syslog', port: DEVICE_LISTEN_BASE + 1, protocol: 'UDP' },
    ]);
    assert.deepEqual(
      slice.endpoints.map((e) => [e.addresses, e.conditions, e.targetRef?.name]),
      [
        [['10.244.1.8'], { ready: true, serving: true, terminating: false }, 'nexlink-device-demo2-0'],
        [['10.244.1.9'], { ready: false, serving: true, terminating: true }, 'nexlink-device-demo2-1'],
      ],
    );
  });

  test("an unnamed single port: the slice's port has the empty name, as the Service's", () => {
    const one = deviceVerdict(service('demo2-device'));
    assert.equal(one.kind, 'device');
    if (one.kind !== 'device') return;
    assert.deepEqual(deviceSlice(one.spec, 'nl', owner, []).ports, [
      { name: '', port: DEVICE_LISTEN_BASE, protocol: 'TCP' },
    ]);
  });
});
