// SPDX-License-Identifier: Apache-2.0
// deploy/helm/: `helm lint` on both charts and `helm template` (the real helm, test peer `helm`) with default
// values, PostgreSQL values and rules, asserting the rendered objects: kinds and names, the restricted
// securityContext, the probes, the rules as nexd arguments, the Secret-store RBAC and the render guards.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CHARTS,
  CHARTS_DIR,
  findObject,
  helmBin,
  helmTemplate,
  type KubeObject,
  renderChart,
  runHelm,
} from './lib/helm.js';
import { NEXD_IMAGE, SERVER_IMAGE } from './lib/images.js';

const kinds = (objects: KubeObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

/** The restricted Pod Security Standard, as the charts promise it, on a Deployment's pod. */
function assertRestricted(deployment: KubeObject): void {
  const pod = deployment.spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 65532);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  for (const c of pod.containers) {
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
  }
}

function probe(c: KubeObject, which: 'livenessProbe' | 'readinessProbe'): { path: string; port: number } {
  const p = c[which].httpGet;
  const port =
    typeof p.port === 'number'
      ? p.port
      : c.ports.find((x: { name: string }) => x.name === p.port)?.containerPort;
  return { path: p.path, port };
}

const env = (c: KubeObject, name: string) => c.env.find((e: { name: string }) => e.name === name);

