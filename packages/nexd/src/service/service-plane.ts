// SPDX-License-Identifier: Apache-2.0
// Service mode: log in, open the WireGuard socket (its port goes into the registration), register the
// device, start the netstack on the assigned addresses and follow the VPC's watch stream into the
// engine's peer set. Steps:
//   1. login (reg key, password grant, stored tokens or device authorization)
//   2. bind UDP  3. register (409 -> PATCH the existing device)  4. store the device id  5. netstack
//   6. peer sync (`POST /api/vpcs/{id}/events?public_key=`), readiness once at tail.
// When the service later becomes unreachable nothing here stops: the data plane keeps its last peers and
// the follower reconnects with backoff from the last revision. When it is unreachable at start, steps 1-3
// are retried with backoff (retry.ts) while nexd stays not ready; a device that registered before (the
// state holds its addresses and peers) serves its data plane from the state at once and registers in the
// background.
import { type WatchEvent as ApiWatchEvent, NexodusClient } from '@nexodus/api';
import type { DataPlane, DataPlaneContext, DataPlaneFactory } from '../data-plane.js';
import { formatEndpoint, localEndpoints, type RegisteredEndpoint } from '../endpoints.js';
import type { OpenWatch, WatchEvent } from '../peers/follower.js';
import type { PeerConfig } from '../peers/reconcile.js';
import { type PeerSync, startPeerSync } from '../peers/sync.js';
import { followSecurityGroups } from '../security/follow.js';
import { SecurityGate } from '../security/gate.js';
import type { StoredNetwork } from '../state/state.js';
import { updateState } from '../state/store.js';
import { isAddressInUse, listenPortCandidates } from '../tunnel/listen-port.js';
import { chooseTunnelMtu, underlayInterface } from '../tunnel/mtu.js';
import { type OpenTunnel, Tunnel, type TunnelHandle, type TunnelOptions } from '../tunnel/tunnel.js';
import { serviceError } from './failures.js';
import { login, type Session, tlsOptions } from './login.js';
import { startReachability } from './reachability.js';
import { type Registration, registerDevice } from './registration.js';
import { isTransient, type RetryOptions, retryTransient } from './retry.js';

/** Keepalives keep NAT mappings (and a proxy pod's conntrack entry) alive between idle peers. */
export const PEER_PERSISTENT_KEEPALIVE_S = 20;

