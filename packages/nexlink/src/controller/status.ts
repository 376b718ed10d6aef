// SPDX-License-Identifier: Apache-2.0
// The exported Service's status, written by server-side apply on the status subresource (nexlink owns only
// its condition and, for a LoadBalancer of class nexodus.io/vpc, the ingress list):
//   conditions[type=nexlink.nexodus.io/Exported]: True/Exported, False/WaitingForDevices, False/<problem>
//   loadBalancer.ingress: the exporting devices' VPC addresses (a remote device reaches the Service there).
// Written only when something changed: every write is an update event that would reconcile again.
import { PatchStrategy, setHeaderOptions, type V1Condition, type V1Service } from '@kubernetes/client-node';
import { LOAD_BALANCER_CLASS } from '../export/spec.js';
import { FIELD_MANAGER } from '../labels.js';
import type { ControllerContext } from './context.js';

export const EXPORTED_CONDITION = 'nexlink.nexodus.io/Exported';

export interface ExportStatus {
  status: 'True' | 'False';
  reason: string;
  message: string;
  /** VPC addresses for status.loadBalancer.ingress (LoadBalancer Services of our class only). */
  addresses?: string[];
}

function isOurLoadBalancer(svc: V1Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === LOAD_BALANCER_CLASS;
}

/** Applies `want` (undefined: remove nexlink's condition) unless the Service shows it already. */
export async function writeExportStatus(
  ctx: ControllerContext,
  svc: V1Service,
  want: ExportStatus | undefined,
): Promise<void> {
  const current = svc.status?.conditions?.find((c) => c.type === EXPORTED_CONDITION);
  const lb = isOurLoadBalancer(svc);
  const ingress = lb && want?.addresses ? want.addresses.map((ip) => ({ ip })) : undefined;
  const currentIngress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',');
  const sameCondition = want
    ? current?.status === want.status &&
      current.reason === want.reason &&
      current.message === want.message &&
      current.observedGeneration === svc.metadata?.generation
    : current === undefined;
  const sameIngress = !lb || (ingress ?? []).map((i) => i.ip).join(',') === currentIngress;
  if (sameCondition && sameIngress) return;
  const condition: V1Condition | undefined = want && {
    type: EXPORTED_CONDITION,
    status: want.status,
    reason: want.reason,
    message: want.message,
    observedGeneration: svc.metadata?.generation ?? 0,
    lastTransitionTime:
      current && current.status === want.status ? new Date(current.lastTransitionTime) : new Date(),
  };
  await ctx.cluster.core.patchNamespacedServiceStatus(
    {
      name: svc.metadata!.name!,
      namespace: svc.metadata!.namespace!,
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: svc.metadata!.name!, namespace: svc.metadata!.namespace! },
        status: {
          ...(condition ? { conditions: [condition] } : {}),
          ...(ingress ? { loadBalancer: { ingress } } : {}),
        },
      },
      fieldManager: FIELD_MANAGER,
      force: true,
    },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
}