describe('helm charts (deploy/helm)', () => {
  test('helm lint passes on every chart', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    for (const chart of CHARTS) {
      const r = runHelm(helm, ['lint', '--strict', `${CHARTS_DIR}/${chart}`]);
      assert.equal(r.code, 0, `${chart}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('nexodus-server, default values: SQLite on a PVC, one replica, Recreate, probes, restricted', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const objects = renderChart(helm, 'nexodus-server', { release: 'nx', namespace: 'nexodus' });
    assert.deepEqual(kinds(objects), [
      'Deployment/nx-nexodus-server',
      'PersistentVolumeClaim/nx-nexodus-server-data',
      'Service/nx-nexodus-server',
    ]);
    const d = findObject(objects, 'Deployment');
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.strategy.type, 'Recreate');
    assertRestricted(d);
    const c = d.spec.template.spec.containers[0];
    assert.equal(c.image, SERVER_IMAGE);
    assert.deepEqual(probe(c, 'livenessProbe'), { path: '/healthz', port: 8080 });
    assert.deepEqual(probe(c, 'readinessProbe'), { path: '/readyz', port: 8080 });
    assert.deepEqual(c.args.slice(0, 2), ['--http-listen', '0.0.0.0:8080']);
    assert.equal(env(c, 'NEXODUS_DATABASE_URL'), undefined);
    const data = d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data');
    assert.equal(data.persistentVolumeClaim.claimName, 'nx-nexodus-server-data');
    assert.deepEqual(
      c.volumeMounts.map((m: { mountPath: string }) => m.mountPath),
      ['/var/lib/nexodus', '/tmp'],
    );
    const pvc = findObject(objects, 'PersistentVolumeClaim');
    assert.equal(pvc.spec.resources.requests.storage, '1Gi');
    const svc = findObject(objects, 'Service');
    assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
  });

  test('nexodus-server, PostgreSQL values: URL from the Secret, three replicas, no PVC, ServiceMonitor', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const objects = renderChart(helm, 'nexodus-server', {
      release: 'nx',
      values: {
        replicaCount: 3,
        database: { type: 'postgres', postgres: { urlSecret: 'nexodus-db', urlKey: 'uri' } },
        issuer: 'https://nexodus.example.com',
        admin: { existingSecret: 'nexodus-admin' },
        serviceMonitor: { enabled: true },
      },
    });
    assert.deepEqual(kinds(objects), [
      'Deployment/nx-nexodus-server',
      'Service/nx-nexodus-server',
      'ServiceMonitor/nx-nexodus-server',
    ]);
    const d = findObject(objects, 'Deployment');
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.spec.strategy, undefined, 'rolling updates with PostgreSQL');
    const c = d.spec.template.spec.containers[0];
    assert.deepEqual(env(c, 'NEXODUS_DATABASE_URL').valueFrom.secretKeyRef, {
      name: 'nexodus-db',
      key: 'uri',
    });
    assert.deepEqual(env(c, 'NEXODUS_ADMIN_PASSWORD').valueFrom.secretKeyRef, {
      name: 'nexodus-admin',
      key: 'password',
    });
    assert.deepEqual(c.args.slice(-2), ['--issuer', 'https://nexodus.example.com']);
    assert.ok(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data').emptyDir);
    assertRestricted(d);
    const sm = findObject(objects, 'ServiceMonitor');
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(sm.spec.endpoints[0].port, 'http');
  });

  test('nexodus-server refuses replicas > 1 on SQLite, PostgreSQL without its Secret, an unknown database', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const sqlite3 = helmTemplate(helm, 'nexodus-server', { set: ['replicaCount=3'] });
    assert.notEqual(sqlite3.code, 0);
    assert.match(
      sqlite3.stderr,
      /replicaCount is 3 but database.type is sqlite: .*needs database.type=postgres/,
    );
    const noUrl = helmTemplate(helm, 'nexodus-server', { set: ['database.type=postgres'] });
    assert.notEqual(noUrl.code, 0);
    assert.match(noUrl.stderr, /database.postgres.urlSecret is empty/);
    const other = helmTemplate(helm, 'nexodus-server', { set: ['database.type=mysql'] });
    assert.match(other.stderr, /database.type is "mysql"; expected sqlite or postgres/);
    const one = helmTemplate(helm, 'nexodus-server', { set: ['replicaCount=1'] });
    assert.equal(one.code, 0, one.stderr);
  });

  test("nexd-proxy, default values: the scenario's service and Secret, RBAC for its state Secret, restricted", (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const objects = renderChart(helm, 'nexd-proxy', { release: 'demo', namespace: 'nexd-proxy-demo1' });
    assert.deepEqual(kinds(objects), [
      'Deployment/demo-nexd-proxy',
      'Role/demo-nexd-proxy',
      'RoleBinding/demo-nexd-proxy',
      'ServiceAccount/demo-nexd-proxy',
    ]);
    const d = findObject(objects, 'Deployment');
    assertRestricted(d);
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'demo-nexd-proxy');
    const c = pod.containers[0];
    assert.equal(c.image, NEXD_IMAGE);
    assert.deepEqual(c.command, ['nexd']);
    assert.deepEqual(c.args, ['proxy']);
    assert.equal(env(c, 'NEXD_SERVICE_URL').value, 'https://try.nexodus.io');
    assert.deepEqual(env(c, 'NEXD_USERNAME').valueFrom.secretKeyRef, {
      name: 'nexodus-credentials',
      key: 'username',
    });
    assert.deepEqual(env(c, 'NEXD_PASSWORD').valueFrom.secretKeyRef, {
      name: 'nexodus-credentials',
      key: 'password',
    });
    assert.equal(env(c, 'NEXD_HEALTH_ADDR').value, ':8080');
    assert.equal(env(c, 'NEXD_STATE_SECRET').value, 'demo-nexd-proxy', 'the Secret the Role allows');
    assert.equal(env(c, 'NEXD_STATE_DIR'), undefined, 'a state dir would keep nexd from the Secret store');
    assert.deepEqual(probe(c, 'livenessProbe'), { path: '/healthz', port: 8080 });
    assert.deepEqual(probe(c, 'readinessProbe'), { path: '/readyz', port: 8080 });
    // The read-only root's one writable place.
    assert.deepEqual(
      c.volumeMounts.map((m: { mountPath: string }) => m.mountPath),
      ['/tmp'],
    );

    const role = findObject(objects, 'Role');
    assert.deepEqual(role.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['demo-nexd-proxy'],
        verbs: ['get', 'update', 'patch'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const rb = findObject(objects, 'RoleBinding');
    assert.deepEqual(rb.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'demo-nexd-proxy',
    });
    assert.deepEqual(rb.subjects, [
      { kind: 'ServiceAccount', name: 'demo-nexd-proxy', namespace: 'nexd-proxy-demo1' },
    ]);
  });

  test('nexd-proxy rules become nexd arguments; egress ports get a Service; keys and a reg key mount', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const objects = renderChart(helm, 'nexd-proxy', {
      release: 'p',
      set: [
        'serviceUrl=https://nexodus.example.com',
        'ingress[0]=tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80',
        'ingress[1]=udp:53:[fd00::53]:53',
        'egress[0]=tcp:8081:100.100.0.1:80',
        'egress[1]=udp:5353:100.100.0.2:53',
        'credentials.existingSecret=',
        'credentials.regKeySecret=nexd-reg-key',
        'keysSecret=wireguard-keys',
      ],
    });
    const d = findObject(objects, 'Deployment', 'p-nexd-proxy');
    const c = d.spec.template.spec.containers[0];
    assert.deepEqual(c.args, [
      'proxy',
      '--ingress',
      'tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80',
      '--ingress',
      'udp:53:[fd00::53]:53',
      '--egress',
      'tcp:8081:100.100.0.1:80',
      '--egress',
      'udp:5353:100.100.0.2:53',
    ]);
    assert.equal(env(c, 'NEXD_USERNAME'), undefined);
    assert.deepEqual(env(c, 'NEXD_REG_KEY').valueFrom.secretKeyRef, { name: 'nexd-reg-key', key: 'reg-key' });
    assert.ok(
      c.volumeMounts.some(
        (m: { mountPath: string; readOnly?: boolean }) => m.mountPath === '/etc/wireguard/' && m.readOnly,
      ),
    );
    assert.ok(
      d.spec.template.spec.volumes.some((v: KubeObject) => v.secret?.secretName === 'wireguard-keys'),
    );
    const svc = findObject(objects, 'Service', 'p-nexd-proxy');
    assert.deepEqual(svc.spec.ports, [
      { name: 'egress-0', port: 8081, targetPort: 'egress-0', protocol: 'TCP' },
      { name: 'egress-1', port: 5353, targetPort: 'egress-1', protocol: 'UDP' },
    ]);
    assert.deepEqual(
      c.ports
        .filter((p: { name: string }) => p.name.startsWith('egress'))
        .map((p: KubeObject) => [p.containerPort, p.protocol]),
      [
        [8081, 'TCP'],
        [5353, 'UDP'],
      ],
    );
  });

  test('nexd-proxy refuses a malformed rule, two kinds of credentials, none, and more than one replica', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const bad = helmTemplate(helm, 'nexd-proxy', { set: ['ingress[0]=tcp:eighty:nginx:80'] });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ingress rule "tcp:eighty:nginx:80" is not protocol:port:host:port/);
    const both = helmTemplate(helm, 'nexd-proxy', { set: ['credentials.regKeySecret=k'] });
    assert.match(both.stderr, /not both/);
    const none = helmTemplate(helm, 'nexd-proxy', { set: ['credentials.existingSecret='] });
    assert.match(none.stderr, /set credentials.existingSecret/);
    const two = helmTemplate(helm, 'nexd-proxy', { set: ['replicaCount=2'] });
    assert.match(two.stderr, /replicaCount is 2; nexd-proxy runs one replica per release/);
  });
  test('nexd-proxy: an egress rule on the health port is refused at render, naming both', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const r = helmTemplate(helm, 'nexd-proxy', { values: { egress: ['tcp:8080:100.100.0.1:80'] } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /egress rule "tcp:8080:100\.100\.0\.1:80" listens on port 8080, which healthPort/);
  });

  test('nexlink: a Role in its namespace only, the credentials for it and its proxies, restricted', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    const objects = renderChart(helm, 'nexlink', {
      release: 'nl',
      namespace: 'shop',
      set: ['serviceUrl=https://nexodus.example'],
    });
    assert.deepEqual(kinds(objects), [
      'Deployment/nl-nexlink',
      'Role/nl-nexlink',
      'RoleBinding/nl-nexlink',
      'ServiceAccount/nl-nexlink',
    ]);
    assert.ok(!objects.some((o) => o.kind.startsWith('Cluster')), 'no cluster-wide rights');
    const role = findObject(objects, 'Role');
    const verbs = (resource: string) =>
      role.rules.find((r: { resources: string[] }) => r.resources.includes(resource))?.verbs ?? [];
    assert.deepEqual(verbs('statefulsets'), ['get', 'list', 'watch', 'create', 'patch', 'delete']);
    assert.deepEqual(verbs('events'), ['create']);
    // Its device proxies' readiness, for the EndpointSlices it writes; it never creates or changes a Pod.
    assert.deepEqual(verbs('pods'), ['list', 'watch'], 'nexlink only reads Pods');
    assert.deepEqual(verbs('endpointslices'), ['get', 'list', 'watch', 'create', 'patch', 'delete']);
    const d = findObject(objects, 'Deployment');
    assertRestricted(d);
    const c = d.spec.template.spec.containers[0];
    assert.equal(c.image, NEXD_IMAGE);
    assert.deepEqual(c.command, ['nexlink']);
    assert.equal(env(c, 'NEXLINK_SERVICE_URL').value, 'https://nexodus.example');
    assert.equal(env(c, 'NEXLINK_CREDENTIALS_SECRET').value, 'nexodus-credentials');
    assert.deepEqual(env(c, 'NEXLINK_PASSWORD').valueFrom, {
      secretKeyRef: { name: 'nexodus-credentials', key: 'password' },
    });
    assert.deepEqual(env(c, 'NEXLINK_NAMESPACE').valueFrom, {
      fieldRef: { fieldPath: 'metadata.namespace' },
    });
    assert.deepEqual(probe(c, 'readinessProbe'), { path: '/readyz', port: 8080 });
  });

  test('nexlink refuses no service URL, an invalid realm and two kinds of credentials', (t) => {
    const helm = helmBin(t);
    if (!helm) return;
    assert.match(helmTemplate(helm, 'nexlink').stderr, /serviceUrl is required/);
    const url = 'serviceUrl=https://nexodus.example';
    assert.match(
      helmTemplate(helm, 'nexlink', { set: [url, 'realm=Not_A_Realm'] }).stderr,
      /is not a DNS label/,
    );
    assert.match(
      helmTemplate(helm, 'nexlink', { set: [url, 'credentials.regKeySecret=k'] }).stderr,
      /not both/,
    );
  });
});
