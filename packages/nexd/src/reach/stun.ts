// SPDX-License-Identifier: Apache-2.0
// Reflexive endpoints: ask each STUN server, through the WireGuard socket itself (so the NAT mapping
// learnt is the one WireGuard's datagrams get), for the address it sees. Two servers that see different
// ports mean a symmetric NAT (mapping per destination), reported as `symmetric_nat`: hole punching to
// that device will not work and peers reach it through the relay.
import { randomFillSync } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { classifyNat, looksLikeStun, STUN_DEFAULT_PORT, StunClient } from '@nexodus/nat';
import type { WireGuardNode } from '@nexodus/wireguard';
import type { Logger } from 'pino';
import type { HostPort } from '../config.js';
import { formatEndpoint, type RegisteredEndpoint } from '../endpoints.js';

export interface ReflexiveResult {
  endpoints: RegisteredEndpoint[];
  /** undefined when fewer than two servers answered (nothing to compare). */
  symmetric: boolean | undefined;
}

/** The STUN servers to ask: the configured ones, else the service's host on 3478. */
export function stunServersFor(configured: HostPort[] | undefined, serviceUrl: string): HostPort[] {
  if (configured) return configured;
  return [{ host: new URL(serviceUrl).hostname.replace(/^\[|\]$/g, ''), port: STUN_DEFAULT_PORT }];
}

export class StunDiscovery {
  readonly #client: StunClient;
  readonly #node: WireGuardNode;

  constructor(node: WireGuardNode) {
    this.#node = node;
    this.#client = new StunClient({
      send: (data, to) => node.sendOther(data, to),
      random: (b) => randomFillSync(b),
    });
    // Only STUN-shaped datagrams are looked at; anything else that is not WireGuard is dropped.
    node.onOtherDatagram = (data, from) => {
      if (looksLikeStun(data)) this.#client.handle(data, from);
    };
  }

  /** Asks every server at once; servers that cannot be resolved or never answer are left out. */
  async discover(servers: HostPort[], logger: Logger): Promise<ReflexiveResult> {
    const answers = await Promise.all(
      servers.map(async (s) => {
        let address = s.host;
        if (isIP(address) === 0) {
          try {
            address = (await lookup(s.host, { family: 4 })).address;
          } catch (err) {
            logger.warn({ stunServer: s, err: String(err) }, 'cannot resolve STUN server');
            return undefined;
          }
        }
        return this.#client.query({ address, port: s.port });
      }),
    );
    const nat = classifyNat(answers);
    return {
      endpoints: nat.reflexive.map((r) => ({
        source: 'stun' as const,
        address: formatEndpoint(r.address, r.port),
      })),
      symmetric: nat.symmetric,
    };
  }

  close(): void {
    this.#client.close();
    this.#node.onOtherDatagram = undefined;
  }
}
