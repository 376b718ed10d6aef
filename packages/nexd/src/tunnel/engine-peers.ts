// SPDX-License-Identifier: Apache-2.0
// The peer side of a WireGuardNode, shared by both data planes (netstack in `nexd proxy`, TUN in agent
// mode): the PeerSink the reconciler drives, the simultaneous-start hold-back of persistent keepalives,
// and the peer list for `nexctl nexd peers`. Whatever carries the packets (netstack or TUN) is not here.
import diagnostics from 'node:diagnostics_channel';
import { isIP } from 'node:net';
import type { HandshakeEvent, WireGuardNode } from '@nexodus/wireguard';
import type { Logger } from 'pino';
import type { PeerStatus } from '../control/protocol.js';
import { formatEndpoint, splitEndpoint } from '../endpoints.js';
import type { PeerConfig, PeerSink } from '../peers/reconcile.js';

/** How long the side that holds back its keepalive waits for the other side's handshake (see setPeer). */
export const HANDSHAKE_HOLD_BACK_MS = 1000;
/**
 * How long readiness waits for a session with every peer (see waitForSessions): a peer that is down must
 * not keep a device unready for ever. Two handshake attempts (REKEY_TIMEOUT = 5 s each) plus the hold-back.
 */
export const SESSION_READY_TIMEOUT_MS = 11_000;

export interface EnginePeersOptions {
  logger: Logger;
  /** Called once per completed handshake (metrics). */
  onHandshake?: () => void;
  /** See TunnelOptions.simultaneousPeers. */
  simultaneousPeers?: boolean;
  /** Told after a peer was added, updated or removed (agent mode keeps its routes in step). */
  onPeerChange?: (publicKey: string, allowedIps: readonly string[] | undefined) => void;
  /** Probe no direct path: peers are reached only through the relay route (see relayEndpoints). */
  relayOnly?: boolean;
}

export class EnginePeers implements PeerSink {
  readonly #node: WireGuardNode;
  readonly #logger: Logger;
  readonly #simultaneous: boolean;
  readonly #onPeerChange: EnginePeersOptions['onPeerChange'];
  readonly #relayOnly: boolean;
  /**
   * A peer's placeholder endpoints, one per connected relay (set by the relay path), tried after every
   * direct candidate; none = no relay path to that peer now.
   */
  relayEndpoints: ((publicKey: string) => { address: string; port: number }[]) | undefined = undefined;
  /** How a relayed path is shown: the relay's URL (set by the relay path with relayEndpoints). */
  relayName: ((endpoint: { address: string; port: number }) => string | undefined) | undefined = undefined;
  readonly #known = new Set<string>();
  /** The last configuration given per peer, re-applied when the relay path appears or goes. */
  readonly #configs = new Map<string, PeerConfig & { presharedKey?: string }>();
  readonly #onHandshake: (msg: unknown) => void;
  /** Persistent keepalives held back until the first handshake with the peer (see setPeer). */
  readonly #deferredKeepalive = new Map<string, number>();
  /** Per held-back peer, one timer that starts the handshake if the other side has not (see setPeer). */
  readonly #holdBack = new Map<string, NodeJS.Timeout>();
  /** Peers with a handshake completed since this peer set began. */
  readonly #sessions = new Set<string>();
  readonly #sessionWaiters = new Set<() => void>();
  #closed = false;

