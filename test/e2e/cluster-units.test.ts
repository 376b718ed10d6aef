// SPDX-License-Identifier: Apache-2.0
// The pure parts of the test cluster: the kubelet's env rules, the service proxy's rule set, the DNS
// records and the container start script. No node, no root: these run everywhere.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Container, V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { dnsRecords } from './lib/cluster/cluster-dns.js';
import { privilegeArgs, shQuote } from './lib/cluster/container.js';
import { containerArgv, containerEnv, expandReferences, PodSpecError } from './lib/cluster/pod-spec.js';
import { iptablesRules, servicePorts } from './lib/cluster/service-proxy.js';

const pod: V1Pod = {
  metadata: { name: 'web-1', namespace: 'demo', uid: 'u-1', labels: { app: 'web' } },
  spec: { containers: [], serviceAccountName: 'nexd' },
};

describe('pod-spec: environment and argv as the kubelet builds them', () => {
  const ctx = {
    pod,
    podIp: '10.244.1.5',
    nodeName: 'node-1',
    base: { PATH: '/bin' },
    lookup: (kind: string, name: string, key: string) =>
      kind === 'Secret' && name === 'creds' && key === 'password' ? 'pw' : undefined,
  };

  test('value, $(VAR) of earlier entries, $$ escapes, fieldRef and secretKeyRef', () => {
    const c: V1Container = {
      name: 'main',
      env: [
        { name: 'A', value: 'x' },
        { name: 'B', value: '$(A)-$(MISSING)-$$(A)' },
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'OPT', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope', optional: true } } },
      ],
    };
    assert.deepEqual(Object.fromEntries(containerEnv(c, ctx)), {
      PATH: '/bin',
      A: 'x',
      B: 'x-$(MISSING)-$(A)',
      POD: 'web-1',
      IP: '10.244.1.5',
      APP: 'web',
      PW: 'pw',
      OPT: '',
    });
  });

  test('a missing Secret key is CreateContainerConfigError naming the key', () => {
    const c: V1Container = {
      name: 'm',
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } }],
    };
    assert.throws(
      () => containerEnv(c, ctx),
      (e: unknown) =>
        e instanceof PodSpecError &&
        e.reason === 'CreateContainerConfigError' &&
        /"creds" has no key "user"/.test(e.message),
    );
  });

  test('command replaces the image entrypoint, args follow and are expanded', () => {
    const vars = new Map([['NAME', 'demo']]);
    assert.deepEqual(
      containerArgv({ name: 'm', command: ['sh', '-c'], args: ['echo $(NAME)'] }, ['nginx'], vars),
      ['sh', '-c', 'echo demo'],
    );
    assert.deepEqual(containerArgv({ name: 'm' }, ['nginx', '-g', 'daemon off;'], vars), [
      'nginx',
      '-g',
      'daemon off;',
    ]);
    assert.throws(() => containerArgv({ name: 'm' }, undefined, vars), /no command and the image has none/);
    assert.equal(expandReferences('$(NAME)$$', vars), 'demo$');
  });
});

describe('container: privileges from the securityContext', () => {
  test('restricted: uid/gid, no capabilities, no_new_privs; runAsNonRoot without a uid is refused', () => {
    const c: V1Container = {
      name: 'm',
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    };
    assert.deepEqual(privilegeArgs(c, { runAsUser: 65532, runAsNonRoot: true }), [
      '--reuid=65532',
      '--regid=65532',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
    ]);
    assert.throws(
      () => privilegeArgs({ name: 'm' }, { runAsNonRoot: true }),
      /runAsNonRoot but no non-zero runAsUser/,
    );
    assert.deepEqual(privilegeArgs({ name: 'm' }, undefined), []);
    assert.equal(shQuote("it's"), `'it'\\''s'`);
  });
});