export interface ServicePlaneOptions {
  /** Overrides for tests: follower backoff. */
  follower?: { initialBackoffMs?: number; maxBackoffMs?: number };
  /** Overrides for tests: the start-up retry backoff. */
  retry?: Pick<RetryOptions, 'initialMs' | 'maxMs' | 'random'>;
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

const sameList = (a: readonly string[], b: readonly string[]) => a.join(',') === b.join(',');

export function serviceDataPlane(options: ServicePlaneOptions = {}): DataPlaneFactory {
  return async (ctx) => {
    const { config, logger, store, readiness, metrics, keys } = ctx;
    const url = config.serviceUrl!;
    const abort = new AbortController();
    const retry: RetryOptions = { logger, signal: abort.signal, ...options.retry };
    readiness.require('peer-sessions');
    readiness.require('security-groups');
    // Security groups are enforced on the tunnel side of the proxy; nothing is filtered until the
    // device's group is known (not ready until then).
    const gate = new SecurityGate({
      onRefused: (direction, protocol) => metrics.securityRefused.inc({ direction, protocol }),
    });
    const state = await store.load();
    const saved = state.network;
    let deviceId = state.deviceId;

    const openSession = async (): Promise<Session> => {
      const session = await login({
        config,
        store,
        logger,
        ...(options.prompt ? { prompt: options.prompt } : {}),
      });
      logger.info({ serviceUrl: url, apiUrl: session.apiUrl, method: session.method }, 'logged in');
      return session;
    };
    const register = async (session: Session, port: number): Promise<Registration> => {
      const endpoints = endpointsFor(ctx, port);
      const reg = await registerDevice(session.client, {
        publicKey: keys.publicKey,
        endpoints,
        ...(config.requestIp ? { requestIp: config.requestIp } : {}),
        ...(config.vpcId ? { vpcId: config.vpcId } : {}),
        ...(config.securityGroupId ? { securityGroupId: config.securityGroupId } : {}),
      }).catch((err: unknown) => {
        throw serviceError('device registration', url, err);
      });
      logger.info(
        { deviceId: reg.device.id, vpcId: reg.device.vpc_id, endpoints },
        reg.outcome === 'created' ? 'device registered' : 'device already registered; updated',
      );
      deviceId = reg.device.id;
      const vpcId = reg.device.vpc_id;
      // A registration key may be single-use: a restarted nexd logs in with the device's own token.
      const deviceToken = session.method === 'reg-key' ? reg.device.bearer_token : undefined;
      await updateState(store, (s) => {
        s.deviceId = reg.device.id;
        s.listenPort = port;
        if (deviceToken) s.deviceToken = deviceToken;
        s.network = {
          vpcId,
          addresses: reg.addresses,
          ipv4: reg.ipv4,
          ipv6: reg.ipv6,
          peers: s.network?.vpcId === vpcId ? s.network.peers : [],
        };
      });
      return reg;
    };
    const savePeers = peerSaver(ctx);

    /** Steps 4-6 once registered: readiness, the watch stream into the engine. */
    const goOnline = async (
      session: Session,
      reg: Registration,
      tunnel: TunnelHandle,
      initialPeers: PeerConfig[],
    ) => {
      readiness.set('registered');
      // Ready only with a session to every peer of the first listing. A restarted device lost its sessions
      // while its peers still hold theirs and keep encrypting for them; whichever side's key is lower (the
      // lower one holds its handshake back, see Tunnel.setPeer), a datagram sent to us before the new
      // handshake would be lost. Once every peer has completed one with us, nothing sent later is.
      // Only online peers are waited for: one that is gone (a replaced proxy's old device, a laptop asleep)
      // cannot answer, and would hold readiness for the whole timeout.
      let sessionsChecked = false;
      const awaitSessions = (peers: readonly PeerConfig[], online: ReadonlySet<string>) => {
        if (sessionsChecked) return;
        sessionsChecked = true;
        const keys = peers
          .filter((p) => p.endpoint !== undefined && online.has(p.publicKey))
          .map((p) => p.publicKey);
        void tunnel.waitForSessions(keys).then((missing) => {
          if (missing.length > 0)
            logger.warn(
              { peers: missing },
              'no WireGuard session with these peers yet; reporting ready anyway',
            );
          readiness.set('peer-sessions');
        });
      };
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
      const security = followSecurityGroups({
        open: (gtRevision, signal) =>
          watchClient.watchEvents(
            vpcId,
            [{ kind: 'security-group', ...(gtRevision !== undefined ? { gt_revision: gtRevision } : {}) }],
            { publicKey: keys.publicKey, signal },
          ) as AsyncIterable<ApiWatchEvent> as AsyncIterable<WatchEvent>,
        gate,
        logger,
        readiness,
        groupId: reg.device.security_group_id,
        ...(options.follower ? { follower: options.follower } : {}),
      });
      const sync: PeerSync = startPeerSync({
        open,
        sink: tunnel,
        selfPublicKey: keys.publicKey,
        readiness,
        metrics,
        logger,
        persistentKeepalive: PEER_PERSISTENT_KEEPALIVE_S,
        initialPeers,
        onPeers: savePeers.save,
        onTail: awaitSessions,
        onSelf: (d) => security.setGroupId(d.security_group_id),
        ...(options.follower ? { follower: options.follower } : {}),
      });
      const reach = await startReachability({
        ctx,
        tunnel,
        client: watchClient,
        deviceId: reg.device.id,
        localEndpoints: (port) => endpointsFor(ctx, port),
      });
      return {
        close: async () => {
          reach.close();
          await sync.stop();
          // A peer list applied just before a stop must survive it: the restart serves from it.
          await savePeers.flush();
          await security.stop();
          if (watchClient !== session.client) await watchClient.close();
          await session.close();
        },
      };
    };

    const { mtu, reason: mtuReason } = chooseTunnelMtu(config.mtu, underlayInterface());
    logger.info({ mtu, why: mtuReason }, `tunnel MTU ${mtu}`);
    const open = options.openTunnel ?? Tunnel.open;
    /** Opens the tunnel on the first free port of --listen-port, the stored port, 51820, any (listen-port.ts). */
    const openOnFreePort = async (addresses: TunnelOptions['addresses']): Promise<TunnelHandle> => {
      const ports = listenPortCandidates(config.listenPort, state.listenPort);
      for (const [i, listenPort] of ports.entries()) {
        try {
          return await open({
            privateKey: keys.privateKey,
            listenPort,
            mtu,
            logger,
            onHandshake: () => metrics.handshakes.inc(),
            simultaneousPeers: true,
            ...(config.relayOnly ? { relayOnly: true } : {}),
            gate,
            addresses,
          });
        } catch (err) {
          if (i === ports.length - 1 || !isAddressInUse(err)) throw err;
          const next = ports[i + 1] === 0 ? 'any free port' : `port ${ports[i + 1]}`;
          logger.warn(
            { port: listenPort },
            `UDP port ${listenPort} is in use; trying ${next} (--listen-port fixes the port)`,
          );
        }
      }
      throw new Error('unreachable: no listen port candidate');
    };

    if (!saved) {
      // Nothing to serve before the service answers: wait for it (the health server already says not ready).
      const { session, tunnel, reg } = await retryTransient(
        'start-up',
        async () => {
          const session = await openSession();
          let reg: Registration | undefined;
          try {
            const tunnel = await openOnFreePort(async (port) => {
              reg = await register(session, port);
              return reg.addresses;
            });
            return { session, tunnel, reg: reg! };
          } catch (err) {
            await session.close();
            throw err;
          }
        },
        retry,
      );
      const online = await goOnline(session, reg, tunnel, []);
      return {
        tunnel: tunnel.side,
        addresses: { ipv4: reg.ipv4, ipv6: reg.ipv6 },
        deviceId: reg.device.id,
        peers: () => tunnel.peers(),
        ping: (address, timeoutMs) => tunnel.ping(address, timeoutMs),
        drops: () => tunnel.drops?.(),
        close: async () => {
          abort.abort();
          await online.close();
          await tunnel.close();
        },
      };
    }

    // Registered before: serve the saved addresses and peers now, reach the service in the background.
    const tunnel = await openOnFreePort(saved.addresses);
    for (const p of saved.peers) tunnel.setPeer(p);
    metrics.peers.set(saved.peers.length);
    logger.info(
      { peers: saved.peers.length, vpcId: saved.vpcId },
      'serving the data plane with the addresses and peers saved at the last run; connecting to the service',
    );
    const connect = async () => {
      const session = await openSession();
      try {
        return { session, reg: await register(session, tunnel.port) };
      } catch (err) {
        await session.close();
        throw err;
      }
    };
    // The first attempt decides as before: a failure retrying cannot fix (wrong password, untrusted
    // certificate) stops nexd; only an unreachable service lets it run on the saved peers.
    let first: Awaited<ReturnType<typeof connect>> | undefined;
    let firstError: unknown;
    try {
      first = await connect();
    } catch (err) {
      if (!isTransient(err)) {
        await tunnel.close();
        throw err;
      }
      firstError = err;
    }
    const online = (
      first ? Promise.resolve(first) : retryTransient('start-up', connect, { ...retry, firstError })
    ).then(
      async ({ session, reg }) => {
        if (abort.signal.aborted) {
          await session.close();
          return undefined;
        }
        if (reg.device.vpc_id !== saved.vpcId || !sameList(reg.addresses, saved.addresses)) {
          logger.error(
            { saved: saved.addresses, assigned: reg.addresses },
            'the service assigned other addresses than the saved ones; restart nexd to use them',
          );
        }
        return goOnline(session, reg, tunnel, saved.peers);
      },
      (err: unknown) => {
        if (!abort.signal.aborted) {
          logger.error(
            { code: (err as { code?: string }).code, err: (err as Error).message },
            'cannot reach or use the service; serving the saved peers, not ready',
          );
        }
        return undefined;
      },
    );
    const plane: DataPlane = {
      tunnel: tunnel.side,
      addresses: { ipv4: saved.ipv4, ipv6: saved.ipv6 },
      get deviceId() {
        return deviceId;
      },
      peers: () => tunnel.peers(),
      ping: (address, timeoutMs) => tunnel.ping(address, timeoutMs),
      drops: () => tunnel.drops?.(),
      close: async () => {
        abort.abort();
        await (await online)?.close();
        await tunnel.close();
      },
    };
    return plane;
  };
}

/**
 * Stores the applied peer set, coalescing bursts: one write in flight, then the latest set. `flush()`
 * resolves once the latest set given is stored (or its write failed and was logged).
 */
function peerSaver(ctx: DataPlaneContext): {
  save: (peers: readonly PeerConfig[]) => void;
  flush: () => Promise<void>;
} {
  let pending: StoredNetwork['peers'] | undefined;
  let draining: Promise<void> | undefined;
  const drain = async () => {
    while (pending) {
      const peers = pending;
      pending = undefined;
      await updateState(ctx.store, (s) => {
        if (s.network) s.network.peers = peers;
      }).catch((err: unknown) =>
        ctx.logger.warn(
          { err: String(err) },
          'cannot store the peer list (a restart would start without it)',
        ),
      );
    }
    draining = undefined;
  };
  return {
    save: (peers) => {
      pending = peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] }));
      draining ??= drain();
    },
    flush: async () => {
      await draining;
    },
  };
}
