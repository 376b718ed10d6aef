// SPDX-License-Identifier: Apache-2.0
// How nexlink talks to its cluster: in a Pod through its ServiceAccount, elsewhere through $KUBECONFIG or
// ~/.kube/config. Server-side apply with one field manager, so that re-applying an unchanged object is a
// no-op and fields that others own (nexd's `state.json` in a state Secret, a Service's status) are kept.
import { readFileSync } from 'node:fs';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../labels.js';

export const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface Cluster {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  objects: KubernetesObjectApi;
  /** The namespace of nexlink's own Pod, when it runs in one. */
  podNamespace?: string;
}

export function connect(env: Readonly<Record<string, string | undefined>>): Cluster {
  const kc = new KubeConfig();
  let podNamespace: string | undefined;
  if (env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG) {
    kc.loadFromCluster();
    try {
      podNamespace = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    } catch {
      // Not mounted: the namespace must then be configured.
    }
  } else {
    kc.loadFromDefault();
  }
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
    ...(podNamespace ? { podNamespace } : {}),
  };
}

/** Server-side apply of `obj` (forced: nexlink owns what it creates). */
export function apply<T extends KubernetesObject>(cluster: Cluster, obj: T): Promise<T> {
  return cluster.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** Deletes `obj`; one that is gone already is fine. Dependents go in the background. */
export async function remove(cluster: Cluster, obj: KubernetesObject): Promise<void> {
  try {
    await cluster.objects.delete(obj, undefined, undefined, undefined, undefined, 'Background');
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

/** The HTTP status of a client-node error (0 when no answer came). */
export function statusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : 0;
}
