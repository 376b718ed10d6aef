// SPDX-License-Identifier: Apache-2.0
// reconcileExport(service): level-triggered. Reads the Service from the cache and converges the world on what
// its labels ask: its proxy workload applied (server-side, idempotent), the `nexlink` metadata on each
// replica's device, and, when the export goes (label removed, Service deleted, labels now invalid), the
// metadata deleted first (the other clusters drop the import at once) and then the workload. A finalizer on
// the Service makes a deletion wait for that cleanup, since the device ids live in Secrets that the
// garbage collector would otherwise remove with the Service.
import type { V1Secret, V1Service } from '@kubernetes/client-node';
import { ApiError } from '@nexodus/api';
import { exportMetadata, exportObjects, exportWorkloadName, serviceOwner } from '../export/desired.js';
import { type ExportSpec, type ExportVerdict, exportVerdict } from '../export/spec.js';
import { apply, remove } from '../kube/cluster.js';
import { serviceRef as ref } from '../kube/events.js';
import { FINALIZER, METADATA_KEY, NAME_LABEL, ROLE_LABEL, SERVICE_LABEL } from '../labels.js';
import { parseMetadata, sameMetadata } from '../metadata.js';
import { applyWorkload, removeWorkload } from '../proxy/workload.js';
import type { ReconcileResult } from '../queue.js';
import type { ControllerContext } from './context.js';
import { preRegister } from './pre-register.js';
import { deviceIdOf } from './state-secret.js';
import { writeExportStatus } from './status.js';

/** How soon to look again while a replica has not registered yet (its Secret has no device id). */
const WAIT_FOR_DEVICE_MS = 1000;

function hasFinalizer(svc: V1Service): boolean {
  return svc.metadata?.finalizers?.includes(FINALIZER) ?? false;
}

/** Our finalizer, as nexlink's field manager owns it (server-side apply merges finalizers as a set). */
async function setFinalizer(ctx: ControllerContext, svc: V1Service, on: boolean): Promise<void> {
  await apply(ctx.cluster, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: svc.metadata!.name!,
      namespace: svc.metadata!.namespace!,
      ...(on ? { finalizers: [FINALIZER] } : {}),
    },
  });
}

function isExportSecret(s: V1Secret, service: string): boolean {
  return s.metadata?.labels?.[ROLE_LABEL] === 'export' && s.metadata.labels[SERVICE_LABEL] === service;
}

/** The export's state Secrets in the cache. */
function exportSecrets(ctx: ControllerContext, service: string): V1Secret[] {
  return ctx.informers.secrets.list(ctx.config.namespace).filter((s) => isExportSecret(s, service));
}

/**
 * The export's state Secrets as the API server has them now. Cleanup reads them there, not in the cache:
 * a Secret the cache has not seen yet holds a device whose metadata would otherwise outlive the export.
 */
async function exportSecretsNow(ctx: ControllerContext, service: string): Promise<V1Secret[]> {
  const list = await ctx.cluster.core.listNamespacedSecret({
    namespace: ctx.config.namespace,
    labelSelector: `${ROLE_LABEL}=export,${SERVICE_LABEL}=${service}`,
  });
  return list.items.filter((s) => isExportSecret(s, service));
}

/** Every device this nexlink's exports registered: a cluster never imports its own exports. */
export function ownDevices(ctx: ControllerContext): Set<string> {
  const ids = new Set<string>();
  for (const s of ctx.informers.secrets.list(ctx.config.namespace)) {
    if (s.metadata?.labels?.[ROLE_LABEL] !== 'export') continue;
    const id = deviceIdOf(s);
    if (id) ids.add(id);
  }
  return ids;
}

