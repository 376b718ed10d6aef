// SPDX-License-Identifier: Apache-2.0
// Glue for service mode: watch stream -> device map -> desired peers -> diff -> engine. Marks readiness
// (`peer-stream-at-tail`) at each tail, counts stream reconnects and keeps the peers gauge current.
// With the engine behind PeerSink and the stream behind OpenWatch, this is testable without either.
import type { Logger } from 'pino';
import type { NexdMetrics } from '../health/metrics.js';
import type { Readiness } from '../health/readiness.js';
import { type OpenWatch, PeerStreamFollower } from './follower.js';
import {
  applyPeerChanges,
  desiredPeers,
  diffPeers,
  type PeerConfig,
  type PeerSink,
  type VpcDevice,
} from './reconcile.js';

export interface PeerSyncOptions {
  open: OpenWatch;
  sink: PeerSink;
  selfPublicKey: string;
  readiness: Readiness;
  metrics: NexdMetrics;
  logger: Logger;
  persistentKeepalive?: number;
  /** Peers already in the engine (restored from the state), so the first listing also removes stale ones. */
  initialPeers?: readonly PeerConfig[];
  /** Called with this device's own record (matched by public key) from every device map. */
  onSelf?: (device: VpcDevice) => void;
  /** Called after readiness was marked at each tail, with the peer set applied then. */
  /** At each tail: the peers, and the keys of those the service reports online (or does not say). */
  onTail?: (peers: readonly PeerConfig[], online: ReadonlySet<string>) => void;
  /** Called with the peer set after each change was applied (service mode stores it). */
  onPeers?: (peers: readonly PeerConfig[]) => void;
  /** Passed to the follower (tests inject timers and randomness). */
  follower?: Partial<ConstructorParameters<typeof PeerStreamFollower>[0]>;
}

export interface PeerSync {
  /** The peer set last applied to the engine. */
  readonly peers: readonly PeerConfig[];
  readonly follower: PeerStreamFollower;
  stop(): Promise<void>;
}

export function startPeerSync(options: PeerSyncOptions): PeerSync {
  const { sink, selfPublicKey, readiness, metrics, logger } = options;
  let current: PeerConfig[] = [...(options.initialPeers ?? [])];
  let online = new Set<string>(current.map((p) => p.publicKey));
  const follower = new PeerStreamFollower({
    ...options.follower,
    open: options.open,
    onDevices: (devices) => {
      online = new Set([...devices.values()].filter((d) => d.online !== false).map((d) => d.public_key));
      if (options.onSelf) {
        for (const d of devices.values()) if (d.public_key === selfPublicKey) options.onSelf(d);
      }
      const desired = desiredPeers(devices.values(), selfPublicKey, options.persistentKeepalive);
      const changes = diffPeers(current, desired);
      if (changes.length === 0) return;
      applyPeerChanges(sink, changes);
      current = desired;
      metrics.peers.set(current.length);
      options.onPeers?.(current);
      for (const c of changes) {
        const key = c.op === 'remove' ? c.publicKey : c.peer.publicKey;
        logger.info(
          { op: c.op, publicKey: key, ...(c.op === 'update' ? { changed: c.changed } : {}) },
          `peer ${c.op}`,
        );
      }
    },
    onTail: () => {
      readiness.set('peer-stream-at-tail');
      options.onTail?.(current, online);
    },
    onReconnect: (attempt, delayMs, cause) => {
      metrics.streamReconnects.inc();
      logger.warn(
        { attempt, delayMs, err: String(cause) },
        'VPC watch stream lost; keeping the last known peers and reconnecting',
      );
    },
  });
  follower.start();
  return {
    get peers() {
      return current;
    },
    follower,
    stop: () => follower.stop(),
  };
}
