// SPDX-License-Identifier: Apache-2.0
// Standalone mode (`--wg-config FILE`): addresses, listen port, MTU and peers come from a wg-quick style
// file; no service, so the device counts as registered and its (static) peer list as complete at once.
import type { DataPlaneFactory } from '../data-plane.js';
import { formatEndpoint } from '../endpoints.js';
import { NexdError } from '../errors.js';
import { wgAddresses, wgPeers } from '../wg-config.js';
import { type OpenTunnel, resolveEndpoint, Tunnel } from './tunnel.js';

/** Standalone mode over any tunnel (the netstack for `nexd proxy`, a TUN device in agent mode). */
export const standalonePlane =
  (openTunnel: OpenTunnel): DataPlaneFactory =>
  async (ctx) => {
    const cfg = ctx.wgConfig;
    if (!cfg) throw new NexdError('NEX_ERR_WG_CONFIG', 'standalone mode needs --wg-config FILE');
    const { logger, metrics, readiness } = ctx;
    // Endpoint names in the file are resolved once at start, as wg-quick does.
    const peers = await Promise.all(
      wgPeers(cfg).map(async (p) => {
        if (!p.endpoint) return p;
        const e = await resolveEndpoint(p.endpoint).catch((err: unknown) => {
          throw new NexdError(
            'NEX_ERR_WG_CONFIG',
            `${ctx.config.wgConfig}: peer ${p.publicKey} endpoint ${p.endpoint} cannot be resolved: ${String(err)}`,
          );
        });
        return { ...p, endpoint: formatEndpoint(e.address, e.port) };
      }),
    );
    const listenPort = ctx.config.listenPort ?? cfg.interface.listenPort;
    const tunnel = await openTunnel({
      privateKey: cfg.interface.privateKey,
      ...(listenPort !== undefined ? { listenPort } : {}),
      addresses: cfg.interface.addresses.map((a) => `${a.address}/${a.prefix}`),
      // The flag beats the file, as for the port; neither: the file's own default (1420), as wg-quick.
      ...((ctx.config.mtu ?? cfg.interface.mtu) ? { mtu: ctx.config.mtu ?? cfg.interface.mtu } : {}),
      logger,
      onHandshake: () => metrics.handshakes.inc(),
    });
    for (const p of peers) tunnel.setPeer(p);
    metrics.peers.set(peers.length);
    logger.info({ port: tunnel.port, peers: peers.length }, 'standalone WireGuard tunnel up');
    readiness.set('registered');
    readiness.set('peer-stream-at-tail');
    return {
      tunnel: tunnel.side,
      addresses: wgAddresses(cfg),
      peers: () => tunnel.peers(),
      ping: (address, timeoutMs) => tunnel.ping(address, timeoutMs),
      drops: () => tunnel.drops?.(),
      close: () => tunnel.close(),
    };
  };

export const standaloneDataPlane: DataPlaneFactory = standalonePlane(Tunnel.open);