describe('service proxy: rules from Services and EndpointSlices', () => {
  const svc = (
    name: string,
    ip: string,
    ports: { name?: string; port: number; protocol?: string }[],
  ): V1Service => ({
    metadata: { name, namespace: 'demo' },
    spec: { clusterIP: ip, ports },
  });
  const slice = (
    service: string,
    port: number,
    eps: [string, boolean][],
    portName = 'http',
  ): V1EndpointSlice => ({
    metadata: { namespace: 'demo', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: portName, port }],
    endpoints: eps.map(([a, ready]) => ({ addresses: [a], conditions: { ready } })),
  });

  test('ready endpoints only, matched by port name; headless and IPv6 ClusterIPs are skipped', () => {
    const ports = servicePorts(
      [
        svc('web', '10.0.0.10', [{ name: 'http', port: 80 }]),
        svc('headless', 'None', [{ port: 80 }]),
        svc('v6', 'fd00::10', [{ port: 80 }]),
      ],
      [
        slice('web', 8080, [
          ['10.244.1.3', true],
          ['10.244.1.2', true],
          ['10.244.1.4', false],
        ]),
      ],
    );
    assert.deepEqual(ports, [
      {
        id: 'demo/web:http',
        clusterIp: '10.0.0.10',
        port: 80,
        protocol: 'tcp',
        endpoints: [
          { ip: '10.244.1.2', port: 8080 },
          { ip: '10.244.1.3', port: 8080 },
        ],
      },
    ]);
  });

  test('random balancing 1/n, 1/(n-1), ..., last unconditional; no endpoints: a reset; hairpin masquerade', () => {
    const rules = iptablesRules([
      {
        id: 'demo/web:http',
        clusterIp: '10.0.0.10',
        port: 80,
        protocol: 'tcp',
        endpoints: [
          { ip: '10.244.1.2', port: 80 },
          { ip: '10.244.1.3', port: 80 },
          { ip: '10.244.1.4', port: 80 },
        ],
      },
      { id: 'demo/dns:53', clusterIp: '10.0.0.53', port: 53, protocol: 'udp', endpoints: [] },
    ]);
    const dnat = rules.split('\n').filter((l) => l.includes('DNAT'));
    assert.equal(dnat.length, 3);
    assert.match(dnat[0]!, /--probability 0\.3333333333 -j DNAT --to-destination 10\.244\.1\.2:80$/);
    assert.match(dnat[1]!, /--probability 0\.5000000000 -j DNAT --to-destination 10\.244\.1\.3:80$/);
    assert.match(dnat[2]!, /-p tcp -j DNAT --to-destination 10\.244\.1\.4:80$/);
    assert.match(
      rules,
      /-A NXK-REJECT -d 10\.0\.0\.53\/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable/,
    );
    assert.match(rules, /-A NXK-POSTROUTING -s 10\.244\.1\.2\/32 -d 10\.244\.1\.2\/32 -j MASQUERADE/);
    assert.equal(rules.match(/^COMMIT$/gm)?.length, 2);
  });

  test("an override replaces a Service's endpoints (the API server behind its relay)", () => {
    const ports = servicePorts([svc('kubernetes', '10.0.0.1', [{ name: 'https', port: 443 }])], [], () => [
      { ip: '198.18.0.1', port: 40000 },
    ]);
    assert.deepEqual(ports[0]?.endpoints, [{ ip: '198.18.0.1', port: 40000 }]);
  });
});

describe('cluster DNS records', () => {
  test("<svc>.<ns>.svc.<domain>: the ClusterIP, or a headless Service's ready endpoints", () => {
    const text = dnsRecords(
      [
        { metadata: { name: 'web', namespace: 'demo' }, spec: { clusterIP: '10.0.0.10' } },
        { metadata: { name: 'db', namespace: 'demo' }, spec: { clusterIP: 'None' } },
      ],
      [
        {
          metadata: { namespace: 'demo', labels: { 'kubernetes.io/service-name': 'db' } },
          addressType: 'IPv4',
          endpoints: [
            { addresses: ['10.244.1.7'], conditions: { ready: true } },
            { addresses: ['10.244.1.8'], conditions: { ready: false } },
          ],
        },
      ],
      'cluster.local',
    );
    assert.equal(text, '10.0.0.10 web.demo.svc.cluster.local\n10.244.1.7 db.demo.svc.cluster.local\n');
  });
});
