// SPDX-License-Identifier: Apache-2.0
// The userspace data plane: one WireGuardNode (UDP, large socket buffers) joined to one NetStack.
// Packet path, both directions without per-packet closures or logging:
//   UDP datagram -> WireGuardNode (decrypt, cryptokey routing) -> onPacket -> NetStack.input
//   NetStack output (flushed once per event-loop turn) -> link.send -> WireGuardNode.send (encrypt) -> UDP
// The NetStack batches its output per turn (process.nextTick), the node re-arms its timer per turn.
import diagnostics from 'node:diagnostics_channel';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { NetStack } from '@nexodus/netstack';
import { type HandshakeEvent, tcpChecksumOffloadAvailable, WireGuardNode } from '@nexodus/wireguard';
import type { Logger } from 'pino';
import type { PeerStatus } from '../control/protocol.js';
import { formatEndpoint, splitEndpoint } from '../endpoints.js';
import { NexdError } from '../errors.js';
import type { PeerConfig, PeerSink } from '../peers/reconcile.js';
import type { ProxySide } from '../proxy/network.js';
import type { SecurityGate } from '../security/gate.js';
import { NetStackDatagramNetwork, NetStackStreamNetwork } from './netstack-network.js';

/** WireGuard's default tunnel MTU (1500 minus the IPv6 + UDP + WireGuard overhead of 80 bytes). */
export const TUNNEL_MTU = 1420;
/**
 * Per-connection TCP buffers of the netstack (the largest window advertised, and the send buffer). They
 * grow lazily, so an idle connection costs none of it; a bulk one needs window >= rate x RTT, and the
 * RTT through two userspace hops on a busy host is a few ms, not the loopback's tens of µs.
 */
export const TUNNEL_TCP_BUFFER_BYTES = 1024 * 1024;
/** How long the side that holds back its keepalive waits for the other side's handshake (see setPeer). */
export const HANDSHAKE_HOLD_BACK_MS = 1000;
/**
 * How long readiness waits for a session with every peer (see waitForSessions): a peer that is down must
 * not keep a device unready for ever. Two handshake attempts (REKEY_TIMEOUT = 5 s each) plus the hold-back.
 */
export const SESSION_READY_TIMEOUT_MS = 11_000;
/** SO_RCVBUF/SO_SNDBUF to ask for: the kernel default (208 KiB) drops bursts of bulk transfer. */
export const TUNNEL_SOCKET_BUFFER_BYTES = 8 * 1024 * 1024;

export interface TunnelOptions {
  /** base64 private key. */
  privateKey: string;
  /** WireGuard UDP port, 0 = any free port. */
  listenPort?: number;
  /**
   * This device's VPC addresses with prefix, i.e. `['100.100.0.1/16', '200::1/64']`, or a function that
   * learns them once the UDP port is known (service mode registers the port, then gets its addresses).
   */
  addresses: string[] | ((port: number) => Promise<string[]>);
  mtu?: number;
  logger: Logger;
  /** Called once per completed handshake (metrics). */
  onHandshake?: () => void;
  /**
   * Peers learn of each other at the same instant (service mode: every device follows the same watch
   * stream), so hold back one side's persistent keepalive until the first handshake (see setPeer).
   * Standalone peers are static: their keepalives start at once, as wg-quick does.
   */
  simultaneousPeers?: boolean;
  /** The device's security group, enforced on the tunnel side of the proxy (service mode). */
  gate?: SecurityGate;
}

/** `host:port` / `[v6]:port` -> an endpoint for the engine; names are resolved once, here. */
export async function resolveEndpoint(text: string): Promise<{ address: string; port: number }> {
  const split = splitEndpoint(text);
  if (!split || split.port > 65535) {
    throw new NexdError('NEX_ERR_BAD_FLAG', `peer endpoint ${JSON.stringify(text)} is not host:port`);
  }
  const { host, port } = split;
  if (isIP(host) !== 0) return { address: host, port };
  const r = await lookup(host);
  return { address: r.address, port };
}

export class Tunnel implements PeerSink {
  readonly node: WireGuardNode;
  readonly stack: NetStack;
  readonly side: ProxySide;
  readonly #logger: Logger;
  readonly #simultaneous: boolean;
  readonly #known = new Set<string>();
  readonly #onHandshake: (msg: unknown) => void;
  /** Persistent keepalives held back until the first handshake with the peer (see setPeer). */
  readonly #deferredKeepalive = new Map<string, number>();
  /** Per held-back peer, one timer that starts the handshake if the other side has not (see setPeer). */
  readonly #holdBack = new Map<string, NodeJS.Timeout>();
  /** Peers with a handshake completed since this tunnel opened. */
  readonly #sessions = new Set<string>();
  readonly #sessionWaiters = new Set<() => void>();
  #closed = false;
  #flushQueued = false;
  readonly #flushInput = (): void => {
    this.#flushQueued = false;
    if (!this.#closed) this.stack.scheduleFlush();
  };

