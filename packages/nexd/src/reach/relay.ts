// SPDX-License-Identifier: Apache-2.0
// The relay path: one DERP client per relay (at most MAX_RELAYS, each logged in with this device's
// WireGuard key) behind a virtual route of the WireGuard node. A peer gets one placeholder endpoint per
// connected relay (relay-ports.ts); datagrams the engine sends there go to that relay addressed to the
// peer's key, and datagrams a relay hands us come into the engine from the placeholder of that relay
// and peer. The relay endpoints are the last candidates of every peer: initiations go over all of them,
// and roaming makes one the path in use only when no direct path answers first, so the relay a peer is
// reachable on wins by itself (Tailscale instead picks a "home" relay by latency, tells the control
// plane, and peers send to each other's home; we need no such report and no latency probe).
//
// Failover: a relay whose connection is lost stops being a candidate at once, and every peer whose
// endpoint was on it is moved to the same peer's placeholder on another connected relay, with a
// keepalive over the current session: the peer sees an authenticated packet arrive from that relay and
// roams too. A relay that answers "peer not here" (PeerGone) is avoided for that peer the same way.
// While a peer is relayed, a probe every RELAY_PROBE_MS sends a fresh initiation over every direct path
// and the relay in use, so a direct one that opens later takes over (the session stays, so open TCP
// connections do not notice) while a relayed peer does not hop between relays that both work.
import http from 'node:http';
import https from 'node:https';
import { DerpClient, type DerpClientState } from '@nexodus/nat';
import type { Logger } from 'pino';
import type { TunnelHandle } from '../tunnel/tunnel.js';
import { MAX_RELAYS, RELAY_PLACEHOLDER, RelayPorts } from './relay-ports.js';

