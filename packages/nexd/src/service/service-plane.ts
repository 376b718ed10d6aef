// SPDX-License-Identifier: Apache-2.0
// Service mode: log in, open the WireGuard socket (its port goes into the registration), register the
// device, start the netstack on the assigned addresses and follow the VPC's watch stream into the
// engine's peer set. Steps:
//   1. login (reg key, password grant, stored tokens or device authorization)
//   2. bind UDP  3. register (409 -> PATCH the existing device)  4. store the device id  5. netstack
//   6. peer sync (`POST /api/vpcs/{id}/events?public_key=`), readiness once at tail.
// When the service later becomes unreachable nothing here stops: the data plane keeps its last peers and
// the follower reconnects with backoff from the last revision.

import { readFileSync } from 'node:fs';
import { type WatchEvent as ApiWatchEvent, NexodusClient } from '@nexodus/api';
import type { DataPlane, DataPlaneContext, DataPlaneFactory } from '../data-plane.js';
import { formatEndpoint, localEndpoints, type RegisteredEndpoint } from '../endpoints.js';
import type { OpenWatch, WatchEvent } from '../peers/follower.js';
import { type PeerSync, startPeerSync } from '../peers/sync.js';
import { discoverRelays, getJson, RelayPath } from '../reach/relay.js';
import { StunDiscovery, stunServersFor } from '../reach/stun.js';
import { updateState } from '../state/store.js';
import { isAddressInUse, listenPortCandidates } from '../tunnel/listen-port.js';
import { chooseTunnelMtu, underlayInterface } from '../tunnel/mtu.js';
import { type OpenTunnel, Tunnel, type TunnelHandle } from '../tunnel/tunnel.js';
import { serviceError } from './failures.js';
import { login, type Session, tlsOptions } from './login.js';
import { type Registration, registerDevice } from './registration.js';

/** How often reflexive endpoints are asked for again (a NAT may hand out a new mapping). */
export const STUN_REFRESH_MS = 5 * 60_000;
/** How often STUN is tried again while no server has answered. */
export const STUN_RETRY_MS = 10_000;

/** Keepalives keep NAT mappings (and a proxy pod's conntrack entry) alive between idle peers. */
export const PEER_PERSISTENT_KEEPALIVE_S = 20;

export interface ServicePlaneOptions {
  /** Overrides for tests: follower backoff. */
  follower?: { initialBackoffMs?: number; maxBackoffMs?: number };
  prompt?: (text: string) => void;
  /** What carries the packets: the netstack (default, `nexd proxy`) or agent mode's TUN device. */
  openTunnel?: OpenTunnel;
}