  private constructor(node: WireGuardNode, stack: NetStack, opts: TunnelOptions) {
    this.node = node;
    this.stack = stack;
    this.#logger = opts.logger;
    this.#simultaneous = opts.simultaneousPeers === true;
    const net = opts.gate ? { gate: opts.gate } : {};
    this.side = {
      stream: new NetStackStreamNetwork(stack, net),
      datagram: new NetStackDatagramNetwork(stack, net),
    };
    // Batch per event-loop turn: libuv reads many datagrams in one poll phase, one 'message' callback
    // each. NetStack.input() would flush (poll + socket events) after every one of them; feeding the
    // interface directly and flushing once from setImmediate, after the poll phase, turns a burst of
    // segments into one ACK and one large read for the proxied socket. The node hands over a view into
    // its receive buffer, valid during the call; the interface copies what it keeps.
    const iface = stack.iface;
    node.onPacket = (packet) => {
      if (this.#closed) return;
      iface.input(packet, stack.now());
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flushInput);
      }
    };
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
        this.node.updatePeer({ publicKey: ev.peer, persistentKeepalive: keepalive });
      }
    };
    diagnostics.subscribe('wireguard:handshake', this.#onHandshake);
  }

  static async open(opts: TunnelOptions): Promise<Tunnel> {
    const mtu = opts.mtu ?? TUNNEL_MTU;
    const node = await WireGuardNode.open({
      privateKey: opts.privateKey,
      listenPort: opts.listenPort ?? 0,
      mtu,
      socketBufferBytes: TUNNEL_SOCKET_BUFFER_BYTES,
      tcpChecksumOffload: tcpChecksumOffloadAvailable,
      logger: opts.logger,
    }).catch((err: unknown) => {
      throw new NexdError(
        'NEX_ERR_DATA_PLANE_UNAVAILABLE',
        `cannot open the WireGuard UDP socket: ${(err as Error).message}`,
        { cause: err },
      );
    });
    let addresses: string[];
    try {
      addresses = typeof opts.addresses === 'function' ? await opts.addresses(node.port) : opts.addresses;
    } catch (err) {
      await node.close();
      throw err;
    }
    let stack: NetStack;
    try {
      stack = new NetStack({
        addresses,
        mtu,
        link: { send: (p) => void node.send(p) },
        tcp: { sendBufferSize: TUNNEL_TCP_BUFFER_BYTES, recvBufferSize: TUNNEL_TCP_BUFFER_BYTES },
        // Every packet here passed WireGuard's AEAD, which rejects any altered bit.
        verifyChecksums: false,
        // The node fills TCP checksums natively just before sealing (where @nexodus/native is built).
        tcpChecksumOffload: tcpChecksumOffloadAvailable,
      });
    } catch (err) {
      await node.close();
      throw new NexdError(
        'NEX_ERR_DATA_PLANE_UNAVAILABLE',
        `cannot start the netstack on ${addresses.join(', ')}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new Tunnel(node, stack, opts);
  }

  get port(): number {
    return this.node.port;
  }

  /** PeerSink: adds or updates a peer. Endpoints must be IP literals here (see resolveEndpoint). */
  setPeer(peer: PeerConfig & { presharedKey?: string }): void {
    if (this.#closed) return;
    const endpoint = peer.endpoint ? splitLiteral(peer.endpoint) : undefined;
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
      this.node.publicKey < peer.publicKey
    ) {
      this.#deferredKeepalive.set(peer.publicKey, keepalive);
      keepalive = undefined;
    }
    const cfg = {
      publicKey: peer.publicKey,
      allowedIps: peer.allowedIps,
      ...(endpoint ? { endpoint } : {}),
      ...(peer.presharedKey ? { presharedKey: peer.presharedKey } : {}),
      ...(keepalive ? { persistentKeepalive: keepalive } : {}),
    };
    try {
      if (!isNew) this.node.updatePeer(cfg);
      else {
        this.node.addPeer(cfg);
        this.#known.add(peer.publicKey);
        if (endpoint && this.#deferredKeepalive.has(peer.publicKey)) this.#armHoldBack(peer.publicKey);
      }
    } catch (err) {
      // A bad peer from the service must not take the daemon down; the rest of the set still applies.
      this.#logger.warn({ publicKey: peer.publicKey, err: String(err) }, 'peer rejected by the engine');
    }
  }

  /**
   * Resolves once each of `publicKeys` (still a peer) has completed a handshake since this tunnel opened,
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

  removePeer(publicKey: string): void {
    if (this.#closed || !this.#known.has(publicKey)) return;
    this.#known.delete(publicKey);
    this.#sessions.delete(publicKey);
    for (const w of this.#sessionWaiters) w();
    this.#deferredKeepalive.delete(publicKey);
    this.#clearHoldBack(publicKey);
    try {
      this.node.removePeer(publicKey);
    } catch (err) {
      this.#logger.warn({ publicKey, err: String(err) }, 'peer removal failed');
    }
  }

  #armHoldBack(publicKey: string): void {
    const timer = setTimeout(() => {
      this.#holdBack.delete(publicKey);
      if (this.#closed || !this.#deferredKeepalive.has(publicKey)) return;
      try {
        this.node.connect(publicKey);
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
    return this.node.status().map((p) => ({
      publicKey: p.publicKey,
      ...(p.endpoint ? { endpoint: formatEndpoint(p.endpoint.address, p.endpoint.port) } : {}),
      allowedIps: p.allowedIps,
      ...(p.latestHandshake ? { latestHandshake: new Date(p.latestHandshake).toISOString() } : {}),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    diagnostics.unsubscribe('wireguard:handshake', this.#onHandshake);
    for (const t of this.#holdBack.values()) clearTimeout(t);
    this.#holdBack.clear();
    for (const w of this.#sessionWaiters) w();
    this.stack.close();
    await this.node.close();
  }
}

function splitLiteral(text: string): { address: string; port: number } | undefined {
  const split = splitEndpoint(text);
  return split && isIP(split.host) !== 0 ? { address: split.host, port: split.port } : undefined;
}
