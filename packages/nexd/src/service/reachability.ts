// SPDX-License-Identifier: Apache-2.0
// Reachability across NAT once registered: reflexive endpoints from STUN (asked through the WireGuard
// socket itself, so the mapping is the one peers will use) registered beside the local ones and
// refreshed, symmetric NAT reported, and the relay path through every relay the service announces
// (and --relay; see reach/relay.ts for how a peer's relay is chosen). Nothing here blocks the data plane: STUN answers and the relay arrive when they do.
import { readFileSync } from 'node:fs';
import type { NexodusClient } from '@nexodus/api';
import type { DataPlaneContext } from '../data-plane.js';
import type { RegisteredEndpoint } from '../endpoints.js';
import { discoverRelays, getJson, RelayPath } from '../reach/relay.js';
import { StunDiscovery, stunServersFor } from '../reach/stun.js';
import type { TunnelHandle } from '../tunnel/tunnel.js';

/** How often reflexive endpoints are asked for again (a NAT may hand out a new mapping). */
export const STUN_REFRESH_MS = 5 * 60_000;
/** How often STUN is tried again while no server has answered. */
export const STUN_RETRY_MS = 10_000;

export interface ReachabilityOptions {
  ctx: DataPlaneContext;
  tunnel: TunnelHandle;
  /** The client that may update this device (its own token after a reg-key registration). */
  client: NexodusClient;
  deviceId: string;
  /** The device's local endpoints for a port (none for --relay-only). */
  localEndpoints: (port: number) => RegisteredEndpoint[];
}

export async function startReachability(opts: ReachabilityOptions): Promise<{ close(): void }> {
  const { ctx, tunnel, client, deviceId } = opts;
  const { config, logger } = ctx;
  const url = config.serviceUrl!;
  // Reflexive endpoints: registered after the local ones (peers need not wait for STUN), then
  // refreshed; a NAT that maps per destination is reported as symmetric_nat.
  const servers = config.relayOnly ? [] : stunServersFor(config.stunServers, url);
  const stun = servers.length > 0 ? new StunDiscovery(tunnel.node) : undefined;
  let lastReported = '';
  let answered = false;
  const refreshReflexive = async (): Promise<void> => {
    if (!stun) return;
    const r = await stun.discover(servers, logger);
    const local = opts.localEndpoints(tunnel.port);
    const endpoints = [...local, ...r.endpoints.filter((e) => !local.some((l) => l.address === e.address))];
    const symmetricNat = r.symmetric === true;
    const key = JSON.stringify([endpoints, symmetricNat]);
    const wasAnswered = answered;
    answered = r.endpoints.length > 0;
    if (r.endpoints.length === 0) {
      if (wasAnswered || lastReported === '')
        logger.warn({ stunServers: servers }, 'no STUN server answered: only local endpoints are registered');
      lastReported = lastReported || 'none';
      return;
    }
    if (key === lastReported) return;
    await client.updateDevice(deviceId, { endpoints, symmetric_nat: symmetricNat });
    lastReported = key;
    logger.info({ endpoints, symmetricNat }, 'reflexive endpoints registered');
  };
  const refreshFailed = (err: unknown) =>
    logger.warn({ err: String(err) }, 'cannot register reflexive endpoints; retrying later');
  // Every STUN_REFRESH_MS, or every STUN_RETRY_MS while no server answers (i.e. UDP is blocked now
  // and may be unblocked later: peers need this device's reflexive address to punch a direct path).
  let refreshTimer: NodeJS.Timeout | undefined;
  const scheduleRefresh = (): void => {
    if (!stun) return;
    refreshTimer = setTimeout(
      () => void refreshReflexive().catch(refreshFailed).finally(scheduleRefresh),
      answered ? STUN_REFRESH_MS : STUN_RETRY_MS,
    ).unref();
  };
  if (stun) void refreshReflexive().catch(refreshFailed).finally(scheduleRefresh);
  // The relay path: the relays given with --relay, then those the service announces, each connected.
  const tlsForRelay = {
    ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
    ...(config.insecureSkipTlsVerify ? { insecureSkipVerify: true } : {}),
  };
  const relays = await discoverRelays(url, config.relays, (u) => getJson(u, tlsForRelay), logger);
  const relay =
    relays.length > 0
      ? new RelayPath({
          urls: relays,
          privateKey: ctx.keys.privateKey,
          tunnel,
          logger,
          ...tlsForRelay,
          ...(config.relayOnly ? { relayOnly: true } : {}),
        })
      : undefined;
  if (!relay && config.relayOnly)
    logger.warn({}, '--relay-only but no relay is announced or configured: peers are unreachable');
  return {
    close: () => {
      if (refreshTimer) clearTimeout(refreshTimer);
      relay?.close();
      stun?.close();
    },
  };
}
