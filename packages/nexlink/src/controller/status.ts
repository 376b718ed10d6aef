// SPDX-License-Identifier: Apache-2.0
// The exported Service's status, written by server-side apply on the status subresource (nexlink owns only
// its condition and, for a LoadBalancer of class nexodus.io/vpc, the ingress list):
//   conditions[type=nexlink.nexodus.io/Exported]: True/Exported, False/WaitingForDevices, False/<problem>
//   loadBalancer.ingress: the exporting devices' VPC addresses (a remote device reaches the Service there).
// A Service annotated with a device (nexlink.nexodus.io/device) gets its own condition, under its own field
// manager (FIELD_MANAGER_DEVICE), so that applying one condition never drops the other:
//   conditions[type=nexlink.nexodus.io/DeviceReachable]: True/Reachable, False/WaitingForProxies,
//   False/DeviceOffline, False/<problem>
// Written only when something changed: every write is an update event that would reconcile again.
import { PatchStrategy, setHeaderOptions, type V1Condition, type V1Service } from '@kubernetes/client-node';
import { LOAD_BALANCER_CLASS } from '../export/spec.js';
import { FIELD_MANAGER } from '../labels.js';
import type { ControllerContext } from './context.js';

export const EXPORTED_CONDITION = 'nexlink.nexodus.io/Exported';
export const DEVICE_CONDITION = 'nexlink.nexodus.io/DeviceReachable';
/** Server-side apply drops what a manager owned and no longer sends: the device condition has its own. */
export const FIELD_MANAGER_DEVICE = `${FIELD_MANAGER}-device`;

export interface ConditionWant {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface ExportStatus extends ConditionWant {
  /** VPC addresses for status.loadBalancer.ingress (LoadBalancer Services of our class only). */
  addresses?: string[];
}

/** Whether the Service shows `want` already (undefined: shows no such condition). */
function conditionShown(
  current: V1Condition | undefined,
  want: ConditionWant | undefined,
  generation: number | undefined,
): boolean {
  if (!want) return current === undefined;
  return (
    current?.status === want.status &&
    current.reason === want.reason &&
    current.message === want.message &&
    current.observedGeneration === generation
  );
}

/** The condition to apply; its transition time moves only when its status does. */
function makeCondition(
  type: string,
  want: ConditionWant,
  current: V1Condition | undefined,
  generation: number | undefined,
): V1Condition {
  return {
    type,
    status: want.status,
    reason: want.reason,
    message: want.message,
    observedGeneration: generation ?? 0,
    lastTransitionTime:
      current && current.status === want.status ? new Date(current.lastTransitionTime) : new Date(),
  };
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
  const sameCondition = conditionShown(current, want, svc.metadata?.generation);
  const sameIngress = !lb || (ingress ?? []).map((i) => i.ip).join(',') === currentIngress;
  if (sameCondition && sameIngress) return;
  const condition = want && makeCondition(EXPORTED_CONDITION, want, current, svc.metadata?.generation);
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

/** Applies the device condition (undefined: removes it) unless the Service shows it already. */
export async function writeDeviceStatus(
  ctx: ControllerContext,
  svc: V1Service,
  want: ConditionWant | undefined,
): Promise<void> {
  const current = svc.status?.conditions?.find((c) => c.type === DEVICE_CONDITION);
  if (conditionShown(current, want, svc.metadata?.generation)) return;
  const condition = want && makeCondition(DEVICE_CONDITION, want, current, svc.metadata?.generation);
  const { name, namespace } = svc.metadata as { name: string; namespace: string };
  await ctx.cluster.core.patchNamespacedServiceStatus(
    {
      name,
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace },
        status: condition ? { conditions: [condition] } : {},
      },
      fieldManager: FIELD_MANAGER_DEVICE,
      force: true,
    },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
}
