// SPDX-License-Identifier: Apache-2.0
// A test Pod's volumes as host directories, written before its containers start: emptyDir, secret,
// configMap, projected (the ServiceAccount token the admission plugin injects as `kube-api-access-*`:
// a TokenRequest bound to the Pod, the cluster CA from `kube-root-ca.crt`, the namespace) and downwardAPI.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type {
  CoreV1Api,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1Volume,
  V1VolumeProjection,
} from '@kubernetes/client-node';
import { PodSpecError } from './pod-spec.js';

const DEFAULT_MODE = 0o644;

interface VolumeContext {
  core: CoreV1Api;
  pod: V1Pod;
  /** Where this Pod's volumes go, one directory each. */
  dir: string;
}

function writeFile(dir: string, path: string, data: string | Buffer, mode: number): void {
  const p = join(dir, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  chmodSync(p, mode);
}

/** Writes `data` (key -> bytes) into `dir`, all keys or only `items`, as the kubelet projects them. */
function project(
  dir: string,
  data: Record<string, Buffer>,
  items: V1KeyToPath[] | undefined,
  mode: number,
  what: string,
): void {
  if (items === undefined) {
    for (const [k, v] of Object.entries(data)) writeFile(dir, k, v, mode);
    return;
  }
  for (const it of items) {
    const v = data[it.key];
    if (v === undefined)
      throw new PodSpecError('CreateContainerConfigError', `${what} has no key "${it.key}"`);
    writeFile(dir, it.path, v, it.mode ?? mode);
  }
}

async function secretData(ctx: VolumeContext, name: string): Promise<Record<string, Buffer>> {
  const s = await ctx.core
    .readNamespacedSecret({ name, namespace: ctx.pod.metadata!.namespace! })
    .catch(() => {
      throw new PodSpecError('CreateContainerConfigError', `secret "${name}" not found`);
    });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

async function configMapData(ctx: VolumeContext, name: string): Promise<Record<string, Buffer>> {
  const c = await ctx.core
    .readNamespacedConfigMap({ name, namespace: ctx.pod.metadata!.namespace! })
    .catch(() => {
      throw new PodSpecError('CreateContainerConfigError', `configmap "${name}" not found`);
    });
  return Object.fromEntries(Object.entries(c.data ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
}

function downward(ctx: VolumeContext, dir: string, items: V1DownwardAPIVolumeFile[], mode: number): void {
  const meta = ctx.pod.metadata!;
  for (const it of items) {
    const path = it.fieldRef?.fieldPath;
    const value =
      path === 'metadata.namespace'
        ? meta.namespace
        : path === 'metadata.name'
          ? meta.name
          : path === 'metadata.uid'
            ? meta.uid
            : undefined;
    if (value === undefined) {
      throw new PodSpecError(
        'CreateContainerConfigError',
        `downwardAPI ${path ?? '(resourceFieldRef)'} is not supported`,
      );
    }
    writeFile(dir, it.path, value, it.mode ?? mode);
  }
}

async function projection(
  ctx: VolumeContext,
  dir: string,
  src: V1VolumeProjection,
  mode: number,
): Promise<void> {
  if (src.serviceAccountToken) {
    const meta = ctx.pod.metadata!;
    const tr = await ctx.core.createNamespacedServiceAccountToken({
      name: ctx.pod.spec?.serviceAccountName ?? 'default',
      namespace: meta.namespace!,
      body: {
        spec: {
          audiences: src.serviceAccountToken.audience ? [src.serviceAccountToken.audience] : [],
          expirationSeconds: src.serviceAccountToken.expirationSeconds ?? 3607,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: meta.name, uid: meta.uid },
        },
      },
    });
    writeFile(dir, src.serviceAccountToken.path, tr.status?.token ?? '', mode);
  }
  if (src.configMap) {
    project(
      dir,
      await configMapData(ctx, src.configMap.name!),
      src.configMap.items,
      mode,
      `configmap ${src.configMap.name}`,
    );
  }
  if (src.secret) {
    project(
      dir,
      await secretData(ctx, src.secret.name!),
      src.secret.items,
      mode,
      `secret ${src.secret.name}`,
    );
  }
  if (src.downwardAPI) downward(ctx, dir, src.downwardAPI.items ?? [], mode);
}

/** Makes `volume`'s directory under `ctx.dir` and fills it; returns its path. */
export async function prepareVolume(ctx: VolumeContext, volume: V1Volume): Promise<string> {
  const dir = join(ctx.dir, volume.name);
  mkdirSync(dir, { recursive: true });
  if (volume.emptyDir) {
    chmodSync(dir, 0o777); // any container user may write, as the kubelet's emptyDir
  } else if (volume.secret) {
    const v = volume.secret;
    project(
      dir,
      await secretData(ctx, v.secretName!),
      v.items,
      v.defaultMode ?? DEFAULT_MODE,
      `secret ${v.secretName}`,
    );
  } else if (volume.configMap) {
    const v = volume.configMap;
    project(
      dir,
      await configMapData(ctx, v.name!),
      v.items,
      v.defaultMode ?? DEFAULT_MODE,
      `configmap ${v.name}`,
    );
  } else if (volume.projected) {
    for (const src of volume.projected.sources ?? []) {
      await projection(ctx, dir, src, volume.projected.defaultMode ?? DEFAULT_MODE);
    }
  } else if (volume.downwardAPI) {
    downward(ctx, dir, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode ?? DEFAULT_MODE);
  } else {
    throw new PodSpecError(
      'CreateContainerConfigError',
      `volume ${volume.name}: only emptyDir, secret, configMap, projected and downwardAPI are supported`,
    );
  }
  return dir;
}
