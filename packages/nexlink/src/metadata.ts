// SPDX-License-Identifier: Apache-2.0
// The device metadata an exporting proxy carries under the key `nexlink`, as the design specifies:
//   {"realm": "shop", "services": [{"name": "nginx", "protocol": "tcp", "port": 80}]}
// `port` is the port the proxy listens on in the VPC (its ingress rule), which is the exported Service's port.
// Metadata is written by other clusters' nexlink, so it is parsed as untrusted input: anything malformed is
// ignored (and counted), never thrown.
import { isRealm, isServiceName } from './names.js';

export type Protocol = 'tcp' | 'udp';

export interface ExportedPort {
  /** The exported Service name, i.e. `nginx`. */
  name: string;
  protocol: Protocol;
  /** The VPC port, i.e. 80. */
  port: number;
}

export interface NexlinkMetadata {
  realm: string;
  services: ExportedPort[];
}

const MAX_PORT = 65535;
/** More entries than any Service has ports: a bound on what one device's metadata makes us create. */
export const MAX_SERVICES = 100;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The metadata value, or undefined when it is not one nexlink wrote (wrong shape, bad names or ports). */
export function parseMetadata(value: unknown): NexlinkMetadata | undefined {
  if (!isObject(value) || typeof value.realm !== 'string' || !isRealm(value.realm)) return undefined;
  if (!Array.isArray(value.services) || value.services.length > MAX_SERVICES) return undefined;
  const services: ExportedPort[] = [];
  for (const s of value.services) {
    if (!isObject(s) || typeof s.name !== 'string' || !isServiceName(s.name)) return undefined;
    if (s.protocol !== 'tcp' && s.protocol !== 'udp') return undefined;
    if (typeof s.port !== 'number' || !Number.isInteger(s.port) || s.port < 1 || s.port > MAX_PORT) {
      return undefined;
    }
    services.push({ name: s.name, protocol: s.protocol, port: s.port });
  }
  return { realm: value.realm, services };
}

/** Whether two metadata values say the same (so an unchanged export writes nothing). */
export function sameMetadata(a: NexlinkMetadata | undefined, b: NexlinkMetadata | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
