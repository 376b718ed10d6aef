// SPDX-License-Identifier: Apache-2.0
// Egress to a named device (demo 2 without a hand-written rule): a selector-less Service annotated
// `nexlink.nexodus.io/device: <hostname or VPC address>` gets a `nexd proxy` workload with one egress rule
// per Service port to that device's IPv4 VPC address, and an EndpointSlice that nexlink writes for the
// Service, listing the ready proxy Pods. A selector-less Service is how Kubernetes lets someone other than
// the EndpointSlice controller say where its traffic goes; the Service keeps its ClusterIP and DNS name.
// Pure: the Service, the VPC's devices and the proxy Pods in; the verdict, the device and the objects out.
import { isIP, isIPv4 } from 'node:net';
import type { V1EndpointSlice, V1OwnerReference, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Device } from '@nexodus/api';
import { portProtocols } from '../export/spec.js';
import {
  DEVICE_ANNOTATION,
  managedLabels,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SLICE_SERVICE_LABEL,
} from '../labels.js';
import type { Protocol } from '../metadata.js';
import { objectName } from '../names.js';
import { listenPorts, type ProxySettings, type WorkloadObjects, workloadObjects } from '../proxy/workload.js';

export const DEVICE_PREFIX = 'nexlink-device-';
/**
 * The first port a device proxy listens on (one per Service port, in order): above 1024 because the proxies
 * run as non-root without capabilities, away from the health port 8080 (as the imports' IMPORT_LISTEN_BASE).
 */
export const DEVICE_LISTEN_BASE = 20000;
/** Longest hostname the annotation may name (RFC 1035's 253 characters of a domain name). */
const MAX_HOSTNAME = 253;

/** How the annotation names the device. */
export type DeviceTarget = { kind: 'hostname'; hostname: string } | { kind: 'address'; address: string };

export interface DevicePort {
  /** The Service port's name ('' when the Service has one unnamed port): the slice's port has the same. */
  name: string;
  protocol: Protocol;
  /** The Service port, i.e. 80. */
  port: number;
  /** The device's port: the Service's numeric targetPort, else its port, i.e. 80. */
  devicePort: number;
}

export interface DeviceSpec {
  /** The user's Service, i.e. `demo2`. */
  service: string;
  target: DeviceTarget;
  /** In the Service's order. */
  ports: DevicePort[];
}

/** Why a Service's annotation cannot be followed: the `reason` of the Event and condition. */
export type DeviceProblem =
  | 'InvalidDevice'
  | 'NoPorts'
  | 'HasSelector'
  | 'UnsupportedType'
  | 'UnsupportedProtocol';

export type DeviceVerdict =
  | { kind: 'none' }
  | { kind: 'invalid'; reason: DeviceProblem; message: string }
  | { kind: 'device'; spec: DeviceSpec };

/** The annotation's value as a target, or undefined when it is neither an IP address nor a hostname. */
export function parseTarget(value: string): DeviceTarget | undefined {
  const v = value.trim();
  if (isIP(v)) return { kind: 'address', address: v };
  // Device hostnames are what the OS says, so more than DNS allows (`_`, upper case), but one word.
  if (!v || v.length > MAX_HOSTNAME || /[\s/:,]/.test(v)) return undefined;
  return { kind: 'hostname', hostname: v };
}

/** What a Service asks for: nothing, an egress to a device, or one that cannot be made (and why). */
export function deviceVerdict(svc: V1Service): DeviceVerdict {
  const value = svc.metadata?.annotations?.[DEVICE_ANNOTATION];
  if (value === undefined || svc.metadata?.deletionTimestamp) return { kind: 'none' };
  const target = parseTarget(value);
  if (!target) {
    return {
      kind: 'invalid',
      reason: 'InvalidDevice',
      message: `annotation ${DEVICE_ANNOTATION}=${JSON.stringify(value)} names no device: expected a device hostname (i.e. demo2-device) or a VPC address (i.e. 100.100.0.1)`,
    };
  }
  if (svc.spec?.type === 'ExternalName') {
    return {
      kind: 'invalid',
      reason: 'UnsupportedType',
      message: `an ExternalName Service has no endpoints: make it a ClusterIP Service without a selector to reach the device`,
    };
  }
  if (Object.keys(svc.spec?.selector ?? {}).length > 0) {
    return {
      kind: 'invalid',
      reason: 'HasSelector',
      message: `the Service has a selector, so Kubernetes picks its endpoints: remove the selector for ${DEVICE_ANNOTATION} to route it to the device`,
    };
  }
  const specPorts = svc.spec?.ports ?? [];
  if (specPorts.length === 0) {
    return {
      kind: 'invalid',
      reason: 'NoPorts',
      message: 'the Service has no ports: give it one port per device port to reach, i.e. port 80',
    };
  }
  const protocols = portProtocols(specPorts);
  if (!Array.isArray(protocols)) return { kind: 'invalid', ...protocols };
  const ports: DevicePort[] = specPorts.map((p, i) => ({
    name: p.name ?? '',
    protocol: protocols[i]!,
    port: p.port,
    devicePort: typeof p.targetPort === 'number' ? p.targetPort : p.port,
  }));
  return { kind: 'device', spec: { service: svc.metadata?.name ?? '', target, ports } };
}

