// SPDX-License-Identifier: Apache-2.0
// Service mode: log in, open the WireGuard socket (its port goes into the registration), register the
// device, start the netstack on the assigned addresses and follow the VPC's watch stream into the
// engine's peer set. Steps:
//   1. login (reg key, password grant, stored tokens or device authorization)
//   2. bind UDP  3. register (409 -> PATCH the existing device)  4. store the device id  5. netstack
//   6. peer sync (`POST /api/vpcs/{id}/events?public_key=`), readiness once at tail.
// When the service later becomes unreachable nothing here stops: the data plane keeps its last peers and
// the follower reconnects with backoff from the last revision.
import { type WatchEvent as ApiWatchEvent, NexodusClient } from '@nexodus/api';
import type { DataPlane, DataPlaneContext, DataPlaneFactory } from '../data-plane.js';
import { formatEndpoint, localEndpoints, type RegisteredEndpoint } from '../endpoints.js';
import type { OpenWatch, WatchEvent } from '../peers/follower.js';
import { type PeerSync, startPeerSync } from '../peers/sync.js';
import { updateState } from '../state/store.js';
import { Tunnel } from '../tunnel/tunnel.js';
import { serviceError } from './failures.js';
import { login, type Session, tlsOptions } from './login.js';
import { type Registration, registerDevice } from './registration.js';

/** Keepalives keep NAT mappings (and a proxy pod's conntrack entry) alive between idle peers. */
export const PEER_PERSISTENT_KEEPALIVE_S = 20;

export interface ServicePlaneOptions {
  /** Overrides for tests: follower backoff. */
  follower?: { initialBackoffMs?: number; maxBackoffMs?: number };
  prompt?: (text: string) => void;
}

function endpointsFor(ctx: DataPlaneContext, port: number): RegisteredEndpoint[] {
  const ip = ctx.config.localEndpointIp;
  if (ip) return [{ source: 'local', address: formatEndpoint(ip, port) }];
  return localEndpoints(port);
}

export function serviceDataPlane(options: ServicePlaneOptions = {}): DataPlaneFactory {
  return async (ctx) => {
    const { config, logger, store, readiness, metrics, keys } = ctx;
    const url = config.serviceUrl!;
    const session: Session = await login({
      config,
      store,
      logger,
      ...(options.prompt ? { prompt: options.prompt } : {}),
    });
    logger.info({ serviceUrl: url, apiUrl: session.apiUrl, method: session.method }, 'logged in');
    let registration: Registration | undefined;
    let tunnel: Tunnel;
    try {
      tunnel = await Tunnel.open({
        privateKey: keys.privateKey,
        ...(config.listenPort !== undefined ? { listenPort: config.listenPort } : {}),
        logger,
        onHandshake: () => metrics.handshakes.inc(),
        simultaneousPeers: true,
        addresses: async (port) => {
          const endpoints = endpointsFor(ctx, port);
          registration = await registerDevice(session.client, {
            publicKey: keys.publicKey,
            endpoints,
            ...(config.requestIp ? { requestIp: config.requestIp } : {}),
          }).catch((err: unknown) => {
            throw serviceError('device registration', url, err);
          });
          logger.info(
            { deviceId: registration.device.id, vpcId: registration.device.vpc_id, endpoints },
            registration.outcome === 'created' ? 'device registered' : 'device already registered; updated',
          );
          const deviceId = registration.device.id;
          await updateState(store, (s) => {
            s.deviceId = deviceId;
          });
          return registration.addresses;
        },
      });
    } catch (err) {
      await session.close();
      throw err;
    }
    const reg = registration!;
    readiness.set('registered');
    // A registration key may be single-use: once registered, the device's own token reads its VPC.
    const watchClient =
      session.method === 'reg-key' && reg.device.bearer_token
        ? new NexodusClient({
            baseUrl: url,
            token: reg.device.bearer_token,
            ...tlsOptions(config),
          })
        : session.client;
    const vpcId = reg.device.vpc_id;
    const open: OpenWatch = (gtRevision, signal) =>
      watchClient.watchEvents(
        vpcId,
        [{ kind: 'device', ...(gtRevision !== undefined ? { gt_revision: gtRevision } : {}) }],
        { publicKey: keys.publicKey, signal },
      ) as AsyncIterable<ApiWatchEvent> as AsyncIterable<WatchEvent>;
    const sync: PeerSync = startPeerSync({
      open,
      sink: tunnel,
      selfPublicKey: keys.publicKey,
      readiness,
      metrics,
      logger,
      persistentKeepalive: PEER_PERSISTENT_KEEPALIVE_S,
      ...(options.follower ? { follower: options.follower } : {}),
    });
    const plane: DataPlane = {
      tunnel: tunnel.side,
      addresses: { ipv4: reg.ipv4, ipv6: reg.ipv6 },
      deviceId: reg.device.id,
      peers: () => tunnel.peers(),
      close: async () => {
        await sync.stop();
        if (watchClient !== session.client) await watchClient.close();
        await session.close();
        await tunnel.close();
      },
    };
    return plane;
  };
}
