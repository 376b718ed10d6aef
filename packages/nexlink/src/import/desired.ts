// SPDX-License-Identifier: Apache-2.0
// Imports from the VPC's devices: every device of our realm whose `nexlink` metadata exports a name makes
// that name imported here, with one port per exported port; the online ones among them are the port's
// egress targets. Rules sharing a port are balanced round-robin by nexd (and health-checked there), so
// several exporting replicas (and several clusters exporting one name) share the load. An import stays while
// any device's metadata names it, even with every exporter offline (a restart of the exporting proxies does
// not delete and re-create the import); it goes when the metadata goes (the export was removed).
// Pure: the devices and metadata in, the imports and their objects out.

import type { KubernetesObject, V1OwnerReference, V1Service } from '@kubernetes/client-node';
import type { Device } from '@nexodus/api';
import { managedLabels } from '../labels.js';
import { type Protocol, parseMetadata } from '../metadata.js';
import { objectName } from '../names.js';
import { listenPorts, type ProxySettings, type WorkloadObjects, workloadObjects } from '../proxy/workload.js';

export const IMPORT_PREFIX = 'nexlink-import-';
/**
 * The first port an import proxy listens on (one per imported port, in order): above 1024 because the
 * proxies run as non-root without capabilities, and away from the health port 8080.
 */
export const IMPORT_LISTEN_BASE = 20000;

export interface ImportPort {
  protocol: Protocol;
  port: number;
  /** The online exporting devices' IPv4 VPC addresses, sorted (i.e. `['100.100.0.3', '100.100.0.4']`). */
  targets: string[];
}

export interface ImportSpec {
  name: string;
  /** Sorted by protocol, then port. */
  ports: ImportPort[];
}

export interface VpcView {
  devices: ReadonlyMap<string, Device>;
  /** device id -> the value of its `nexlink` metadata key. */
  metadata: ReadonlyMap<string, unknown>;
}

/** A device that is a target of the realm's exports now: online, with an IPv4 VPC address. */
function targetAddress(d: Device | undefined): string | undefined {
  return d?.online ? d.ipv4_tunnel_ips?.[0]?.address : undefined;
}

/**
 * What should be imported into a cluster of `realm`. `ownDevices` are this nexlink's exporting devices: a
 * cluster never imports its own exports. `invalid` counts metadata values that did not parse.
 */
export function desiredImports(
  vpc: VpcView,
  realm: string,
  ownDevices: ReadonlySet<string>,
): { imports: Map<string, ImportSpec>; invalid: number } {
  const byName = new Map<string, Map<string, ImportPort>>();
  let invalid = 0;
  for (const [deviceId, value] of vpc.metadata) {
    if (ownDevices.has(deviceId)) continue;
    const m = parseMetadata(value);
    if (!m) {
      invalid++;
      continue;
    }
    if (m.realm !== realm || !vpc.devices.has(deviceId)) continue;
    const address = targetAddress(vpc.devices.get(deviceId));
    for (const s of m.services) {
      let ports = byName.get(s.name);
      if (!ports) byName.set(s.name, (ports = new Map()));
      const key = `${s.protocol}/${s.port}`;
      let p = ports.get(key);
      if (!p) ports.set(key, (p = { protocol: s.protocol, port: s.port, targets: [] }));
      if (address && !p.targets.includes(address)) p.targets.push(address);
    }
  }
  const imports = new Map<string, ImportSpec>();
  for (const [name, ports] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    const list = [...ports.values()].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
    for (const p of list) p.targets.sort();
    imports.set(name, { name, ports: list });
  }
  return { imports, invalid };
}

export function importWorkloadName(name: string): string {
  return objectName(IMPORT_PREFIX, name);
}

/** The import's container port name for port `i` (also the Service's targetPort). */
function listenName(i: number): string {
  return `import-${i}`;
}

/** `tcp:20000:100.100.0.3:80` for every target of every port. */
export function egressRules(spec: ImportSpec): string[] {
  return spec.ports.flatMap((p, i) =>
    p.targets.map((t) => `${p.protocol}:${IMPORT_LISTEN_BASE + i}:${t}:${p.port}`),
  );
}

/** The Service of the imported name, selecting the import proxies; it owns the rest of the import. */
export function importService(spec: ImportSpec, namespace: string): V1Service {
  const name = importWorkloadName(spec.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: spec.name, namespace, labels: managedLabels('import', spec.name, name) },
    spec: {
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/instance': name },
      ports: spec.ports.map((p, i) => ({
        // A Service with several ports must name them.
        name: `${p.protocol}-${p.port}`,
        protocol: p.protocol === 'tcp' ? 'TCP' : 'UDP',
        port: p.port,
        targetPort: listenName(i),
      })),
    },
  };
}

/**
 * The MCS ServiceImport of an import: the imported ports, and the address of the Service of the same name
 * that carries the traffic (`ClusterSetIP`). Owned by that Service, so it goes with it.
 */
export function serviceImport(
  spec: ImportSpec,
  namespace: string,
  clusterIp: string | undefined,
  owner: V1OwnerReference,
): KubernetesObject & { spec: object } {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceImport',
    metadata: {
      name: spec.name,
      namespace,
      labels: managedLabels('import', spec.name, importWorkloadName(spec.name)),
      ownerReferences: [owner],
    },
    spec: {
      type: 'ClusterSetIP',
      ...(clusterIp && clusterIp !== 'None' ? { ips: [clusterIp] } : {}),
      ports: spec.ports.map((p) => ({
        name: `${p.protocol}-${p.port}`,
        protocol: p.protocol === 'tcp' ? 'TCP' : 'UDP',
        port: p.port,
      })),
    },
  };
}

export function importObjects(
  spec: ImportSpec,
  namespace: string,
  replicas: number,
  owner: V1OwnerReference | undefined,
  settings: ProxySettings,
): WorkloadObjects {
  return workloadObjects(
    {
      role: 'import',
      namespace,
      name: importWorkloadName(spec.name),
      service: spec.name,
      replicas,
      ingress: [],
      egress: egressRules(spec),
      ports: listenPorts(spec.ports, IMPORT_LISTEN_BASE, 'import'),
      ...(owner ? { owner } : {}),
    },
    settings,
  );
}