function addresses(d: Device): string[] {
  return [...(d.ipv4_tunnel_ips ?? []), ...(d.ipv6_tunnel_ips ?? [])].map((t) => t.address);
}

/**
 * Which of several devices of one hostname: an online one before an offline one, then the one that came
 * online last, then the highest revision (the Device has no creation time; a re-registered device is newer
 * than the one it replaced in both). Negative when `a` is the better one.
 */
function better(a: Device, b: Device): number {
  if (a.online !== b.online) return a.online ? -1 : 1;
  const onlineAt = (b.online_at ?? '').localeCompare(a.online_at ?? '');
  return onlineAt || (b.revision ?? 0) - (a.revision ?? 0);
}

/** The device `target` names among `devices`, or undefined. */
export function findDevice(devices: Iterable<Device>, target: DeviceTarget): Device | undefined {
  const matches: Device[] = [];
  for (const d of devices) {
    if (target.kind === 'address' ? addresses(d).includes(target.address) : sameHostname(d, target.hostname))
      matches.push(d);
  }
  return matches.sort(better)[0];
}

function sameHostname(d: Device, hostname: string): boolean {
  // Hostnames are case-insensitive (RFC 4343).
  return d.hostname.toLowerCase() === hostname.toLowerCase();
}

/** The IPv4 VPC address the egress rules point at (nexd's egress targets are IPv4), or undefined. */
export function egressAddress(d: Device): string | undefined {
  return d.ipv4_tunnel_ips?.map((t) => t.address).find((a) => isIPv4(a));
}

export function deviceWorkloadName(service: string): string {
  return objectName(DEVICE_PREFIX, service);
}

/** `tcp:20000:100.100.0.1:80`, one per Service port. */
export function deviceEgressRules(spec: DeviceSpec, address: string): string[] {
  return spec.ports.map((p, i) => `${p.protocol}:${DEVICE_LISTEN_BASE + i}:${address}:${p.devicePort}`);
}

/** `address` undefined: the device is gone, its proxies stay without a rule (they are ready when it is back). */
export function deviceObjects(
  spec: DeviceSpec,
  address: string | undefined,
  namespace: string,
  replicas: number,
  owner: V1OwnerReference | undefined,
  settings: ProxySettings,
): WorkloadObjects {
  return workloadObjects(
    {
      role: 'device',
      namespace,
      name: deviceWorkloadName(spec.service),
      service: spec.service,
      replicas,
      ingress: [],
      egress: address ? deviceEgressRules(spec, address) : [],
      ports: listenPorts(spec.ports, DEVICE_LISTEN_BASE, 'device'),
      ...(owner ? { owner } : {}),
    },
    settings,
  );
}

/** A proxy Pod as the slice lists it: its IPv4 address and whether it takes traffic. */
export interface ProxyEndpoint {
  ip: string;
  pod: string;
  /** The Pod is Ready (nexd's /readyz: registered, rules listening). */
  serving: boolean;
  /** The Pod is being deleted: Kubernetes sends it no new connections. */
  terminating: boolean;
}

/** The proxy Pods that have an IPv4 address, sorted by name (a stable slice: an unchanged one is not written). */
export function proxyEndpoints(pods: readonly V1Pod[]): ProxyEndpoint[] {
  const out: ProxyEndpoint[] = [];
  for (const p of pods) {
    const ip = p.status?.podIP;
    if (!ip || !isIPv4(ip)) continue;
    const terminating = Boolean(p.metadata?.deletionTimestamp);
    const serving = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    out.push({ ip, pod: p.metadata?.name ?? '', serving, terminating });
  }
  return out.sort((a, b) => a.pod.localeCompare(b.pod));
}

/** The Service's EndpointSlice: the proxy Pods on their listen ports, the ports named as the Service's. */
export function deviceSlice(
  spec: DeviceSpec,
  namespace: string,
  owner: V1OwnerReference,
  endpoints: readonly ProxyEndpoint[],
): V1EndpointSlice {
  const name = deviceWorkloadName(spec.service);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace,
      labels: {
        ...managedLabels('device', spec.service, name),
        [SLICE_SERVICE_LABEL]: spec.service,
        [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY,
      },
      ownerReferences: [owner],
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.serving && !e.terminating, serving: e.serving, terminating: e.terminating },
      targetRef: { kind: 'Pod', name: e.pod, namespace },
    })),
    ports: spec.ports.map((p, i) => ({
      name: p.name,
      port: DEVICE_LISTEN_BASE + i,
      protocol: p.protocol === 'tcp' ? 'TCP' : 'UDP',
    })),
  };
}
