// SPDX-License-Identifier: Apache-2.0
// The export of one Service: its `nexd proxy` workload with one ingress rule per Service port, to the
// Service's cluster DNS name (resolved per connection by nexd, so the Service's ClusterIP may change), and the
// metadata its devices carry. Pure: the spec and settings in, the objects out.
import type { V1OwnerReference, V1Service } from '@kubernetes/client-node';
import type { NexlinkMetadata } from '../metadata.js';
import { objectName } from '../names.js';
import { type ProxySettings, type WorkloadObjects, workloadObjects } from '../proxy/workload.js';
import type { ExportSpec } from './spec.js';

export const EXPORT_PREFIX = 'nexlink-export-';

export function exportWorkloadName(service: string): string {
  return objectName(EXPORT_PREFIX, service);
}

/** `tcp:80:nginx.shop.svc.cluster.local:80`: the VPC port is the Service port. */
export function ingressRules(spec: ExportSpec, clusterDomain: string): string[] {
  const host = `${spec.service}.${spec.namespace}.svc.${clusterDomain}`;
  return spec.ports.map((p) => `${p.protocol}:${p.port}:${host}:${p.port}`);
}

export function exportMetadata(spec: ExportSpec): NexlinkMetadata {
  return { realm: spec.realm, services: spec.ports.map((p) => ({ ...p })) };
}

/** The exported Service as the owner: deleting it deletes its proxies (after the finalizer's cleanup). */
export function serviceOwner(svc: V1Service): V1OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    name: svc.metadata!.name!,
    uid: svc.metadata!.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function exportObjects(
  spec: ExportSpec,
  owner: V1OwnerReference | undefined,
  settings: ProxySettings,
  clusterDomain: string,
): WorkloadObjects {
  return workloadObjects(
    {
      role: 'export',
      namespace: spec.namespace,
      name: exportWorkloadName(spec.service),
      service: spec.service,
      replicas: spec.replicas,
      ingress: ingressRules(spec, clusterDomain),
      egress: [],
      ...(owner ? { owner } : {}),
    },
    settings,
  );
}