export { MAX_RELAYS, RELAY_PLACEHOLDER } from './relay-ports.js';
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
  readonly urls: readonly string[];
  readonly #relays: DerpClient[];
  /** Per relay: logged in now (only those are candidates). */
  readonly #up: boolean[];
  /** Per relay: warned about since it last was up (a relay that stays down is not logged every retry). */
  readonly #warned: boolean[];
  readonly #ports: RelayPorts;
  /** Placeholder ports (relay + peer) whose relay said the peer is not connected there. */
  readonly #absent = new Set<number>();
  readonly #tunnel: TunnelHandle;
  readonly #logger: Logger;
  readonly #tick: NodeJS.Timeout;
  readonly #to = { address: RELAY_PLACEHOLDER, port: 0 };
  #rehomeQueued = false;
  /**
   * During a periodic probe (sent synchronously), the only relay port its initiation may go to: the
   * peer's relay in use. The probe looks for direct paths; letting it go over every relay as well would
   * move a healthy relayed peer to whichever relay answered first, every RELAY_PROBE_MS. 0 = no limit.
   */
  #probeOnly = 0;
  #closed = false;

  constructor(opts: RelayPathOptions) {
    const { tunnel, logger } = opts;
    this.#tunnel = tunnel;
    this.#logger = logger;
    if (opts.urls.length === 0) throw new RangeError('RelayPath needs at least one relay URL');
    if (opts.urls.length > MAX_RELAYS)
      logger.warn(
        { used: opts.urls.slice(0, MAX_RELAYS), ignored: opts.urls.slice(MAX_RELAYS) },
        `more than ${MAX_RELAYS} relays: only the first ${MAX_RELAYS} are used`,
      );
    this.urls = opts.urls.slice(0, MAX_RELAYS);
    const ports = new RelayPorts(this.urls.length);
    this.#ports = ports;
    this.#up = this.urls.map(() => false);
    this.#warned = this.urls.map(() => false);
    this.#relays = [];
    for (const [i, url] of this.urls.entries()) {
      this.#relays.push(
        new DerpClient({
          url,
          privateKey: Buffer.from(opts.privateKey, 'base64'),
          ...(opts.ca ? { ca: opts.ca } : {}),
          ...(opts.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
          onPacket: (src, data) => {
            const port = ports.portOf(i, src);
            if (port === 0) return;
            if (this.#absent.size > 0) this.#absent.delete(port);
            this.#to.port = port;
            tunnel.node.injectDatagram(data, this.#to);
          },
          onState: (state, detail) => this.#stateChanged(i, state, detail),
          onPeerGone: (peer) => {
            const port = ports.portOf(i, peer);
            if (port === 0 || this.#absent.has(port)) return;
            this.#absent.add(port);
            this.#queueRehome();
          },
        }),
      );
    }
    tunnel.node.setVirtualRoute(RELAY_PLACEHOLDER, (data, to) => {
      if (this.#probeOnly !== 0 && to.port !== this.#probeOnly) return;
      const relay = ports.relayAt(to.port);
      if (relay >= 0) this.#relays[relay]!.send(ports.keyAt(to.port)!, data);
    });
    tunnel.peerSet.relayEndpoints = (publicKey) => {
      const key = Buffer.from(publicKey, 'base64');
      const out: { address: string; port: number }[] = [];
      for (let i = 0; i < this.#up.length; i++) {
        const port = this.#up[i] ? ports.portOf(i, key) : 0;
        if (port !== 0) out.push({ address: RELAY_PLACEHOLDER, port });
      }
      return out;
    };
    tunnel.peerSet.relayName = (e) => {
      if (e.address !== RELAY_PLACEHOLDER) return undefined;
      const relay = ports.relayAt(e.port);
      return relay >= 0 ? this.#relays[relay]!.url : undefined;
    };
    this.#tick = setInterval(() => {
      // A move that found no connected relay is tried again here.
      this.#rehome();
      if (opts.relayOnly) return;
      for (const p of tunnel.node.status()) {
        if (p.endpoint?.address !== RELAY_PLACEHOLDER) continue;
        this.#probeOnly = p.endpoint.port;
        try {
          tunnel.node.probe(p.publicKey);
        } catch {
          // removed meanwhile
        } finally {
          this.#probeOnly = 0;
        }
      }
    }, RELAY_PROBE_MS).unref();
  }

  #stateChanged(i: number, state: DerpClientState, detail?: string): void {
    if (this.#closed || state === 'connecting') return;
    const url = this.urls[i];
    const wasUp = this.#up[i];
    this.#up[i] = state === 'ready';
    if (state === 'ready') {
      this.#warned[i] = false;
      this.#logger.info({ relay: url }, 'relay connected');
    } else if (state === 'backoff') {
      if (wasUp) this.#logger.warn({ relay: url, reason: detail }, 'relay connection lost; reconnecting');
      else if (!this.#warned[i])
        this.#logger.warn({ relay: url, reason: detail }, 'cannot reach relay; retrying');
      else this.#logger.debug({ relay: url, reason: detail }, 'relay still unreachable');
      this.#warned[i] = true;
    }
    if (wasUp === this.#up[i]) return;
    // The candidate lists change; peers on a relay that went away move to another one.
    this.#tunnel.peerSet.reapplyPeers();
    this.#rehome();
    if (state === 'ready') this.#connectSessionless();
  }

  /**
   * A relay that just came up is a new path to peers we have no session with (i.e. our UDP is
   * blocked): start their handshakes now rather than at the next retransmission, up to 5 s later.
   */
  #connectSessionless(): void {
    const node = this.#tunnel.node;
    for (const p of node.status()) {
      if (p.latestHandshake !== undefined) continue;
      try {
        node.connect(p.publicKey);
      } catch {
        // removed meanwhile
      }
    }
  }

  #queueRehome(): void {
    if (this.#rehomeQueued) return;
    this.#rehomeQueued = true;
    setImmediate(() => {
      this.#rehomeQueued = false;
      this.#rehome();
    });
  }

  /**
   * Moves every relayed peer off a relay that is down or said the peer is not there, and gives peers
   * without any endpoint a relayed one, onto the first connected relay where the peer is not known to
   * be absent (or, failing that, any connected one). A keepalive over the session tells the peer.
   */
  #rehome(): void {
    if (this.#closed) return;
    const node = this.#tunnel.node;
    const ports = this.#ports;
    for (const p of node.status()) {
      const e = p.endpoint;
      if (e !== undefined && e.address !== RELAY_PLACEHOLDER) continue; // direct
      let from = -1;
      let base: number;
      if (e !== undefined) {
        from = ports.relayAt(e.port);
        if (from < 0 || (this.#up[from] && !this.#absent.has(e.port))) continue;
        base = e.port;
      } else {
        base = ports.portOf(0, Buffer.from(p.publicKey, 'base64'));
        if (base === 0) continue;
      }
      // Off a relay that is up (but said "not here") only onto one not known to lack the peer too: a
      // peer that is offline everywhere must not be moved round the relays every RELAY_PROBE_MS.
      const to = this.#pick(base, from, from < 0 || !this.#up[from]);
      if (to < 0) continue;
      try {
        node.updatePeer({
          publicKey: p.publicKey,
          endpoint: { address: RELAY_PLACEHOLDER, port: ports.move(base, to) },
        });
        node.connect(p.publicKey);
      } catch {
        continue; // removed meanwhile
      }
      this.#logger.info(
        { publicKey: p.publicKey, relay: this.urls[to], ...(from >= 0 ? { from: this.urls[from] } : {}) },
        from >= 0 ? 'peer moved to another relay' : 'peer given a relayed endpoint',
      );
    }
  }

  /**
   * The connected relay to move a peer's endpoint (`base`, on relay `from` or none) to, preferring one
   * not known to lack the peer (the only kind allowed unless `anyUp`); -1 for none.
   */
  #pick(base: number, from: number, anyUp: boolean): number {
    let fallback = -1;
    for (let i = 0; i < this.#up.length; i++) {
      if (i === from || !this.#up[i]) continue;
      if (!this.#absent.has(this.#ports.move(base, i))) return i;
      if (fallback < 0) fallback = i;
    }
    return anyUp ? fallback : -1;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#tick);
    for (const r of this.#relays) r.close();
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
