// SPDX-License-Identifier: Apache-2.0
// The objects of one `nexd proxy` workload, for an export or an import: a ServiceAccount, one state Secret
// per replica, a ConfigMap with its rules, a Role that may read and update exactly those Secrets and read
// that ConfigMap, its RoleBinding, and a StatefulSet.
//
// Why the rules are in a ConfigMap (nexd `--rules-configmap`) and not in the Pods' arguments: an import's
// targets change whenever an exporting device comes, goes or fails; nexd applies the ConfigMap's changes
// live, so the proxies keep running and their connections open, where a change of arguments would replace
// every Pod. The StatefulSet changes only when the listening ports or the replicas do.
//
// Why a StatefulSet and not a Deployment: every replica is its own Nexodus device (its own key, VPC address
// and runtime state), so it needs its own state Secret across restarts. A StatefulSet's Pods have stable
// names (`<name>-0`, `<name>-1`), and nexd is told `--state-secret <its Pod name>` through the Downward API;
// a Deployment's Pods have random names, and all of them would share one Secret, i.e. one device.
// The Secrets are created here (empty) because RBAC cannot limit `create` to names; nexd only gets/updates.
import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1OwnerReference,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1ServiceAccount,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { apply, type Cluster, remove } from '../kube/cluster.js';
import { managedLabels, type ProxyRole } from '../labels.js';
import type { Protocol } from '../metadata.js';

/** Where nexd serves /healthz and /readyz in the proxy Pods. */
export const PROXY_HEALTH_PORT = 8080;

export type Credentials =
  | { kind: 'password'; secret: string; usernameKey: string; passwordKey: string }
  | { kind: 'reg-key'; secret: string; key: string };

/** What every proxy nexlink runs shares: the image and how it reaches and logs in to the Nexodus service. */
export interface ProxySettings {
  image: string;
  serviceUrl: string;
  credentials: Credentials;
  /** A Secret with the service's CA certificate under `ca.crt`, mounted for NEXD_CA_FILE. */
  caSecret?: string;
  insecureSkipTlsVerify?: boolean;
  logLevel: string;
  /** The VPC the proxies register into (the one nexlink follows). */
  vpcId?: string;
}

export interface ProxyWorkload {
  role: ProxyRole;
  namespace: string;
  /** The name of every object of the workload, i.e. `nexlink-export-nginx`. */
  name: string;
  /** The exported Service name (export) or the imported name (import). */
  service: string;
  replicas: number;
  ingress: string[];
  egress: string[];
  /** The container ports (egress listeners), named for the import Service's targetPort. */
  ports?: { name: string; port: number; protocol: 'TCP' | 'UDP' }[];
  owner?: V1OwnerReference;
}

/**
 * The egress listeners of an import or device proxy, one per port from `base`: container ports named
 * `<prefix>-<i>` (an IANA service name, at most 15 characters), which a Service's targetPort can name.
 */
export function listenPorts(
  ports: readonly { protocol: Protocol }[],
  base: number,
  prefix: 'import' | 'device',
): NonNullable<ProxyWorkload['ports']> {
  return ports.map((p, i) => ({
    name: `${prefix}-${i}`,
    port: base + i,
    protocol: p.protocol === 'tcp' ? 'TCP' : 'UDP',
  }));
}

export interface WorkloadObjects {
  serviceAccount: V1ServiceAccount;
  secrets: V1Secret[];
  /** The rules nexd follows live: keys `ingress` and `egress`, a rule per line. */
  rules: V1ConfigMap;
  role: V1Role;
  roleBinding: V1RoleBinding;
  statefulSet: V1StatefulSet;
}

/** The state Secret of replica `i` (= its Pod's name, which nexd is given as --state-secret). */
export function stateSecretName(workload: string, i: number): string {
  return `${workload}-${i}`;
}

function credentialEnv(c: Credentials): V1EnvVar[] {
  const ref = (name: string, key: string): V1EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: c.secret, key } },
  });
  return c.kind === 'password'
    ? [ref('NEXD_USERNAME', c.usernameKey), ref('NEXD_PASSWORD', c.passwordKey)]
    : [ref('NEXD_REG_KEY', c.key)];
}

/** The name of a workload's rules ConfigMap. */
export function rulesConfigMapName(workload: string): string {
  return `${workload}-rules`;
}

