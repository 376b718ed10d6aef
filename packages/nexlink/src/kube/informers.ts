// SPDX-License-Identifier: Apache-2.0
// Informers (list + watch, relist after `410 Gone`, which client-node's ListWatch does itself) for the kinds
// nexlink reconciles, restarted after any other watch error with a backoff, plus a resync that hands every
// cached key to the queue again, so that drift (an object edited or deleted by hand) is repaired.
import {
  type AppsV1Api,
  type CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  type V1EndpointSlice,
  type V1Pod,
  type V1Secret,
  type V1Service,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  ROLE_LABEL,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
} from '../labels.js';

export type Watched<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

/** The MCS API's ServiceExport: only its name matters (it exports the Service of that name). */
export const SERVICE_EXPORT = {
  group: 'multicluster.x-k8s.io',
  version: 'v1alpha1',
  plural: 'serviceexports',
};

/** The MCS API's ServiceImport, which nexlink writes next to every import when the CRD is installed. */
export const SERVICE_IMPORT = {
  group: 'multicluster.x-k8s.io',
  version: 'v1alpha1',
  plural: 'serviceimports',
};

/** Whether the API server serves the ServiceImport CRD (asked once, at start, as for ServiceExports). */
export async function servesServiceImports(kc: KubeConfig, namespace: string): Promise<boolean> {
  try {
    await kc
      .makeApiClient(CustomObjectsApi)
      .listNamespacedCustomObject({ ...SERVICE_IMPORT, namespace, limit: 1 });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

export interface Informers {
  services: Watched<V1Service>;
  /** Only nexlink's own (managed-by label): the state Secrets of its proxies. */
  secrets: Watched<V1Secret>;
  statefulSets: Watched<V1StatefulSet>;
  /** Only the device proxies' Pods: their readiness and addresses are what the device EndpointSlices list. */
  devicePods: Watched<V1Pod>;
  /** Only the EndpointSlices nexlink writes (for Services annotated with a device). */
  endpointSlices: Watched<V1EndpointSlice>;
  /** Undefined when the ServiceExport CRD is not installed (labels then are the only way to export). */
  serviceExports?: Watched<KubernetesObject>;
}

/** An informer for ServiceExports, or undefined when the API server does not serve the CRD. */
export async function makeServiceExportInformer(
  kc: KubeConfig,
  namespace: string,
): Promise<Watched<KubernetesObject> | undefined> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = () =>
    api.listNamespacedCustomObject({ ...SERVICE_EXPORT, namespace }) as Promise<
      KubernetesListObject<KubernetesObject>
    >;
  try {
    await list();
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
  const { group, version, plural } = SERVICE_EXPORT;
  return makeInformer(
    kc,
    `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`,
    list,
  );
}

const MANAGED = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
const DEVICE_PODS = `${MANAGED},${ROLE_LABEL}=device`;
const OUR_SLICES = `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY}`;

export function makeInformers(
  kc: KubeConfig,
  core: CoreV1Api,
  apps: AppsV1Api,
  namespace: string,
): Informers {
  const ns = encodeURIComponent(namespace);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  return {
    services: makeInformer(kc, `/api/v1/namespaces/${ns}/services`, () =>
      core.listNamespacedService({ namespace }),
    ),
    secrets: makeInformer(
      kc,
      `/api/v1/namespaces/${ns}/secrets`,
      () => core.listNamespacedSecret({ namespace, labelSelector: MANAGED }),
      MANAGED,
    ),
    statefulSets: makeInformer(
      kc,
      `/apis/apps/v1/namespaces/${ns}/statefulsets`,
      () => apps.listNamespacedStatefulSet({ namespace, labelSelector: MANAGED }),
      MANAGED,
    ),
    devicePods: makeInformer(
      kc,
      `/api/v1/namespaces/${ns}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: DEVICE_PODS }),
      DEVICE_PODS,
    ),
    endpointSlices: makeInformer(
      kc,
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector: OUR_SLICES }),
      OUR_SLICES,
    ),
  };
}

/** Starts `informer`; after an error it starts it again after a doubling delay (reset on connect). */
export async function startWithRestarts<T extends KubernetesObject>(
  informer: Watched<T>,
  onError: (err: unknown, retryInMs: number) => void,
  isStopped: () => boolean,
): Promise<void> {
  let delay = 500;
  informer.on('connect', () => {
    delay = 500;
  });
  informer.on('error', (err: unknown) => {
    if (isStopped()) return;
    onError(err, delay);
    setTimeout(() => {
      if (!isStopped()) informer.start().catch(() => {});
    }, delay).unref();
    delay = Math.min(delay * 2, 30_000);
  });
  await informer.start();
}
