// SPDX-License-Identifier: Apache-2.0
// Every manifest we ship is accepted by the real API server (`kubectl apply --server-side --dry-run=server`)
// into a namespace that enforces the `restricted` Pod Security Standard, with no PodSecurity warning, and the
// Pod each workload would make is admitted there too (PodSecurity only warns on a Deployment; it enforces on
// Pods). The scenario's own manifests (seed/, only the image changed) are accepted where nothing is
// enforced, and the test records what `restricted` says about them.
// To add a source (i.e. a rendered Helm chart): push a ManifestSource onto SOURCES with `render`.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import {
  exportObjects,
  exportVerdict,
  importObjects,
  importService,
  type ProxySettings,
} from '@nexodus/nexlink';
import { type ChartName, findHelm, type RenderOptions, renderChartYaml } from './lib/helm.js';
import { ControlPlane, kubeSkipReason } from './lib/kube/control-plane.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RBAC = join(ROOT, 'deploy', 'rbac', 'nexd-state.yaml');

export interface ManifestSource {
  /** i.e. `deploy/demos/demo1`. */
  name: string;
  /** The namespace the test applies them into (none of our manifests names its namespace). */
  namespace: string;
  /** The manifests as one multi-document YAML text. */
  render(): Promise<string>;
}

/** What nexlink creates at run time for an export and an import (it must pass `restricted` too). */
async function nexlinkProxies(): Promise<string> {
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
  const v = exportVerdict(
    {
      metadata: {
        name: 'nginx',
        namespace: 'nexlink-proxies',
        labels: { 'nexlink.nexodus.io/export': 'true' },
      },
      spec: { ports: [{ port: 80 }] },
    },
    { realm: 'shop', replicas: 2 },
  );
  if (v.kind !== 'export') throw new Error(`export verdict ${v.kind}`);
  const spec = { name: 'web', ports: [{ protocol: 'tcp' as const, port: 80, targets: ['100.100.0.3'] }] };
  const all = [
    exportObjects(v.spec, undefined, settings, 'cluster.local'),
    importObjects(spec, 'x', 2, undefined, settings),
  ];
  const objects: object[] = [importService(spec, 'x')];
  for (const o of all) objects.push(o.serviceAccount, ...o.secrets, o.role, o.roleBinding, o.statefulSet);
  // No namespace in the manifests (the test applies them into its own).
  for (const o of objects) delete (o as { metadata: { namespace?: string } }).metadata.namespace;
  return objects.map((o) => k8s.dumpYaml(o)).join('---\n');
}

const files =
  (...paths: string[]) =>
  async (): Promise<string> =>
    (await Promise.all(paths.map((p) => readFile(join(ROOT, p), 'utf8')))).join('\n---\n');

/** A Helm chart rendered by the pinned helm (a test peer, as the control plane). */
const chart = (name: ChartName, opts: RenderOptions) => async (): Promise<string> => {
  const helm = findHelm();
  if (!helm) throw new Error('helm is not built (scripts/test-peers/build.sh helm)');
  return renderChartYaml(helm, name, opts);
};

