// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { exportMetadata, exportObjects, ingressRules } from '../src/export/desired.js';
import { exportVerdict } from '../src/export/spec.js';
import { EXPORT_LABEL, MANAGED_BY_LABEL } from '../src/labels.js';
import { objectName } from '../src/names.js';
import type { ProxySettings } from '../src/proxy/workload.js';

const defaults = { realm: 'shop', replicas: 2 };
const settings: ProxySettings = {
  image: 'localhost/nexodus-ts/nexd:0.1.0',
  serviceUrl: 'https://nexodus.example',
  credentials: {
    kind: 'password',
    secret: 'nexodus-credentials',
    usernameKey: 'username',
    passwordKey: 'password',
  },
  logLevel: 'info',
};

function service(
  labels: Record<string, string>,
  ports: V1ServicePort[] = [{ port: 80, protocol: 'TCP' }],
): V1Service {
  return {
    metadata: { name: 'nginx', namespace: 'shop', uid: 'u-1', labels },
    spec: { ports },
  };
}

describe('export verdict', () => {
  test('a Service without the label is not exported', () => {
    assert.deepEqual(exportVerdict(service({}), defaults), { kind: 'none' });
    assert.deepEqual(exportVerdict(service({ [EXPORT_LABEL]: 'false' }), defaults), { kind: 'none' });
  });

  test('the label exports every port under the Service name into the default realm', () => {
    const v = exportVerdict(
      service({ [EXPORT_LABEL]: 'true' }, [
        { name: 'http', port: 80 },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ]),
      defaults,
    );
    assert.equal(v.kind, 'export');
    if (v.kind !== 'export') return;
    assert.deepEqual(v.spec, {
      namespace: 'shop',
      service: 'nginx',
      realm: 'shop',
      name: 'nginx',
      replicas: 2,
      ports: [
        { name: 'nginx', protocol: 'tcp', port: 80 },
        { name: 'nginx', protocol: 'udp', port: 53 },
      ],
    });
  });

  test('a LoadBalancer of class nexodus.io/vpc is exported without the label; another class is not', () => {
    const lb = (cls: string): V1Service => ({
      metadata: { name: 'web', namespace: 'shop' },
      spec: { type: 'LoadBalancer', loadBalancerClass: cls, ports: [{ port: 443 }] },
    });
    const v = exportVerdict(lb('nexodus.io/vpc'), defaults);
    assert.equal(v.kind === 'export' && v.spec.name, 'web');
    assert.deepEqual(exportVerdict(lb('example.com/other'), defaults), { kind: 'none' });
  });

  test('a ServiceExport of the name exports the Service as the label does', () => {
    const v = exportVerdict(service({}), defaults, true);
    assert.equal(v.kind === 'export' && v.spec.name, 'nginx');
  });

  test('realm, name and replicas labels override the defaults', () => {
    const v = exportVerdict(
      service({
        [EXPORT_LABEL]: 'true',
        'nexlink.nexodus.io/realm': 'blue',
        'nexlink.nexodus.io/name': 'web',
        'nexlink.nexodus.io/replicas': '3',
      }),
      defaults,
    );
    assert.equal(v.kind === 'export' && `${v.spec.realm}/${v.spec.name}/${v.spec.replicas}`, 'blue/web/3');
  });

  for (const [what, labels, ports, reason] of [
    ['no ports', {}, [], 'NoPorts'],
    ['an invalid realm', { 'nexlink.nexodus.io/realm': 'Not_A_Realm' }, undefined, 'InvalidRealm'],
    ['an invalid name', { 'nexlink.nexodus.io/name': '9web' }, undefined, 'InvalidName'],
    ['zero replicas', { 'nexlink.nexodus.io/replicas': '0' }, undefined, 'InvalidReplicas'],
    ['an SCTP port', {}, [{ port: 9, protocol: 'SCTP' }], 'UnsupportedProtocol'],
  ] as const) {
    test(`${what} is refused with reason ${reason} and a message saying what is expected`, () => {
      const v = exportVerdict(service({ [EXPORT_LABEL]: 'true', ...labels }, ports as never), defaults);
      assert.equal(v.kind, 'invalid');
      if (v.kind !== 'invalid') return;
      assert.equal(v.reason, reason);
      assert.match(v.message, /expected|give it|only/);
    });
  }
});

describe('export objects', () => {
  const v = exportVerdict(
    service({ [EXPORT_LABEL]: 'true' }, [
      { port: 80, protocol: 'TCP' },
      { port: 443, protocol: 'TCP' },
    ]),
    defaults,
  );
  assert.ok(v.kind === 'export');
  const spec = v.spec;

  test('one ingress rule per Service port, to the Service cluster DNS name on the same port', () => {
    assert.deepEqual(ingressRules(spec, 'cluster.local'), [
      'tcp:80:nginx.shop.svc.cluster.local:80',
      'tcp:443:nginx.shop.svc.cluster.local:443',
    ]);
  });

  test('the metadata lists realm and services as the design specifies', () => {
    assert.deepEqual(exportMetadata(spec), {
      realm: 'shop',
      services: [
        { name: 'nginx', protocol: 'tcp', port: 80 },
        { name: 'nginx', protocol: 'tcp', port: 443 },
      ],
    });
  });

  test('a StatefulSet with a state Secret per replica, a Role on exactly those, all owned and labelled', () => {
    const owner = { apiVersion: 'v1', kind: 'Service', name: 'nginx', uid: 'u-1', controller: true };
    const o = exportObjects(spec, owner, settings, 'cluster.local');
    const sts = o.statefulSet;
    assert.equal(sts.metadata?.name, 'nexlink-export-nginx');
    assert.equal(sts.spec?.replicas, 2);
    assert.deepEqual(
      o.secrets.map((s) => s.metadata?.name),
      ['nexlink-export-nginx-0', 'nexlink-export-nginx-1'],
    );
    assert.equal(o.secrets[0]!.data, undefined, 'no data: nexd owns state.json');
    assert.deepEqual(o.role.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['nexlink-export-nginx-0', 'nexlink-export-nginx-1'],
        verbs: ['get', 'update'],
      },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['nexlink-export-nginx-rules'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    for (const obj of [sts, o.role, o.roleBinding, o.serviceAccount, o.rules, ...o.secrets]) {
      assert.equal(obj.metadata?.labels?.[MANAGED_BY_LABEL], 'nexlink');
      assert.deepEqual(obj.metadata?.ownerReferences, [owner]);
    }
    const c = sts.spec!.template.spec!.containers[0]!;
    assert.deepEqual(c.args, ['proxy']);
    assert.deepEqual(o.rules.data, {
      ingress: 'tcp:80:nginx.shop.svc.cluster.local:80\ntcp:443:nginx.shop.svc.cluster.local:443\n',
      egress: '',
    });
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.deepEqual(env.NEXD_STATE_SECRET, { fieldRef: { fieldPath: 'metadata.name' } });
    assert.deepEqual(env.NEXD_PASSWORD, { secretKeyRef: { name: 'nexodus-credentials', key: 'password' } });
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(sts.spec!.template.spec!.securityContext?.runAsNonRoot, true);
  });

  test('long names are shortened with a hash and stay within the StatefulSet limit', () => {
    const long = 'a'.repeat(60);
    const n = objectName('nexlink-export-', long);
    assert.equal(n.length, 52);
    assert.notEqual(n, objectName('nexlink-export-', `${'a'.repeat(59)}b`));
    assert.equal(objectName('nexlink-export-', 'web'), 'nexlink-export-web');
  });
});
