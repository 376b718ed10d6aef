// SPDX-License-Identifier: Apache-2.0
// Imports from the VPC's devices: every online device of our realm whose `nexlink` metadata exports a name
// becomes an egress target of that name's import, per port. Rules sharing a port are balanced round-robin
// by nexd, so several exporting replicas (and several clusters exporting one name) share the load.
// Pure: the devices and metadata in, the imports and their objects out.

import type { V1OwnerReference, V1Service } from '@kubernetes/client-node';
import type { Device } from '@nexodus/api';
import { managedLabels } from '../labels.js';
import { type NexlinkMetadata, type Protocol, parseMetadata } from '../metadata.js';
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
  /** The exporting devices' IPv4 VPC addresses, sorted (i.e. `['100.100.0.3', '100.100.0.4']`). */
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

/** Why a device counts as an exporter of `realm`: online, an IPv4 VPC address, valid metadata of the realm. */
function exporterAddress(d: Device | undefined, m: NexlinkMetadata | undefined, realm: string) {
  if (!d || !m || m.realm !== realm || !d.online) return undefined;
  return d.ipv4_tunnel_ips?.[0]?.address;
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
    const address = exporterAddress(vpc.devices.get(deviceId), m, realm);
    if (!address) continue;
    for (const s of m.services) {
      let ports = byName.get(s.name);
      if (!ports) byName.set(s.name, (ports = new Map()));
      const key = `${s.protocol}/${s.port}`;
      let p = ports.get(key);
      if (!p) ports.set(key, (p = { protocol: s.protocol, port: s.port, targets: [] }));
      if (!p.targets.includes(address)) p.targets.push(address);
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

/**
 * Names with an exporter that is arriving: valid metadata of our realm, not online yet, metadata first seen
 * less than `windowMs` ago (an export's replicas register a second or two apart). The importer holds such a
 * name's import for that while, because every change of its targets restarts its proxies.
 */
export function arrivingNames(
  vpc: VpcView,
  realm: string,
  ownDevices: ReadonlySet<string>,
  firstSeen: ReadonlyMap<string, number>,
  now: number,
  windowMs: number,
): Set<string> {
  const names = new Set<string>();
  for (const [deviceId, value] of vpc.metadata) {
    if (ownDevices.has(deviceId) || vpc.devices.get(deviceId)?.online) continue;
    const seen = firstSeen.get(deviceId);
    if (seen === undefined || now - seen >= windowMs) continue;
    const m = parseMetadata(value);
    if (m?.realm !== realm) continue;
    for (const s of m.services) names.add(s.name);
  }
  return names;
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
