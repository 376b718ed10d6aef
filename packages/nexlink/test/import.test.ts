// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Device } from '@nexodus/api';
import {
  desiredImports,
  egressRules,
  importObjects,
  importService,
  serviceImport,
} from '../src/import/desired.js';
import { parseMetadata } from '../src/metadata.js';
import type { ProxySettings } from '../src/proxy/workload.js';

function device(id: string, address: string, online = true): Device {
  return {
    id,
    online,
    ipv4_tunnel_ips: [{ address, cidr: '100.100.0.0/16' }],
  } as unknown as Device;
}
const nginx = (realm = 'shop') => ({ realm, services: [{ name: 'nginx', protocol: 'tcp', port: 80 }] });

const settings: ProxySettings = {
  image: 'img',
  serviceUrl: 'https://nexodus.example',
  credentials: { kind: 'reg-key', secret: 'nexlink-key', key: 'reg-key' },
  logLevel: 'info',
};

describe('desired imports', () => {
  test('online exporters of our realm become targets of the name, sorted; offline ones do not', () => {
    const vpc = {
      devices: new Map([
        ['d1', device('d1', '100.100.0.4')],
        ['d2', device('d2', '100.100.0.3')],
        ['d3', device('d3', '100.100.0.5', false)],
      ]),
      metadata: new Map<string, unknown>([
        ['d1', nginx()],
        ['d2', nginx()],
        ['d3', nginx()],
      ]),
    };
    const { imports, invalid } = desiredImports(vpc, 'shop', new Set());
    assert.equal(invalid, 0);
    assert.deepEqual(
      [...imports.values()],
      [{ name: 'nginx', ports: [{ protocol: 'tcp', port: 80, targets: ['100.100.0.3', '100.100.0.4'] }] }],
    );
  });

  test('other realms, our own devices and malformed metadata are not imported', () => {
    const vpc = {
      devices: new Map([
        ['d1', device('d1', '100.100.0.4')],
        ['d2', device('d2', '100.100.0.3')],
        ['d3', device('d3', '100.100.0.5')],
      ]),
      metadata: new Map<string, unknown>([
        ['d1', nginx('blue')],
        ['d2', nginx()],
        ['d3', { realm: 'shop', services: [{ name: 'x', protocol: 'sctp', port: 1 }] }],
      ]),
    };
    const { imports, invalid } = desiredImports(vpc, 'shop', new Set(['d2']));
    assert.equal(imports.size, 0);
    assert.equal(invalid, 1);
  });

  test('an import stays while its exporters are offline, with no targets; it goes with the metadata', () => {
    const vpc = {
      devices: new Map([['d1', device('d1', '100.100.0.4', false)]]),
      metadata: new Map<string, unknown>([['d1', nginx()]]),
    };
    assert.deepEqual(
      [...desiredImports(vpc, 'shop', new Set()).imports.values()],
      [{ name: 'nginx', ports: [{ protocol: 'tcp', port: 80, targets: [] }] }],
    );
    vpc.metadata.delete('d1');
    assert.equal(desiredImports(vpc, 'shop', new Set()).imports.size, 0);
  });

  test('metadata parsing rejects bad names, ports and shapes', () => {
    assert.ok(parseMetadata(nginx()));
    for (const bad of [
      null,
      'x',
      { realm: 'Shop!', services: [] },
      { realm: 'shop', services: [{ name: 'nginx', protocol: 'tcp', port: 0 }] },
      { realm: 'shop', services: [{ name: 'Nginx', protocol: 'tcp', port: 80 }] },
      { realm: 'shop', services: {} },
    ]) {
      assert.equal(parseMetadata(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('import objects', () => {
  const spec = {
    name: 'nginx',
    ports: [
      { protocol: 'tcp' as const, port: 80, targets: ['100.100.0.3', '100.100.0.4'] },
      { protocol: 'udp' as const, port: 53, targets: ['100.100.0.3'] },
    ],
  };

  test('egress rules per target, one local listen port per imported port (round-robin on a shared port)', () => {
    assert.deepEqual(egressRules(spec), [
      'tcp:20000:100.100.0.3:80',
      'tcp:20000:100.100.0.4:80',
      'udp:20001:100.100.0.3:53',
    ]);
  });

  test('a Service of the exported name maps its ports to the listeners and selects the proxies', () => {
    const svc = importService(spec, 'shop');
    assert.equal(svc.metadata?.name, 'nginx');
    assert.deepEqual(svc.spec?.selector, { 'app.kubernetes.io/instance': 'nexlink-import-nginx' });
    assert.deepEqual(
      svc.spec?.ports?.map((p) => [p.name, p.protocol, p.port, p.targetPort]),
      [
        ['tcp-80', 'TCP', 80, 'import-0'],
        ['udp-53', 'UDP', 53, 'import-1'],
      ],
    );
    const o = importObjects(spec, 'shop', 1, undefined, settings);
    const c = o.statefulSet.spec!.template.spec!.containers[0]!;
    assert.deepEqual(
      c.ports?.map((p) => [p.name, p.containerPort]),
      [
        ['health', 8080],
        ['import-0', 20000],
        ['import-1', 20001],
      ],
    );
    assert.ok(c.env?.some((e) => e.name === 'NEXD_REG_KEY'));
    // The rules are in the ConfigMap nexd follows, not in the arguments: a new target changes no Pod.
    assert.deepEqual(c.args, ['proxy']);
    assert.ok(
      c.env?.some((e) => e.name === 'NEXD_RULES_CONFIGMAP' && e.value === 'nexlink-import-nginx-rules'),
    );
    assert.equal(o.rules.metadata?.name, 'nexlink-import-nginx-rules');
    assert.equal(
      o.rules.data?.egress,
      'tcp:20000:100.100.0.3:80\ntcp:20000:100.100.0.4:80\nudp:20001:100.100.0.3:53\n',
    );
    const moved = importObjects(
      { ...spec, ports: [{ ...spec.ports[0]!, targets: ['100.100.0.9'] }, spec.ports[1]!] },
      'shop',
      1,
      undefined,
      settings,
    );
    assert.deepEqual(moved.statefulSet, o.statefulSet, 'other targets, same StatefulSet');
    assert.deepEqual(
      o.role.rules?.find((r) => r.resources?.includes('configmaps')),
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['nexlink-import-nginx-rules'],
        verbs: ['get', 'list', 'watch'],
      },
    );
  });

  test('the MCS ServiceImport lists the ports and the Service address, and goes with the Service', () => {
    const owner = { apiVersion: 'v1', kind: 'Service', name: 'nginx', uid: 'u1', controller: true };
    const si = serviceImport(spec, 'shop', '10.96.0.12', owner);
    assert.equal(si.kind, 'ServiceImport');
    assert.deepEqual(si.metadata?.ownerReferences, [owner]);
    assert.deepEqual(si.spec, {
      type: 'ClusterSetIP',
      ips: ['10.96.0.12'],
      ports: [
        { name: 'tcp-80', protocol: 'TCP', port: 80 },
        { name: 'udp-53', protocol: 'UDP', port: 53 },
      ],
    });
    assert.equal((serviceImport(spec, 'shop', undefined, owner).spec as { ips?: unknown }).ips, undefined);
  });
});