async function deleteMetadata(ctx: ControllerContext, deviceId: string): Promise<void> {
  try {
    await ctx.session.client.deleteDeviceMetadata(deviceId, METADATA_KEY);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
}

/** Removes the export of `service`: metadata first, then the workload. */
async function cleanup(ctx: ControllerContext, service: string): Promise<boolean> {
  const name = exportWorkloadName(service);
  const sts = ctx.informers.statefulSets.get(name, ctx.config.namespace);
  if (!exportSecrets(ctx, service).length && !sts) return false;
  const secrets = await exportSecretsNow(ctx, service);
  for (const s of secrets) {
    const id = deviceIdOf(s);
    if (id) await deleteMetadata(ctx, id);
  }
  await removeWorkload(
    ctx.cluster,
    { role: 'export', namespace: ctx.config.namespace, name, service },
    ctx.settings,
    secrets.map((x) => x.metadata!.name!),
  );
  ctx.log.info({ service }, 'export removed');
  return true;
}

function hasServiceExport(ctx: ControllerContext, service: string): boolean {
  return ctx.informers.serviceExports?.get(service, ctx.config.namespace) !== undefined;
}

/** Another exported Service of the namespace that claims the same name first (the older one keeps it). */
function nameClash(ctx: ControllerContext, svc: V1Service, spec: ExportSpec): V1Service | undefined {
  const created = (s: V1Service) => new Date(s.metadata?.creationTimestamp ?? 0).getTime();
  for (const other of ctx.informers.services.list(ctx.config.namespace)) {
    if (other.metadata?.name === spec.service) continue;
    const v = exportVerdict(other, ctx.config, hasServiceExport(ctx, other.metadata!.name!));
    if (v.kind !== 'export' || v.spec.name !== spec.name || v.spec.realm !== spec.realm) continue;
    const [a, b] = [created(other), created(svc)];
    if (a < b || (a === b && other.metadata!.name! < spec.service)) return other;
  }
  return undefined;
}

export async function reconcileExport(ctx: ControllerContext, service: string): Promise<ReconcileResult> {
  const ns = ctx.config.namespace;
  const svc = ctx.informers.services.get(service, ns);
  let verdict: ExportVerdict = svc
    ? exportVerdict(svc, ctx.config, hasServiceExport(ctx, service))
    : { kind: 'none' };
  if (svc && verdict.kind === 'export') {
    const other = nameClash(ctx, svc, verdict.spec);
    if (other) {
      verdict = {
        kind: 'invalid',
        reason: 'NameClash',
        message: `Service ${other.metadata!.name} exports the name ${verdict.spec.name} into realm ${verdict.spec.realm} already: give this one another ${NAME_LABEL} label`,
      };
    }
  }
  if (verdict.kind !== 'export') {
    await cleanup(ctx, service);
    if (svc && hasFinalizer(svc)) await setFinalizer(ctx, svc, false);
    if (svc && verdict.kind === 'invalid') {
      ctx.metrics.refusedExports.inc({ reason: verdict.reason });
      ctx.log.warn({ service, reason: verdict.reason }, verdict.message);
      await ctx.events.record(ref(svc), 'Warning', verdict.reason, verdict.message);
      await writeExportStatus(ctx, svc, {
        status: 'False',
        reason: verdict.reason,
        message: verdict.message,
      });
    } else if (svc && !svc.metadata?.deletionTimestamp) {
      await writeExportStatus(ctx, svc, undefined);
    }
    return undefined;
  }
  const s = svc!;
  const spec = verdict.spec;
  if (!hasFinalizer(s)) await setFinalizer(ctx, s, true);
  const objs = exportObjects(spec, serviceOwner(s), ctx.settings, ctx.config.clusterDomain);
  // A new export: its devices registered now, so the importers start while our proxies do.
  if (!ctx.informers.statefulSets.get(objs.statefulSet.metadata!.name!, ns)) {
    const missing = objs.secrets.filter((x) => !ctx.informers.secrets.get(x.metadata!.name!, ns));
    if (missing.length) await preRegister(ctx, missing);
  }
  const applied = await applyWorkload(
    ctx.cluster,
    objs,
    (name) => !!ctx.informers.statefulSets.get(name, ns),
  );
  if (!applied.existed) {
    ctx.log.info({ service, name: spec.name, realm: spec.realm, replicas: spec.replicas }, 'export created');
    await ctx.events.record(
      ref(s),
      'Normal',
      'Exported',
      `exported as ${spec.name} into realm ${spec.realm}`,
    );
  }

  // Each registered replica's device carries the metadata; replicas scaled away lose theirs and their Secret.
  const wanted = exportMetadata(spec);
  const keep = new Set(objs.secrets.map((x) => x.metadata!.name!));
  for (const secret of exportSecrets(ctx, service)) {
    if (keep.has(secret.metadata!.name!)) continue;
    const id = deviceIdOf(secret);
    if (id) await deleteMetadata(ctx, id);
    await remove(ctx.cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret.metadata!.name!, namespace: ns },
    });
  }
  // The device ids from the apply's answer, not the cache (see AppliedWorkload.secrets).
  let waiting = false;
  const addresses: string[] = [];
  for (const secret of applied.secrets) {
    const id = deviceIdOf(secret);
    if (!id) {
      waiting = true;
      continue;
    }
    const device = ctx.vpc.devices.get(id);
    for (const t of [...(device?.ipv4_tunnel_ips ?? []), ...(device?.ipv6_tunnel_ips ?? [])])
      addresses.push(t.address);
    if (!ctx.vpc.synced || !sameMetadata(parseMetadata(ctx.vpc.metadata.get(id)), wanted)) {
      await ctx.session.client.setDeviceMetadata(id, METADATA_KEY, wanted);
      ctx.log.info({ service, deviceId: id }, 'device metadata set');
    }
  }
  await writeExportStatus(
    ctx,
    s,
    waiting
      ? {
          status: 'False',
          reason: 'WaitingForDevices',
          message: `waiting for ${spec.replicas} proxies to register with the Nexodus service`,
        }
      : {
          status: 'True',
          reason: 'Exported',
          message: `exported as ${spec.name} into realm ${spec.realm}`,
          addresses: addresses.sort(),
        },
  );
  return waiting ? { requeueAfterMs: WAIT_FOR_DEVICE_MS } : undefined;
}
