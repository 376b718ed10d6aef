// SPDX-License-Identifier: Apache-2.0
// The control socket protocol: JSON lines over a Unix socket. One request per line,
// `{"id":1,"method":"proxy.add","params":{"ingress":["tcp:80:10.0.0.1:80"]}}`, answered by one line with
// the same id: `{"id":1,"result":{...}}` or `{"id":1,"error":{"code":"NEX_ERR_PROXY_RULE","message":"..."}}`.
// Requests on one connection may be pipelined; answers may come out of order (match them by id).
import { join } from 'node:path';

/** Where nexd keeps keys, tokens, runtime rules and the control socket unless --state-dir says otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/nexd';
/** The socket's file name inside the state dir. */
export const CONTROL_SOCKET_NAME = 'nexd.sock';
/** Longest request or response line, in bytes; longer input closes the connection with an error. */
export const CONTROL_MAX_LINE = 1024 * 1024;

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, CONTROL_SOCKET_NAME);
}

export interface ControlRequest {
  id: number | string;
  method: string;
  params?: unknown;
}

export interface ControlErrorBody {
  /** i.e. `NEX_ERR_PROXY_RULE`, or `NEX_ERR_CONTROL` for protocol errors (bad JSON, unknown method). */
  code: string;
  message: string;
}

export type ControlResponse =
  | { id: number | string | null; result: unknown }
  | { id: number | string | null; error: ControlErrorBody };

/** Rules to add or remove: canonical or not, they are parsed by nexd, i.e. `{ ingress: ['tcp:80:a:80'] }`. */
export interface ProxyRuleParams {
  ingress?: string[];
  egress?: string[];
}

export interface ProxyRuleStatus {
  type: 'ingress' | 'egress';
  rule: string;
  /**
   * `flag` rules come from the command line; `runtime` rules were added over this socket and persist;
   * `configmap` rules follow the `--rules-configmap` ConfigMap.
   */
  origin: 'flag' | 'runtime' | 'configmap';
  connections: number;
  active: number;
  bytesToDestination: number;
  bytesFromDestination: number;
  dialFailures: number;
  datagramsDropped: number;
  /** On a port with several targets: failed its last dial or health check, skipped until one connects. */
  down?: boolean;
}

export interface PeerStatus {
  publicKey: string;
  /** i.e. `198.18.0.1:51820`, or the relay's URL when relayed; absent until known. */
  endpoint?: string;
  /** The path in use: `direct` (UDP to the endpoint) or `relay` (DERP through the relay); absent until known. */
  path?: 'direct' | 'relay';
  allowedIps: string[];
  /** ISO 8601 time of the latest handshake, absent if none yet. */
  latestHandshake?: string;
  rxBytes: number;
  txBytes: number;
}

/** `ping`: ICMP echo requests through the tunnel, one at a time. */
export interface PingParams {
  /** i.e. `100.100.0.2` or `200::2`. */
  address: string;
  /** Echo requests to send, 1-20 (default 1). */
  count?: number;
  /** How long to wait for each reply, ms (default 2000, at most 10000). */
  timeoutMs?: number;
}

export interface PingResult {
  address: string;
  seq: number;
  /** Round-trip time in ms; absent when no reply came. */
  rttMs?: number;
  /** Why there is no rtt: no reply in time, no peer routes the address, no VPC address of its family. */
  error?: 'timeout' | 'no-route' | 'no-source' | 'closed';
}

/**
 * The WireGuard engine's drop counters by reason, all of them (zeros included): `send` are IP packets and
 * datagrams that never left (no route, staging overflow, the kernel refused, ...; see the engine's
 * NodeSendDropCounters), `receive` datagrams and packets refused on the way in (see its DropCounters).
 */
export interface EngineDrops {
  send: Record<string, number>;
  receive: Record<string, number>;
  /** `nexd proxy`: the netstack's own drops (malformed, no socket, backlog full, tx queue full, ...). */
  netstack?: Record<string, number>;
}

export interface NexdStatus {
  version: string;
  mode: 'service' | 'standalone';
  /** Agent mode: the network device, i.e. `{ name: 'wg0', engine: 'userspace' }`. */
  device?: { name: string; engine: 'userspace' | 'kernel' };
  publicKey: string;
  deviceId?: string;
  addresses: { ipv4: string[]; ipv6: string[] };
  ready: boolean;
  /** Readiness conditions not met yet, i.e. `['registered']`. */
  pending: string[];
  rules: number;
  activeConnections: number;
  udpFlows: number;
  uptimeSeconds: number;
  stateLocation: string;
  /** The engine's drop counters (absent for a data plane without our engine). */
  drops?: EngineDrops;
}

/** Method names with their params and results; the client is typed from this map. */
export interface ControlMethods {
  status: { params: undefined; result: NexdStatus };
  peers: { params: undefined; result: PeerStatus[] };
  version: { params: undefined; result: { version: string } };
  ping: { params: PingParams; result: PingResult[] };
  /** `nexctl nexd set debug on|off`: debug logging at run time (off: back to --log-level). */
  'debug.set': { params: { on: boolean }; result: { level: string } };
  'proxy.list': { params: undefined; result: ProxyRuleStatus[] };
  'proxy.add': { params: ProxyRuleParams; result: { added: { type: string; rule: string }[] } };
  'proxy.remove': { params: ProxyRuleParams; result: { removed: { type: string; rule: string }[] } };
}

export type ControlMethod = keyof ControlMethods;
export const CONTROL_METHODS: readonly ControlMethod[] = [
  'status',
  'peers',
  'version',
  'ping',
  'debug.set',
  'proxy.list',
  'proxy.add',
  'proxy.remove',
];