function container(w: ProxyWorkload, s: ProxySettings): V1Container {
  const env: V1EnvVar[] = [
    { name: 'NEXD_RULES_CONFIGMAP', value: rulesConfigMapName(w.name) },
    { name: 'NEXD_SERVICE_URL', value: s.serviceUrl },
    { name: 'NEXD_HEALTH_ADDR', value: `:${PROXY_HEALTH_PORT}` },
    { name: 'NEXD_LOG_LEVEL', value: s.logLevel },
    // The root is read-only; /tmp is the Pod's emptyDir (the image links /var/lib/nexd there, but say it).
    { name: 'NEXD_UNIX_SOCKET', value: '/tmp/nexd.sock' },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    // Each replica's own Secret, by its stable Pod name: no access to Pods or StatefulSets needed.
    { name: 'NEXD_STATE_SECRET', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ...credentialEnv(s.credentials),
  ];
  if (s.vpcId) env.push({ name: 'NEXD_VPC_ID', value: s.vpcId });
  if (s.caSecret) env.push({ name: 'NEXD_CA_FILE', value: '/etc/nexodus-ca/ca.crt' });
  if (s.insecureSkipTlsVerify) env.push({ name: 'NEXD_INSECURE_SKIP_TLS_VERIFY', value: 'true' });
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'health' },
    periodSeconds,
    failureThreshold,
  });
  return {
    name: 'nexd',
    image: s.image,
    command: ['nexd'],
    args: ['proxy'],
    env,
    ports: [
      { name: 'health', containerPort: PROXY_HEALTH_PORT, protocol: 'TCP' },
      ...(w.ports ?? []).map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
    ],
    livenessProbe: probe('/healthz', 10, 3),
    // Every second: a Pod's Ready (and with it its Service endpoint) follows nexd's within a second.
    readinessProbe: probe('/readyz', 1, 2),
    startupProbe: probe('/healthz', 1, 60),
    // The restricted Pod Security Standard.
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'tmp', mountPath: '/tmp' },
      ...(s.caSecret ? [{ name: 'nexodus-ca', mountPath: '/etc/nexodus-ca', readOnly: true }] : []),
    ],
  };
}

export function workloadObjects(w: ProxyWorkload, s: ProxySettings): WorkloadObjects {
  const labels = managedLabels(w.role, w.service, w.name);
  const meta = (name: string) => ({
    name,
    namespace: w.namespace,
    labels,
    ...(w.owner ? { ownerReferences: [w.owner] } : {}),
  });
  const secretNames = Array.from({ length: w.replicas }, (_, i) => stateSecretName(w.name, i));
  return {
    serviceAccount: {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(w.name),
      automountServiceAccountToken: true,
    },
    // No `data`: nexd writes `state.json`, and an apply without data leaves it alone.
    secrets: secretNames.map((name) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(name),
      type: 'Opaque',
    })),
    rules: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(rulesConfigMapName(w.name)),
      data: {
        ingress: w.ingress.map((r) => `${r}\n`).join(''),
        egress: w.egress.map((r) => `${r}\n`).join(''),
      },
    },
    role: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(w.name),
      rules: [
        { apiGroups: [''], resources: ['secrets'], resourceNames: secretNames, verbs: ['get', 'update'] },
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: [rulesConfigMapName(w.name)],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
    roleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(w.name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: w.name },
      subjects: [{ kind: 'ServiceAccount', name: w.name, namespace: w.namespace }],
    },
    statefulSet: {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta(w.name),
      spec: {
        replicas: w.replicas,
        serviceName: w.name,
        // Replicas are independent devices: start and replace them all at once, not one by one.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { 'app.kubernetes.io/instance': w.name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: w.name,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            // A replaced proxy Pod (its rules changed) should go quickly: its successor waits for its name.
            terminationGracePeriodSeconds: 5,
            containers: [container(w, s)],
            volumes: [
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
              ...(s.caSecret ? [{ name: 'nexodus-ca', secret: { secretName: s.caSecret } }] : []),
            ],
          },
        },
      },
    },
  };
}

export interface AppliedWorkload {
  /** The StatefulSet existed before. */
  existed: boolean;
  /**
   * The state Secrets as the API server answered the apply: newer than the informer's cache, which may
   * still hold a Secret of the same name that was deleted (a previous export's, with its device id).
   */
  secrets: V1Secret[];
}

/** Applies a workload's objects, the rules before the StatefulSet (a new Pod then finds them at its first list). */
export async function applyWorkload(
  cluster: Cluster,
  objs: WorkloadObjects,
  existed: (name: string) => boolean,
): Promise<AppliedWorkload> {
  await apply(cluster, objs.serviceAccount);
  const secrets: V1Secret[] = [];
  for (const secret of objs.secrets) secrets.push(await apply(cluster, secret));
  await apply(cluster, objs.rules);
  await apply(cluster, objs.role);
  await apply(cluster, objs.roleBinding);
  const before = existed(objs.statefulSet.metadata!.name!);
  await apply(cluster, objs.statefulSet);
  return { existed: before, secrets };
}

/**
 * Deletes a workload's objects by name: the StatefulSet first (its Pods stop before what they use goes),
 * then everything else workloadObjects makes (so that a kind added there goes here too), then the state
 * Secrets as the caller's cache lists them (the replicas may have changed since).
 */
export async function removeWorkload(
  cluster: Cluster,
  w: Pick<ProxyWorkload, 'role' | 'namespace' | 'name' | 'service'>,
  settings: ProxySettings,
  stateSecrets: readonly string[],
): Promise<void> {
  const shape = workloadObjects({ ...w, replicas: 0, ingress: [], egress: [] }, settings);
  const { statefulSet, secrets: _none, ...rest } = shape;
  for (const o of [statefulSet, ...Object.values(rest)]) {
    await remove(cluster, {
      apiVersion: o.apiVersion!,
      kind: o.kind!,
      metadata: { name: o.metadata!.name!, namespace: w.namespace },
    });
  }
  for (const name of stateSecrets) {
    await remove(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: w.namespace } });
  }
}
