// SPDX-License-Identifier: Apache-2.0
// Agent mode's tunnel: one WireGuardNode joined to one TUN device, the kernel doing IP, TCP and UDP.
// Packet path, both directions without per-packet closures or logging:
//   TUN read (batched, uv_poll) -> WireGuardNode.send (cryptokey routing, encrypt) -> UDP (sendmmsg)
//   UDP (recvmmsg) -> WireGuardNode (decrypt) -> onPacket -> TUN write (batched per microtask)
// The device gets the VPC addresses, each peer's allowed IPs become routes to it (RouteTable), and the
// proxy's "tunnel side" is the host's own sockets: the kernel routes VPC addresses into the device.
import type { NativeBinding } from '@nexodus/native';
import type { WireGuardNode } from '@nexodus/wireguard';
import type { Logger } from 'pino';
import type { PeerStatus } from '../control/protocol.js';
import type { PeerConfig } from '../peers/reconcile.js';
import type { ProxySide } from '../proxy/network.js';
import { NodeDatagramNetwork, NodeStreamNetwork } from '../proxy/node-network.js';
import { EnginePeers } from '../tunnel/engine-peers.js';
import { Pinger, type PingResult } from '../tunnel/pinger.js';
import { openWireGuardNode, TUNNEL_MTU, type TunnelHandle, type TunnelOptions } from '../tunnel/tunnel.js';
import { configureLink, RouteTable, type RunIp, runIp } from './ip-link.js';
import { TunDevice, type TunIoMode } from './tun-device.js';

/** The original nexd's device name on Linux. */
export const DEFAULT_TUNNEL_IFACE = 'wg0';

export interface AgentTunnelOptions {
  binding: NativeBinding;
  /** Device name, i.e. `wg0`. */
  ifname: string;
  /**
   * Turns the VPC addresses (netstack form, `100.100.0.1/16`) into the device's: service mode gives the
   * IPv4 address as a /32 and keeps the IPv6 prefix, as the original nexd does; standalone mode keeps
   * the file's addresses as wg-quick does.
   */
  deviceAddresses?: (addresses: string[]) => string[];
  ip?: RunIp;
  /** See TunIoMode (default 'batched'). */
  tunIo?: TunIoMode;
}

/** Service mode's device addresses: IPv4 /32 (peers are reached by their routes), IPv6 with its prefix. */
export function hostAddresses(addresses: string[]): string[] {
  return addresses.map((a) => (a.includes(':') ? a : `${a.split('/')[0]}/32`));
}

export class AgentTunnel implements TunnelHandle {
  readonly node: WireGuardNode;
  readonly tun: TunDevice;
  readonly routes: RouteTable;
  readonly side: ProxySide;
  readonly addresses: string[];
  readonly peerSet: EnginePeers;
  readonly #pinger: Pinger;
  readonly #logger: Logger;
  #closed = false;

  private constructor(
    node: WireGuardNode,
    tun: TunDevice,
    routes: RouteTable,
    addresses: string[],
    opts: TunnelOptions,
  ) {
    this.node = node;
    this.tun = tun;
    this.routes = routes;
    this.addresses = addresses;
    this.#logger = opts.logger;
    this.side = { stream: new NodeStreamNetwork(), datagram: new NodeDatagramNetwork() };
    this.peerSet = new EnginePeers(node, {
      logger: opts.logger,
      ...(opts.onHandshake ? { onHandshake: opts.onHandshake } : {}),
      ...(opts.simultaneousPeers ? { simultaneousPeers: true } : {}),
      onPeerChange: (key, allowed) => (allowed ? routes.set(key, allowed) : routes.remove(key)),
    });
    const pinger = new Pinger((p) => node.send(p), addresses);
    this.#pinger = pinger;
    node.onPacket = (packet) => {
      if (pinger.active && pinger.intercept(packet)) return;
      tun.write(packet);
    };
    // node.send copies what it has to stage, so the TUN's read buffer is free again when it returns.
    tun.onPacket = (packet) => {
      node.send(packet);
    };
  }

  /** Opens the UDP socket, learns the addresses, then creates and configures the device. */
  static async open(opts: TunnelOptions & AgentTunnelOptions): Promise<AgentTunnel> {
    const mtu = opts.mtu ?? TUNNEL_MTU;
    const ip = opts.ip ?? runIp;
    // The kernel hands the TUN complete packets, checksums included.
    const node = await openWireGuardNode(opts, false);
    let tun: TunDevice | undefined;
    try {
      const vpc = typeof opts.addresses === 'function' ? await opts.addresses(node.port) : opts.addresses;
      const addresses = opts.deviceAddresses ? opts.deviceAddresses(vpc) : vpc;
      tun = TunDevice.open(opts.binding, opts.ifname, mtu, opts.tunIo);
      const applied = await configureLink(opts.ifname, mtu, addresses, opts.logger, ip);
      const routes = new RouteTable(opts.ifname, opts.logger, applied, ip);
      opts.logger.info(
        {
          device: opts.ifname,
          mtu,
          addresses,
          engine: 'userspace',
          port: node.port,
          io: opts.tunIo ?? 'batched',
        },
        'TUN device up',
      );
      return new AgentTunnel(node, tun, routes, addresses, opts);
    } catch (err) {
      tun?.close();
      await node.close();
      throw err;
    }
  }

  get port(): number {
    return this.node.port;
  }

  setPeer(peer: PeerConfig & { presharedKey?: string }): void {
    if (!this.#closed) this.peerSet.setPeer(peer);
  }

  removePeer(publicKey: string): void {
    if (!this.#closed) this.peerSet.removePeer(publicKey);
  }

  waitForSessions(publicKeys: readonly string[], timeoutMs?: number): Promise<string[]> {
    return this.peerSet.waitForSessions(publicKeys, timeoutMs);
  }

  peers(): PeerStatus[] {
    return this.peerSet.peers();
  }

  ping(address: string, timeoutMs: number): Promise<PingResult> {
    return this.#pinger.ping(address, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pinger.close();
    this.peerSet.close();
    this.routes.close();
    this.tun.close();
    const t = this.tun;
    this.#logger.info(
      {
        device: t.name,
        readErrors: t.readErrors,
        writeDrops: t.writeDrops,
        superPackets: t.superPackets,
        segmentDrops: t.segmentDrops,
      },
      'TUN device closed',
    );
    await this.node.close();
  }
}