/** Ours: must pass `restricted` without a warning. */
export const SOURCES: ManifestSource[] = [
  {
    name: 'deploy/helm/nexodus-server (default values: SQLite on a PVC)',
    namespace: 'helm-server',
    render: chart('nexodus-server', { release: 'nx', namespace: 'helm-server' }),
  },
  {
    name: 'deploy/helm/nexodus-server (PostgreSQL, 3 replicas)',
    namespace: 'helm-server-pg',
    render: chart('nexodus-server', {
      release: 'nx',
      namespace: 'helm-server-pg',
      values: {
        replicaCount: 3,
        database: { type: 'postgres', postgres: { urlSecret: 'nexodus-db', urlKey: 'uri' } },
        issuer: 'https://nexodus.example.com',
      },
    }),
  },
  {
    name: 'deploy/helm/nexd-proxy (ingress and egress rules)',
    namespace: 'helm-nexd',
    render: chart('nexd-proxy', {
      release: 'demo',
      namespace: 'helm-nexd',
      values: {
        ingress: ['tcp:80:nginx-service.helm-nexd.svc.cluster.local:80'],
        egress: ['tcp:5432:100.100.0.1:5432'],
      },
    }),
  },
  {
    name: 'deploy/helm/nexlink',
    namespace: 'helm-nexlink',
    render: chart('nexlink', {
      release: 'nl',
      namespace: 'helm-nexlink',
      set: ['serviceUrl=https://nexodus.example'],
    }),
  },
  {
    name: "nexlink's proxies (an export's and an import's objects as it creates them)",
    namespace: 'nexlink-proxies',
    render: nexlinkProxies,
  },
  {
    name: 'deploy/crds (the MCS ServiceExport nexlink reads, the ServiceImport it writes)',
    namespace: 'nexlink-crds',
    render: files(
      'deploy/crds/multicluster.x-k8s.io_serviceexports.yaml',
      'deploy/crds/multicluster.x-k8s.io_serviceimports.yaml',
    ),
  },
  {
    name: 'deploy/rbac',
    namespace: 'nexd-rbac',
    render: files(
      'deploy/rbac/nexd-state.yaml',
      'deploy/rbac/nexd-state-owner.yaml',
      'deploy/rbac/nexlink.yaml',
    ),
  },
  {
    name: 'deploy/demos/demo1',
    namespace: 'ours-demo1',
    render: files('deploy/demos/demo1/nginx.yaml', 'deploy/demos/demo1/demo1.yaml'),
  },
  {
    name: 'deploy/demos/demo2',
    namespace: 'ours-demo2',
    render: files('deploy/demos/demo2/demo2.yaml'),
  },
  {
    name: 'deploy/demos/demo3',
    namespace: 'ours-demo3',
    render: files(
      'deploy/demos/demo1/nginx.yaml',
      'deploy/demos/demo3/cluster2-server.yaml',
      'deploy/demos/demo3/cluster1-client.yaml',
    ),
  },
];

