// SPDX-License-Identifier: Apache-2.0
// The userspace data plane: one WireGuardNode (UDP, large socket buffers) joined to one NetStack.
// Packet path, both directions without per-packet closures or logging:
//   UDP datagram -> WireGuardNode (decrypt, cryptokey routing) -> onPacket -> NetStack.input
//   NetStack output (flushed once per event-loop turn) -> link.send -> WireGuardNode.send (encrypt) -> UDP
// The NetStack batches its output per turn (process.nextTick), the node re-arms its timer per turn.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { NetStack } from '@nexodus/netstack';
import { tcpChecksumOffloadAvailable, WireGuardNode } from '@nexodus/wireguard';
import type { Logger } from 'pino';
import type { EngineDrops, PeerStatus } from '../control/protocol.js';
import { splitEndpoint } from '../endpoints.js';
import { NexdError } from '../errors.js';
import type { PeerSink } from '../peers/reconcile.js';
import type { ProxySide } from '../proxy/network.js';
import type { SecurityGate } from '../security/gate.js';
import type { EnginePeers } from './engine-peers.js';
import { EngineTunnel } from './engine-tunnel.js';
import { DEFAULT_TUNNEL_MTU } from './mtu.js';
import { NetStackDatagramNetwork, NetStackStreamNetwork } from './netstack-network.js';
import type { PingResult } from './pinger.js';

/** WireGuard's default tunnel MTU (1500 minus the IPv6 + UDP + WireGuard overhead of 80 bytes). */
export const TUNNEL_MTU = DEFAULT_TUNNEL_MTU;
/**
 * Per-connection TCP buffers of the netstack (the largest window advertised, and the send buffer). They
 * grow lazily, so an idle connection costs none of it; a bulk one needs window >= rate x RTT, and the
 * RTT through two userspace hops on a busy host is a few ms, not the loopback's tens of µs.
 */
export const TUNNEL_TCP_BUFFER_BYTES = 1024 * 1024;
export { HANDSHAKE_HOLD_BACK_MS, SESSION_READY_TIMEOUT_MS } from './engine-peers.js';
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
  /** Probe no direct path: peers are reached only through the relay route (see relayEndpoints). */
  relayOnly?: boolean;
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

/** What a data plane needs of its tunnel, whatever carries the packets (netstack or TUN). */
export interface TunnelHandle extends PeerSink {
  /** The VPC side of the proxy: the netstack in proxy mode, the host's own sockets in agent mode. */
  readonly side: ProxySide;
  /** The WireGuard UDP port. */
  readonly port: number;
  /** The engine (STUN and the relay path use its socket and virtual routes). */
  readonly node: WireGuardNode;
  /** The peer set: the relay path sets its hooks here. */
  readonly peerSet: EnginePeers;
  peers(): PeerStatus[];
  /** Resolves once each of `publicKeys` has a session with us, or after the timeout, with those that have none. */
  waitForSessions(publicKeys: readonly string[], timeoutMs?: number): Promise<string[]>;
  /** One ICMP echo through the tunnel (see Pinger). */
  ping(address: string, timeoutMs: number): Promise<PingResult>;
  /** The engine's drop counters by reason (EngineTunnel has them; a test double may not). */
  drops?(): EngineDrops;
  close(): Promise<void>;
}

/**
 * The WireGuard node of either tunnel: both sockets with large buffers, the tunnel's MTU. `tcpChecksumOffload`:
 * the node fills TCP checksums while sealing (the netstack leaves them to it; a TUN's packets have them).
 */
export function openWireGuardNode(opts: TunnelOptions, tcpChecksumOffload: boolean): Promise<WireGuardNode> {
  return WireGuardNode.open({
    privateKey: opts.privateKey,
    listenPort: opts.listenPort ?? 0,
    mtu: opts.mtu ?? TUNNEL_MTU,
    socketBufferBytes: TUNNEL_SOCKET_BUFFER_BYTES,
    tcpChecksumOffload,
    logger: opts.logger,
  }).catch((err: unknown) => {
    throw new NexdError(
      'NEX_ERR_DATA_PLANE_UNAVAILABLE',
      `cannot open the WireGuard UDP socket: ${(err as Error).message}`,
      { cause: err },
    );
  });
}

/** Opens a tunnel: `Tunnel.open` (netstack) or the agent's `AgentTunnel.open` (TUN). */
export type OpenTunnel = (opts: TunnelOptions) => Promise<TunnelHandle>;

export class Tunnel extends EngineTunnel {
  readonly stack: NetStack;
  readonly side: ProxySide;
  #flushQueued = false;
  readonly #flushInput = (): void => {
    this.#flushQueued = false;
    if (!this.closed) this.stack.scheduleFlush();
  };

  private constructor(node: WireGuardNode, stack: NetStack, addresses: string[], opts: TunnelOptions) {
    super(node, addresses, opts);
    this.stack = stack;
    const pinger = this.pinger;
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
      if (this.closed) return;
      if (pinger.active && pinger.intercept(packet)) return;
      iface.input(packet, stack.now());
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flushInput);
      }
    };
  }

  static async open(opts: TunnelOptions): Promise<Tunnel> {
    const mtu = opts.mtu ?? TUNNEL_MTU;
    const node = await openWireGuardNode(opts, tcpChecksumOffloadAvailable);
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
    return new Tunnel(node, stack, addresses, opts);
  }

  /** The engine's drops and the netstack's (see EngineDrops). */
  override drops(): EngineDrops {
    return { ...super.drops(), netstack: { ...this.stack.stats().drops } };
  }

  protected closeCarrier(): void {
    this.stack.close();
  }
}