function endpointsFor(ctx: DataPlaneContext, port: number): RegisteredEndpoint[] {
  // A relay-only device advertises no direct endpoint: peers reach it through the relay, never directly.
  if (ctx.config.relayOnly) return [];
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
    let tunnel: TunnelHandle | undefined;
    const { mtu, reason: mtuReason } = chooseTunnelMtu(config.mtu, underlayInterface());
    logger.info({ mtu, why: mtuReason }, `tunnel MTU ${mtu}`);
    const ports = listenPortCandidates(config.listenPort, (await store.load()).listenPort);
    const open = options.openTunnel ?? Tunnel.open;
    const openTunnel = (listenPort: number) =>
      open({
        privateKey: keys.privateKey,
        listenPort,
        mtu,
        logger,
        onHandshake: () => metrics.handshakes.inc(),
        simultaneousPeers: true,
        ...(config.relayOnly ? { relayOnly: true } : {}),
        addresses: async (port) => {
          const endpoints = endpointsFor(ctx, port);
          registration = await registerDevice(session.client, {
            publicKey: keys.publicKey,
            endpoints,
            ...(config.requestIp ? { requestIp: config.requestIp } : {}),
            ...(config.vpcId ? { vpcId: config.vpcId } : {}),
            ...(config.securityGroupId ? { securityGroupId: config.securityGroupId } : {}),
          }).catch((err: unknown) => {
            throw serviceError('device registration', url, err);
          });
          logger.info(
            { deviceId: registration.device.id, vpcId: registration.device.vpc_id, endpoints },
            registration.outcome === 'created' ? 'device registered' : 'device already registered; updated',
          );
          const deviceId = registration.device.id;
          const deviceToken = session.method === 'reg-key' ? registration.device.bearer_token : undefined;
          await updateState(store, (s) => {
            s.deviceId = deviceId;
            s.listenPort = port;
            if (deviceToken) s.deviceToken = deviceToken;
          });
          return registration.addresses;
        },
      });
    try {
      for (const [i, port] of ports.entries()) {
        try {
          tunnel = await openTunnel(port);
          break;
        } catch (err) {
          if (i === ports.length - 1 || !isAddressInUse(err)) throw err;
          const next = ports[i + 1] === 0 ? 'any free port' : `port ${ports[i + 1]}`;
          logger.warn({ port }, `UDP port ${port} is in use; trying ${next} (--listen-port fixes the port)`);
        }
      }
    } catch (err) {
      await session.close();
      throw err;
    }
    if (tunnel === undefined) throw new Error('unreachable: no listen port candidate');
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
    const openWatch: OpenWatch = (gtRevision, signal) =>
      watchClient.watchEvents(
        vpcId,
        [{ kind: 'device', ...(gtRevision !== undefined ? { gt_revision: gtRevision } : {}) }],
        { publicKey: keys.publicKey, signal },
      ) as AsyncIterable<ApiWatchEvent> as AsyncIterable<WatchEvent>;
    // Reflexive endpoints: registered after the local ones (peers need not wait for STUN), then
    // refreshed; a NAT that maps per destination is reported as symmetric_nat.
    const servers = config.relayOnly ? [] : stunServersFor(config.stunServers, url);
    const stun = servers.length > 0 ? new StunDiscovery(tunnel.node) : undefined;
    let lastReported = '';
    const refreshReflexive = async (): Promise<void> => {
      if (!stun) return;
      const r = await stun.discover(servers, logger);
      const local = endpointsFor(ctx, tunnel.port);
      const endpoints = [...local, ...r.endpoints.filter((e) => !local.some((l) => l.address === e.address))];
      const symmetricNat = r.symmetric === true;
      const key = JSON.stringify([endpoints, symmetricNat]);
      const wasAnswered = answered;
      answered = r.endpoints.length > 0;
      if (r.endpoints.length === 0) {
        if (wasAnswered || lastReported === '')
          logger.warn(
            { stunServers: servers },
            'no STUN server answered: only local endpoints are registered',
          );
        lastReported = lastReported || 'none';
        return;
      }
      if (key === lastReported) return;
      await watchClient.updateDevice(reg.device.id, { endpoints, symmetric_nat: symmetricNat });
      lastReported = key;
      logger.info({ endpoints, symmetricNat }, 'reflexive endpoints registered');
    };
    const refreshFailed = (err: unknown) =>
      logger.warn({ err: String(err) }, 'cannot register reflexive endpoints; retrying later');
    // Every STUN_REFRESH_MS, or every STUN_RETRY_MS while no server answers (i.e. UDP is blocked now
    // and may be unblocked later: peers need this device's reflexive address to punch a direct path).
    let refreshTimer: NodeJS.Timeout | undefined;
    let answered = false;
    const scheduleRefresh = (): void => {
      if (!stun) return;
      refreshTimer = setTimeout(
        () => void refreshReflexive().catch(refreshFailed).finally(scheduleRefresh),
        answered ? STUN_REFRESH_MS : STUN_RETRY_MS,
      ).unref();
    };
    if (stun) void refreshReflexive().catch(refreshFailed).finally(scheduleRefresh);
    // The relay path: the relays the service announces (and --relay), the first one used.
    const tlsForRelay = {
      ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
      ...(config.insecureSkipTlsVerify ? { insecureSkipVerify: true } : {}),
    };
    const relays = await discoverRelays(url, config.relays, (u) => getJson(u, tlsForRelay), logger);
    const relay =
      relays.length > 0
        ? new RelayPath({
            urls: relays,
            privateKey: keys.privateKey,
            tunnel,
            logger,
            ...tlsForRelay,
            ...(config.relayOnly ? { relayOnly: true } : {}),
          })
        : undefined;
    if (!relay && config.relayOnly)
      logger.warn({}, '--relay-only but no relay is announced or configured: peers are unreachable');
    const sync: PeerSync = startPeerSync({
      open: openWatch,
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
      ping: (address, timeoutMs) => tunnel.ping(address, timeoutMs),
      close: async () => {
        if (refreshTimer) clearTimeout(refreshTimer);
        relay?.close();
        stun?.close();
        await sync.stop();
        if (watchClient !== session.client) await watchClient.close();
        await session.close();
        await tunnel.close();
      },
    };
    return plane;
  };
}