/** The four checks of `restricted` that the scenario's workloads fail, as the API server words them. */
const ALL_FOUR = (who: string): RegExp[] =>
  [
    `allowPrivilegeEscalation != false (${who} must set securityContext.allowPrivilegeEscalation=false)`,
    `unrestricted capabilities (${who} must set securityContext.capabilities.drop=["ALL"])`,
    `runAsNonRoot != true (pod or ${who} must set securityContext.runAsNonRoot=true)`,
    `seccompProfile (pod or ${who} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
  ].map((t) => new RegExp(t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

/** The scenario's manifests, and what `restricted` says of each of their containers (recorded, asserted). */
const SEED: (ManifestSource & { violations: Record<string, RegExp[]> })[] = [
  {
    name: 'deploy/demos/seed (demo 1)',
    namespace: 'seed-demo1',
    render: files('deploy/demos/seed/nginx.yaml', 'deploy/demos/seed/demo1.yaml'),
    violations: {
      'deployment.apps/nginx-deployment': ALL_FOUR('containers "init-nginx", "nginx"'),
      'deployment.apps/nexd-proxy': ALL_FOUR('container "my-container"'),
    },
  },
  {
    name: 'deploy/demos/seed (demo 2)',
    namespace: 'nexd-proxy-demo2',
    render: files('deploy/demos/seed/demo2.yaml'),
    violations: {
      'deployment.apps/nexd-proxy': ALL_FOUR('container "nexd-proxy"'),
      'deployment.apps/demo2-client': ALL_FOUR('container "client"'),
    },
  },
];

/** `Warning: would violate PodSecurity ...` lines of kubectl's stderr. */
function podSecurityWarnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /PodSecurity/.test(l));
}

const skip = kubeSkipReason();
describe('manifests on a real API server', { skip, timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let tmp: string;
  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    tmp = cp.dir;
  });
  after(() => cp?.stop());

  async function namespace(name: string, labels: Record<string, string>): Promise<void> {
    const core = cp.api(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name, labels } } });
    // What kube-controller-manager would add (this file runs without it): Pods need their ServiceAccount.
    await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } });
  }
  async function dryRunApply(ns: string, text: string, file: string) {
    const path = join(tmp, file);
    await writeFile(path, text);
    return cp.kubectl(['apply', '--server-side', '--dry-run=server', '-n', ns, '-f', path], { check: false });
  }

  for (const src of SOURCES) {
    test(`${src.name}: accepted under enforced "restricted", no PodSecurity warning, its Pods admitted`, async () => {
      await namespace(src.namespace, {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      });
      // The ServiceAccount must exist for the Pods below to be admitted.
      await cp.kubectl(['apply', '--server-side', '-n', src.namespace, '-f', RBAC]);
      const text = await src.render();
      const r = await dryRunApply(src.namespace, text, `${src.namespace}.yaml`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(podSecurityWarnings(r.stderr), [], 'no PodSecurity warning');
      assert.match(r.stdout, /serverside-applied \(server dry run\)/);
      const core = cp.api(k8s.CoreV1Api);
      // The Pods below name the source's own ServiceAccounts (a chart makes one per release): admission
      // looks them up, so they must exist for real, not only in the dry run.
      for (const obj of k8s.loadAllYaml(text) as k8s.KubernetesObject[]) {
        if (obj?.kind !== 'ServiceAccount' || !obj.metadata?.name) continue;
        await core
          .createNamespacedServiceAccount({
            namespace: src.namespace,
            body: { metadata: { name: obj.metadata.name } },
          })
          .catch((err: { code?: number }) => {
            if (err.code !== 409) throw err;
          });
      }
      let pods = 0;
      for (const obj of k8s.loadAllYaml(text) as k8s.KubernetesObject[]) {
        const template = (obj as k8s.V1Deployment).spec?.template;
        if ((obj?.kind !== 'Deployment' && obj?.kind !== 'StatefulSet') || !template) continue;
        // Enforcement happens on Pods: what the ReplicaSet would create must be admitted.
        await core.createNamespacedPod({
          namespace: src.namespace,
          dryRun: 'All',
          body: {
            metadata: { name: `${obj.metadata?.name}-x`, labels: template.metadata?.labels },
            spec: template.spec,
          },
        });
        pods++;
      }
      if (src.name.includes('demos')) assert.ok(pods > 0, 'the demo has workloads');
    });
  }

  test('the same Pod without our securityContext is refused under "restricted" (the check can fail)', async () => {
    const text = await files('deploy/demos/demo1/demo1.yaml')();
    const dep = (k8s.loadAllYaml(text) as k8s.V1Deployment[]).find((o) => o?.kind === 'Deployment');
    const spec = structuredClone(dep?.spec?.template.spec) as k8s.V1PodSpec;
    delete spec.containers[0]!.securityContext;
    await assert.rejects(
      cp.api(k8s.CoreV1Api).createNamespacedPod({
        namespace: 'ours-demo1',
        dryRun: 'All',
        body: { metadata: { name: 'unsafe' }, spec },
      }),
      (err: unknown) =>
        err instanceof k8s.ApiException &&
        err.code === 403 &&
        /violates PodSecurity "restricted.*allowPrivilegeEscalation != false.*unrestricted capabilities/.test(
          JSON.parse(String(err.body)).message,
        ),
    );
  });

  for (const src of SEED) {
    test(`${src.name}: accepted without enforcement; what "restricted" says about it is recorded`, async () => {
      await namespace(src.namespace, { 'pod-security.kubernetes.io/warn': 'restricted' });
      const r = await dryRunApply(src.namespace, await src.render(), `${src.namespace}.yaml`);
      assert.equal(r.code, 0, r.stderr);
      const warnings = podSecurityWarnings(r.stderr);
      // kubectl prints one warning per workload, in the order of the documents.
      assert.equal(warnings.length, Object.keys(src.violations).length, warnings.join('\n'));
      Object.entries(src.violations).forEach(([object, expected], i) => {
        for (const re of expected) assert.match(warnings[i] ?? '', re, `${object}: ${re}`);
      });
    });
  }
});
