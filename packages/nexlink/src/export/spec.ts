// SPDX-License-Identifier: Apache-2.0
// What a user's Service asks for: no export, an export nexlink can make, or one it cannot (and why, for the
// Event and the status condition). Pure: the Service object and nexlink's defaults in, a verdict out.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { EXPORT_LABEL, NAME_LABEL, REALM_LABEL, REPLICAS_LABEL } from '../labels.js';
import type { ExportedPort, Protocol } from '../metadata.js';
import { isRealm, isServiceName } from '../names.js';

export interface ExportSpec {
  namespace: string;
  /** The Service's own name, i.e. `nginx`. */
  service: string;
  realm: string;
  /** The name in the other clusters (NAME_LABEL, default the Service's name). */
  name: string;
  replicas: number;
  /** One per Service port, as the metadata lists them. */
  ports: ExportedPort[];
}

/** Why an export cannot be made: the `reason` of the Event and condition (CamelCase, as Kubernetes has them). */
export type ExportProblem =
  | 'NoPorts'
  | 'InvalidRealm'
  | 'InvalidName'
  | 'InvalidReplicas'
  | 'UnsupportedProtocol'
  /** Another exported Service of the namespace has the name in the realm already. */
  | 'NameClash';

export type ExportVerdict =
  | { kind: 'none' }
  | { kind: 'invalid'; reason: ExportProblem; message: string }
  | { kind: 'export'; spec: ExportSpec };

export interface ExportDefaults {
  realm: string;
  replicas: number;
}

export const MAX_REPLICAS = 10;
/** A Service of `type: LoadBalancer` with this class is exported without a label (as Tailscale's operator). */
export const LOAD_BALANCER_CLASS = 'nexodus.io/vpc';

/** The Service ports' protocols as nexd names them, or why one of them cannot be proxied. */
export function portProtocols(
  ports: readonly V1ServicePort[],
): Protocol[] | { reason: 'UnsupportedProtocol'; message: string } {
  const out: Protocol[] = [];
  for (const p of ports) {
    const protocol = (p.protocol ?? 'TCP').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') {
      return {
        reason: 'UnsupportedProtocol',
        message: `port ${p.name ?? p.port} is ${p.protocol}: nexd proxies TCP and UDP only`,
      };
    }
    out.push(protocol);
  }
  return out;
}

/** Whether the Service asks to be exported: the label, a ServiceExport of its name, a LoadBalancer of our class. */
export function wantsExport(svc: V1Service, serviceExport = false): boolean {
  if (serviceExport || svc.metadata?.labels?.[EXPORT_LABEL] === 'true') return true;
  return svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === LOAD_BALANCER_CLASS;
}

/** `serviceExport`: a ServiceExport of the Service's name exists (MCS API). */
export function exportVerdict(
  svc: V1Service,
  defaults: ExportDefaults,
  serviceExport = false,
): ExportVerdict {
  const labels = svc.metadata?.labels ?? {};
  if (!wantsExport(svc, serviceExport) || svc.metadata?.deletionTimestamp) return { kind: 'none' };
  const service = svc.metadata?.name ?? '';
  const realm = labels[REALM_LABEL] ?? defaults.realm;
  if (!isRealm(realm)) {
    return {
      kind: 'invalid',
      reason: 'InvalidRealm',
      message: `label ${REALM_LABEL}=${JSON.stringify(realm)} is not a realm: expected a DNS label (lower-case letters, digits and '-', at most 63), i.e. shop`,
    };
  }
  const name = labels[NAME_LABEL] ?? service;
  if (!isServiceName(name)) {
    return {
      kind: 'invalid',
      reason: 'InvalidName',
      message: `label ${NAME_LABEL}=${JSON.stringify(name)} is not a Service name: expected an RFC 1035 label (a lower-case letter, then letters, digits or '-', at most 63)`,
    };
  }
  let replicas = defaults.replicas;
  const r = labels[REPLICAS_LABEL];
  if (r !== undefined) {
    replicas = /^\d+$/.test(r) ? Number(r) : Number.NaN;
    if (!(replicas >= 1 && replicas <= MAX_REPLICAS)) {
      return {
        kind: 'invalid',
        reason: 'InvalidReplicas',
        message: `label ${REPLICAS_LABEL}=${JSON.stringify(r)}: expected a whole number from 1 to ${MAX_REPLICAS}`,
      };
    }
  }
  const specPorts = svc.spec?.ports ?? [];
  if (specPorts.length === 0) {
    return {
      kind: 'invalid',
      reason: 'NoPorts',
      message: 'the Service has no ports: give it at least one port to export',
    };
  }
  const protocols = portProtocols(specPorts);
  if (!Array.isArray(protocols)) return { kind: 'invalid', ...protocols };
  const ports: ExportedPort[] = specPorts.map((p, i) => ({ name, protocol: protocols[i]!, port: p.port }));
  return {
    kind: 'export',
    spec: { namespace: svc.metadata?.namespace ?? '', service, realm, name, replicas, ports },
  };
}
