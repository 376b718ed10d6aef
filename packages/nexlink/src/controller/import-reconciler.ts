// SPDX-License-Identifier: Apache-2.0
// reconcileImports(): one key for every import, level-triggered. From the VPC view (devices and their
// `nexlink` metadata) it computes what this cluster should import and converges on it: for each name a
// Service of that name (owning the rest) and a `nexd proxy` workload whose rules ConfigMap holds an egress
// rule to every online exporting device (nexd applies its changes live: a device coming or going changes
// the ConfigMap only, never the Pods); an import no device exports any more is deleted (the Service, and
// with it, by owner references, the workload and the MCS ServiceImport, written when its CRD is installed). A Service of that name that nexlink does not manage is
// never touched.
import type { V1OwnerReference, V1Service } from '@kubernetes/client-node';
import { desiredImports, importObjects, importService, serviceImport } from '../import/desired.js';
import { apply, remove } from '../kube/cluster.js';
import { MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL } from '../labels.js';
import { applyWorkload } from '../proxy/workload.js';
import type { ReconcileResult } from '../queue.js';
import type { ControllerContext } from './context.js';
import { ownDevices } from './export-reconciler.js';

export const IMPORTS_KEY = 'imports';
const WAIT_FOR_VPC_MS = 500;

function isManagedImport(svc: V1Service | undefined): boolean {
  const l = svc?.metadata?.labels ?? {};
  return l[MANAGED_BY_LABEL] === MANAGED_BY && l[ROLE_LABEL] === 'import';
}

export class ImportReconciler {
  /** name -> the JSON of what was last applied: an unchanged import is not applied again between resyncs. */
  readonly #applied = new Map<string, string>();
  readonly #warned = new Set<string>();

  constructor(readonly ctx: ControllerContext) {}

  /** The next reconcile applies everything again (resync: repairs objects edited or deleted by hand). */
  forget(): void {
    this.#applied.clear();
  }

  async reconcile(): Promise<ReconcileResult> {
    const { ctx } = this;
    if (!ctx.vpc.synced) return { requeueAfterMs: WAIT_FOR_VPC_MS };
    const ns = ctx.config.namespace;
    const own = ownDevices(ctx);
    const { imports, invalid } = desiredImports(ctx.vpc, ctx.config.realm, own);
    ctx.metrics.invalidMetadata.set(invalid);
    for (const spec of imports.values()) {
      const existing = ctx.informers.services.get(spec.name, ns);
      if (existing && !isManagedImport(existing)) {
        if (!this.#warned.has(spec.name)) {
          this.#warned.add(spec.name);
          ctx.log.warn(
            { name: spec.name },
            `not importing ${spec.name}: a Service of that name exists here and nexlink does not manage it`,
          );
        }
        imports.delete(spec.name);
        continue;
      }
      const text = JSON.stringify(spec);
      if (existing && this.#applied.get(spec.name) === text) continue;
      const svc = await apply(ctx.cluster, importService(spec, ns));
      const owner: V1OwnerReference = {
        apiVersion: 'v1',
        kind: 'Service',
        name: spec.name,
        uid: svc.metadata!.uid!,
        controller: true,
        blockOwnerDeletion: true,
      };
      if (ctx.serviceImports) await apply(ctx.cluster, serviceImport(spec, ns, svc.spec?.clusterIP, owner));
      const objs = importObjects(spec, ns, ctx.config.replicas, owner, ctx.settings);
      await applyWorkload(ctx.cluster, objs, (name) => !!ctx.informers.statefulSets.get(name, ns));
      this.#applied.set(spec.name, text);
      ctx.log.info(
        { name: spec.name, ports: spec.ports.map((p) => `${p.protocol}/${p.port}:${p.targets.join(',')}`) },
        'import applied',
      );
    }
    for (const svc of ctx.informers.services.list(ns)) {
      const name = svc.metadata!.name!;
      if (!isManagedImport(svc) || imports.has(name)) continue;
      await remove(ctx.cluster, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns } });
      this.#applied.delete(name);
      ctx.log.info({ name }, 'import removed');
    }
    ctx.metrics.imports.set(imports.size);
    return undefined;
  }
}
