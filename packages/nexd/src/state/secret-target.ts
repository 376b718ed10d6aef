// SPDX-License-Identifier: Apache-2.0
// Which Secret holds the state, and the client that reaches it. In a pod (KUBERNETES_SERVICE_HOST and the
// ServiceAccount token at the standard path) nexd keeps its state in a Secret unless `--state-dir` is given;
// `--state-secret NAME` asks for it anywhere (outside a pod through $KUBECONFIG or ~/.kube/config).
// Default name, as the original nexd chose it: the pod's root owner (the Deployment of its ReplicaSet, the
// StatefulSet, the DaemonSet, the CronJob of its Job), so every restart of the workload finds the same Secret.
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { NexdError } from '../errors.js';
import { type Env, inCluster, SERVICE_ACCOUNT_DIR } from './in-cluster.js';
import { REQUEST_TIMEOUT_MS, SecretStateStore, type SecretStateStoreOptions } from './secret-store.js';

export { inCluster, SERVICE_ACCOUNT_DIR } from './in-cluster.js';

/** The pod's own client: API server from the environment, token (re-read as the kubelet rotates it) and CA. */
export function inClusterConfig(env: Env, serviceAccountDir = SERVICE_ACCOUNT_DIR): k8s.KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const kc = new k8s.KubeConfig();
  kc.loadFromClusterAndUser(
    {
      name: 'in-cluster',
      server: `https://${isIPv6(host) ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT}`,
      caFile: join(serviceAccountDir, 'ca.crt'),
      skipTLSVerify: false,
    },
    {
      name: 'service-account',
      authProvider: { name: 'tokenFile', config: { tokenFile: join(serviceAccountDir, 'token') } },
    },
  );
  return kc;
}

/**
 * The client and namespace nexd talks to: in a pod its own ServiceAccount and namespace, elsewhere the
 * current kubeconfig context ($KUBECONFIG or ~/.kube/config) and its namespace.
 */
export function kubeTarget(
  env: Env,
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): { kc: k8s.KubeConfig; namespace: string } {
  if (inCluster(env, serviceAccountDir)) {
    return {
      kc: inClusterConfig(env, serviceAccountDir),
      namespace: readFileSync(join(serviceAccountDir, 'namespace'), 'utf8').trim(),
    };
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return { kc, namespace: kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default' };
}

/** Kinds whose objects are looked up to find their own owner; any other kind is taken as the root. */
const LOOKUPS: Record<
  string,
  (kc: k8s.KubeConfig, ns: string, name: string) => Promise<k8s.V1ObjectMeta | undefined>
> = {
  'apps/v1/ReplicaSet': async (kc, namespace, name) =>
    (await kc.makeApiClient(k8s.AppsV1Api).readNamespacedReplicaSet({ name, namespace })).metadata,
  'batch/v1/Job': async (kc, namespace, name) =>
    (await kc.makeApiClient(k8s.BatchV1Api).readNamespacedJob({ name, namespace })).metadata,
};

function controllerOf(meta: k8s.V1ObjectMeta | undefined): k8s.V1OwnerReference | undefined {
  const refs = meta?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

function forbidden(verb: string, what: string, namespace: string, err: unknown): NexdError {
  const code = (err as { code?: number }).code;
  return new NexdError(
    code === 403 ? 'NEX_ERR_STATE_FORBIDDEN' : 'NEX_ERR_STATE_UNAVAILABLE',
    `cannot ${verb} ${what} in namespace ${namespace} to name the state Secret after the pod's workload ` +
      `(${code ? `HTTP ${code}` : String((err as Error).message ?? err)}). ` +
      (code === 403
        ? `Add "${verb}" on ${what.split(' ')[0]} to the pod's Role (deploy/rbac/nexd-state-owner.yaml), ` +
          'or name the Secret with --state-secret NAME'
        : 'Name the Secret with --state-secret NAME to skip this lookup'),
    { cause: err },
  );
}

/**
 * The pod's root owner: `{ name, owner }` of the workload (the Secret's default name and its owner
 * reference), or the pod itself when it has no owner.
 */
export async function rootOwner(
  kc: k8s.KubeConfig,
  namespace: string,
  podName: string,
): Promise<{ name: string; owner?: k8s.V1OwnerReference }> {
  let meta: k8s.V1ObjectMeta | undefined;
  try {
    meta = (await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: podName, namespace })).metadata;
  } catch (err) {
    throw forbidden('get', `pods "${podName}"`, namespace, err);
  }
  let root: k8s.V1OwnerReference | undefined;
  for (let ref = controllerOf(meta), depth = 0; ref && depth < 8; depth++) {
    const cur: k8s.V1OwnerReference = ref;
    root = cur;
    const lookup = LOOKUPS[`${cur.apiVersion}/${cur.kind}`];
    if (!lookup) break;
    const plural = `${cur.kind.toLowerCase()}s`;
    try {
      ref = controllerOf(await lookup(kc, namespace, cur.name));
    } catch (err) {
      throw forbidden('get', `${plural}.${cur.apiVersion.split('/')[0]} "${cur.name}"`, namespace, err);
    }
  }
  if (!root) return { name: podName };
  return {
    name: root.name,
    owner: { apiVersion: root.apiVersion, kind: root.kind, name: root.name, uid: root.uid },
  };
}

export interface SecretStoreRequest {
  env: Env;
  /** `--state-secret`, if given. */
  name?: string;
  logger?: SecretStateStoreOptions['logger'];
  /** The ServiceAccount mount (default SERVICE_ACCOUNT_DIR; tests point it elsewhere). */
  serviceAccountDir?: string;
}

/** Opens the Secret store for this pod (or, with `--state-secret`, for the current kubeconfig). */
export async function openSecretStore(req: SecretStoreRequest): Promise<SecretStateStore> {
  const { kc, namespace } = kubeTarget(req.env, req.serviceAccountDir);
  let name = req.name;
  let owner: k8s.V1OwnerReference | undefined;
  if (name === undefined) {
    const podName = req.env.POD_NAME ?? req.env.HOSTNAME;
    if (!podName) {
      throw new NexdError(
        'NEX_ERR_STATE_UNAVAILABLE',
        'cannot name the state Secret: neither POD_NAME nor HOSTNAME is set; give --state-secret NAME',
      );
    }
    ({ name, owner } = await withDeadline(rootOwner(kc, namespace, podName)));
  }
  return new SecretStateStore({
    api: kc.makeApiClient(k8s.CoreV1Api),
    namespace,
    name,
    ...(owner ? { ownerReferences: [owner] } : {}),
    ...(req.logger ? { logger: req.logger } : {}),
  });
}

function withDeadline<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new NexdError(
              'NEX_ERR_STATE_UNAVAILABLE',
              `the API server did not answer in ${(4 * REQUEST_TIMEOUT_MS) / 1000} s while naming the state Secret; ` +
                'give --state-secret NAME to skip the lookup',
            ),
          ),
        4 * REQUEST_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
