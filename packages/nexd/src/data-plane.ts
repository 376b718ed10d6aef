// SPDX-License-Identifier: Apache-2.0
// The seam between nexd's control logic and the tunnel. A DataPlane is the WireGuard engine + userspace
// netstack (+ in service mode the registration and peer stream); nexd only needs the tunnel side of the
// proxy, the assigned addresses and a peer list from it. Wiring packages/wireguard, packages/netstack and
// packages/api in means writing one DataPlaneFactory; nothing else in the daemon changes.
import type { Logger } from 'pino';
import type { GlobalConfig } from './config.js';
import type { EngineDrops, PeerStatus } from './control/protocol.js';
import { NexdError } from './errors.js';
import type { NexdMetrics } from './health/metrics.js';
import type { Readiness } from './health/readiness.js';
import type { WireGuardKeyPair } from './keys.js';
import type { ProxySide } from './proxy/network.js';
import type { StateStore } from './state/store.js';
import type { PingResult } from './tunnel/pinger.js';
import type { WgConfig } from './wg-config.js';

export interface DataPlane {
  /** The VPC side of the proxy: ingress rules listen here, egress rules dial here. */
  tunnel: ProxySide;
  /** This device's VPC addresses, i.e. `{ ipv4: ['100.100.0.1'], ipv6: ['200::1'] }`. */
  addresses: { ipv4: string[]; ipv6: string[] };
  deviceId?: string;
  peers(): PeerStatus[];
  /** One ICMP echo to `address` through the tunnel (`nexctl nexd peers ping`). */
  ping?(address: string, timeoutMs: number): Promise<PingResult>;
  /** Agent mode: the network device carrying the tunnel, i.e. `{ name: 'wg0', engine: 'userspace' }`. */
  device?: { name: string; engine: 'userspace' | 'kernel' };
  /** The WireGuard engine's drop counters by reason, for /metrics and `nexctl nexd status`. */
  drops?(): EngineDrops | undefined;
  /** Tears the tunnel down; called after the proxy has drained. */
  close(): Promise<void>;
}

export interface DataPlaneContext {
  config: GlobalConfig;
  keys: WireGuardKeyPair;
  logger: Logger;
  store: StateStore;
  metrics: NexdMetrics;
  /** The data plane marks `registered` and `peer-stream-at-tail` here. */
  readiness: Readiness;
  /** Standalone mode: the parsed `--wg-config` file (addresses, listen port, MTU, peers). */
  wgConfig?: WgConfig;
}

export type DataPlaneFactory = (ctx: DataPlaneContext) => Promise<DataPlane>;

/** The factory used until the WireGuard engine and netstack are wired in: a clear error, exit non-zero. */
export const unavailableDataPlane: DataPlaneFactory = async () => {
  throw new NexdError(
    'NEX_ERR_DATA_PLANE_UNAVAILABLE',
    'the userspace data plane (WireGuard engine + netstack) is not wired into this nexd build yet; ' +
      'configuration, state and keys were checked and are usable',
  );
};
