// SPDX-License-Identifier: Apache-2.0
// The Kubernetes harness itself (test/e2e/lib/kube): the real controllers turn a Deployment into a ReplicaSet
// and Pods, a Service gets an EndpointSlice, TokenRequest gives a working ServiceAccount token, and RBAC
// decides what that token may do.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './lib/exec.js';
import { ControlPlane, kubeSkipReason } from './lib/kube/control-plane.js';

const skip = kubeSkipReason();
describe('Kubernetes harness: a real control plane', { skip, timeout: 300_000 }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start();
  });
  after(() => cp?.stop());

  test('kubectl talks to the pinned API server as cluster-admin', async () => {
    const v = JSON.parse((await cp.kubectl(['version', '-o', 'json'])).stdout);
    assert.equal(v.serverVersion.gitVersion, 'v1.37.2');
    assert.equal(v.clientVersion.gitVersion, 'v1.37.2');
    const auth = await cp.kubectl(['auth', 'can-i', '*', '*']);
    assert.equal(auth.stdout.trim(), 'yes');
  });

  test('a Deployment gets a ReplicaSet and Pods from the real controllers (Pending: no node)', async () => {
    const ns = await cp.namespace();
    const apps = cp.api(k8s.AppsV1Api);
    const core = cp.api(k8s.CoreV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'localhost/nexodus-ts/nexd:0.1.0' }] },
          },
        },
      },
    });
    await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80 }] },
      },
    });
    const pods = await waitFor(
      'two Pods of the Deployment',
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        return list.items.length === 2 ? list.items : undefined;
      },
      90_000,
      250,
    );
    for (const p of pods) {
      const rs = p.metadata?.ownerReferences?.[0];
      assert.equal(rs?.kind, 'ReplicaSet');
      assert.match(rs?.name ?? '', /^web-/);
      assert.equal(p.status?.phase, 'Pending');
    }
    const slice = await waitFor(
      'an EndpointSlice for the Service',
      async () => {
        const list = await cp
          .api(k8s.DiscoveryV1Api)
          .listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' });
        return list.items[0];
      },
      60_000,
      250,
    );
    assert.equal(slice.addressType, 'IPv4');
    // No node, so no Pod has an address yet: the controller's slice is there, and empty.
    assert.equal(slice.endpoints?.length ?? 0, 0);
    assert.equal(
      slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'],
      'endpointslice-controller.k8s.io',
    );
  });

  test('a ServiceAccount token may create a Secret only where its Role allows (201 vs 403)', async () => {
    const ns = await cp.namespace();
    const rbac = cp.api(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'secret-writer' },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'secret-writer' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-writer' },
        subjects: [{ kind: 'ServiceAccount', name: 'writer', namespace: ns }],
      },
    });
    const writer = cp.configForToken(await cp.serviceAccountToken(ns, 'writer')).makeApiClient(k8s.CoreV1Api);
    const created = await writer.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'made-by-sa' }, stringData: { k: 'v' } },
    });
    assert.equal(created.metadata?.name, 'made-by-sa');
    const nobodyToken = await cp.serviceAccountToken(ns, 'nobody');
    const nobody = cp.configForToken(nobodyToken).makeApiClient(k8s.CoreV1Api);
    await assert.rejects(
      nobody.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'refused' } } }),
      (err: unknown) => {
        assert.ok(err instanceof k8s.ApiException);
        assert.equal(err.code, 403);
        assert.match(String(err.body), new RegExp(`system:serviceaccount:${ns}:nobody`));
        return true;
      },
    );
    // The same through kubectl with the token instead of the admin kubeconfig.
    const r = await cp.kubectl(['-n', ns, 'create', 'secret', 'generic', 'refused2', '--from-literal=a=b'], {
      token: nobodyToken,
      check: false,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /forbidden/);
  });
});
