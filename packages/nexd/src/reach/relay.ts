// SPDX-License-Identifier: Apache-2.0
// The relay path: a DERP client (logged in with this device's WireGuard key) behind a virtual route of
// the WireGuard node. Each peer gets a placeholder endpoint 127.3.3.40:<n> (Tailscale's magic DERP
// address, never on a wire); datagrams the engine sends there go to the relay addressed to the peer's
// key, and datagrams the relay hands us come into the engine from that placeholder. The relay endpoint
// is the last candidate of every peer: initiations go over it too, and roaming makes it the path in use
// only when no direct path answers first. While a peer is relayed, a probe every RELAY_PROBE_MS sends
// a fresh initiation over every path, so a direct one that opens later takes over (the session stays,
// so open TCP connections in the tunnel do not notice).
import http from 'node:http';
import https from 'node:https';
import { DerpClient, type DerpClientState } from '@nexodus/nat';
import type { Logger } from 'pino';
import type { TunnelHandle } from '../tunnel/tunnel.js';

/** Placeholder address of relayed endpoints (never sent to a socket). */
export const RELAY_PLACEHOLDER = '127.3.3.40';
export const RELAY_PROBE_MS = 10_000;

export interface RelayPathOptions {
  urls: string[];
  /** base64 WireGuard private key. */
  privateKey: string;
  tunnel: TunnelHandle;
  logger: Logger;
  ca?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** No direct path: probing would be pointless. */
  relayOnly?: boolean;
}

export class RelayPath {
  readonly #client: DerpClient;
  /** Placeholder port <-> peer key (raw), allocated on first use; bounded by the port space. */
  readonly #portOf = new Map<string, number>();
  readonly #keyAt: Uint8Array[] = [new Uint8Array(0)];
  readonly #probe: NodeJS.Timeout;
  readonly #to = { address: RELAY_PLACEHOLDER, port: 0 };

  constructor(opts: RelayPathOptions) {
    const { tunnel, logger } = opts;
    const url = opts.urls[0]!;
    this.#client = new DerpClient({
      url,
      privateKey: Buffer.from(opts.privateKey, 'base64'),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
      onPacket: (src, data) => {
        this.#to.port = this.#port(src);
        tunnel.node.injectDatagram(data, this.#to);
      },
      onState: (state: DerpClientState, detail?: string) => {
        if (state === 'ready') logger.info({ relay: url }, 'relay connected');
        else if (state === 'backoff')
          logger.warn({ relay: url, reason: detail }, 'relay connection lost; reconnecting');
      },
    });
    tunnel.node.setVirtualRoute(RELAY_PLACEHOLDER, (data, to) => {
      const key = this.#keyAt[to.port];
      if (key !== undefined && key.length > 0) this.#client.send(key, data);
    });
    tunnel.peerSet.relayEndpoint = (publicKey) => ({
      address: RELAY_PLACEHOLDER,
      port: this.#port(Buffer.from(publicKey, 'base64')),
    });
    tunnel.peerSet.relayName = (e) => (e.address === RELAY_PLACEHOLDER ? this.#client.url : undefined);
    tunnel.peerSet.reapplyPeers();
    this.#probe = setInterval(() => {
      if (opts.relayOnly) return;
      for (const p of tunnel.node.status()) {
        if (p.endpoint?.address !== RELAY_PLACEHOLDER) continue;
        try {
          tunnel.node.probe(p.publicKey);
        } catch {
          // removed meanwhile
        }
      }
    }, RELAY_PROBE_MS).unref();
  }

  get url(): string {
    return this.#client.url;
  }

  get counters() {
    return this.#client.counters;
  }

  #port(key: Uint8Array): number {
    const hex = Buffer.from(key).toString('hex');
    let port = this.#portOf.get(hex);
    if (port === undefined) {
      port = this.#keyAt.length;
      if (port > 65535) return 0; // more peers than placeholders: the rest are not relayed
      this.#keyAt.push(Uint8Array.from(key));
      this.#portOf.set(hex, port);
    }
    return port;
  }

  close(): void {
    clearInterval(this.#probe);
    this.#client.close();
  }
}

/** The relays to use: the configured ones, then those the service announces. */
export async function discoverRelays(
  serviceUrl: string,
  configured: string[] | undefined,
  fetchJson: (url: string) => Promise<unknown>,
  logger: Logger,
): Promise<string[]> {
  const out = [...(configured ?? [])];
  try {
    const body = (await fetchJson(`${serviceUrl}/.well-known/nexodus-relays`)) as { relays?: unknown };
    if (Array.isArray(body?.relays)) for (const r of body.relays) if (typeof r === 'string') out.push(r);
  } catch (err) {
    logger.warn({ err: String(err) }, 'cannot read the relays the service announces');
  }
  return [...new Set(out)];
}

/** GET a small JSON document (the relay announcement) with the service's TLS settings. */
export function getJson(
  url: string,
  tls: { ca?: string | Buffer; insecureSkipVerify?: boolean },
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(
      url,
      {
        ...(tls.ca ? { ca: tls.ca } : {}),
        rejectUnauthorized: tls.insecureSkipVerify !== true,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          if (body.length > 64 * 1024) req.destroy(new Error('relay announcement too large'));
        });
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}