  constructor(node: WireGuardNode, opts: EnginePeersOptions) {
    this.#node = node;
    this.#logger = opts.logger;
    this.#simultaneous = opts.simultaneousPeers === true;
    this.#onPeerChange = opts.onPeerChange;
    this.#relayOnly = opts.relayOnly === true;
    const count = opts.onHandshake;
    this.#onHandshake = (msg) => {
      const ev = msg as HandshakeEvent;
      if (ev.event !== 'complete' || !this.#known.has(ev.peer)) return;
      count?.();
      this.#sessions.add(ev.peer);
      for (const w of this.#sessionWaiters) w();
      this.#clearHoldBack(ev.peer);
      const keepalive = this.#deferredKeepalive.get(ev.peer);
      if (keepalive !== undefined) {
        // With a session in place the keepalive is a transport message, not another initiation.
        this.#deferredKeepalive.delete(ev.peer);
        this.#node.updatePeer({ publicKey: ev.peer, persistentKeepalive: keepalive });
      }
    };
    diagnostics.subscribe('wireguard:handshake', this.#onHandshake);
  }

  /** PeerSink: adds or updates a peer. Endpoints must be IP literals here (see resolveEndpoint). */
  setPeer(peer: PeerConfig & { presharedKey?: string }): void {
    if (this.#closed) return;
    this.#configs.set(peer.publicKey, peer);
    const relays = this.relayEndpoints?.(peer.publicKey) ?? [];
    const direct = this.#relayOnly
      ? []
      : (peer.candidates ?? (peer.endpoint ? [peer.endpoint] : []))
          .map(splitLiteral)
          .filter((e): e is { address: string; port: number } => e !== undefined);
    const candidates = [...direct, ...relays];
    const endpoint = this.#relayOnly ? relays[0] : peer.endpoint ? splitLiteral(peer.endpoint) : relays[0];
    // A persistent keepalive on a peer without a session starts a handshake at once. Two devices that
    // learn of each other in the same instant (both follow the same watch stream) would then initiate
    // simultaneously; each answers the other's initiation, which replaces its own handshake state, so
    // neither response is accepted and both wait REKEY_TIMEOUT (5 s) to retry. So only the side with
    // the greater public key keeps its keepalive from the start; the other side arms its keepalive
    // after the first completed handshake, and starts one itself after HANDSHAKE_HOLD_BACK_MS if none
    // came (the other side may hold a stale session with us, i.e. after we restarted, and would only
    // notice after KEEPALIVE_TIMEOUT + REKEY_TIMEOUT = 15 s).
    let keepalive = peer.persistentKeepalive;
    const isNew = !this.#known.has(peer.publicKey);
    if (
      this.#simultaneous &&
      keepalive &&
      (isNew || this.#deferredKeepalive.has(peer.publicKey)) &&
      this.#node.publicKey < peer.publicKey
    ) {
      this.#deferredKeepalive.set(peer.publicKey, keepalive);
      keepalive = undefined;
    }
    // With several paths, roaming decides which one is in use: an update must not move a peer off the
    // path that answered (i.e. back from direct to a dead reflexive address) just because the list changed.
    const setEndpoint = endpoint && !(!isNew && candidates.length > 1);
    const cfg = {
      publicKey: peer.publicKey,
      allowedIps: peer.allowedIps,
      ...(setEndpoint ? { endpoint } : {}),
      candidates,
      ...(peer.presharedKey ? { presharedKey: peer.presharedKey } : {}),
      ...(keepalive ? { persistentKeepalive: keepalive } : {}),
    };
    try {
      if (!isNew) this.#node.updatePeer(cfg);
      else {
        this.#node.addPeer(cfg);
        this.#known.add(peer.publicKey);
        if ((endpoint || candidates.length > 0) && this.#deferredKeepalive.has(peer.publicKey))
          this.#armHoldBack(peer.publicKey);
      }
    } catch (err) {
      // A bad peer from the service must not take the daemon down; the rest of the set still applies.
      this.#logger.warn({ publicKey: peer.publicKey, err: String(err) }, 'peer rejected by the engine');
      return;
    }
    this.#onPeerChange?.(peer.publicKey, peer.allowedIps);
  }

  /** Applies every peer's configuration again, i.e. once the relay is connected (its paths are new). */
  reapplyPeers(): void {
    for (const p of [...this.#configs.values()]) this.setPeer(p);
  }

  removePeer(publicKey: string): void {
    if (this.#closed || !this.#known.has(publicKey)) return;
    this.#known.delete(publicKey);
    this.#configs.delete(publicKey);
    this.#sessions.delete(publicKey);
    for (const w of this.#sessionWaiters) w();
    this.#deferredKeepalive.delete(publicKey);
    this.#clearHoldBack(publicKey);
    try {
      this.#node.removePeer(publicKey);
    } catch (err) {
      this.#logger.warn({ publicKey, err: String(err) }, 'peer removal failed');
    }
    this.#onPeerChange?.(publicKey, undefined);
  }

  /**
   * Resolves once every peer of `publicKeys` that is still in the set has completed a handshake with us,
   * or after `timeoutMs`, with the keys that have none. A restarted device's peers keep encrypting for
   * the session it lost until a new handshake replaces it; readiness waits for this (service-plane.ts).
   */
  waitForSessions(publicKeys: readonly string[], timeoutMs = SESSION_READY_TIMEOUT_MS): Promise<string[]> {
    const missing = () => publicKeys.filter((k) => this.#known.has(k) && !this.#sessions.has(k));
    if (missing().length === 0 || this.#closed) return Promise.resolve(missing());
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#sessionWaiters.delete(check);
        resolve(missing());
      };
      const check = () => {
        if (missing().length === 0 || this.#closed) done();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.#sessionWaiters.add(check);
    });
  }

  #armHoldBack(publicKey: string): void {
    const timer = setTimeout(() => {
      this.#holdBack.delete(publicKey);
      if (this.#closed || !this.#deferredKeepalive.has(publicKey)) return;
      try {
        this.#node.connect(publicKey);
      } catch {
        // removed meanwhile
      }
    }, HANDSHAKE_HOLD_BACK_MS);
    timer.unref();
    this.#holdBack.set(publicKey, timer);
  }

  #clearHoldBack(publicKey: string): void {
    const t = this.#holdBack.get(publicKey);
    if (t === undefined) return;
    clearTimeout(t);
    this.#holdBack.delete(publicKey);
  }

  peers(): PeerStatus[] {
    return this.#node.status().map((p) => ({
      publicKey: p.publicKey,
      ...(p.endpoint ? this.#describePath(p.endpoint) : {}),
      allowedIps: p.allowedIps,
      ...(p.latestHandshake ? { latestHandshake: new Date(p.latestHandshake).toISOString() } : {}),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
    }));
  }

  #describePath(e: { address: string; port: number }): Pick<PeerStatus, 'endpoint' | 'path'> {
    const relay = this.relayName?.(e);
    if (relay !== undefined) return { endpoint: relay, path: 'relay' };
    return { endpoint: formatEndpoint(e.address, e.port), path: 'direct' };
  }

  /** Stops the timers and the diagnostics subscription; the node is closed by its owner. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    diagnostics.unsubscribe('wireguard:handshake', this.#onHandshake);
    for (const t of this.#holdBack.values()) clearTimeout(t);
    this.#holdBack.clear();
    for (const w of this.#sessionWaiters) w();
  }
}

function splitLiteral(text: string): { address: string; port: number } | undefined {
  const split = splitEndpoint(text);
  return split && isIP(split.host) !== 0 ? { address: split.host, port: split.port } : undefined;
}
