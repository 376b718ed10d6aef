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
import type { ProxySide } from '../proxy/network.js';
import { NodeDatagramNetwork, NodeStreamNetwork } from '../proxy/node-network.js';
import { EngineTunnel } from '../tunnel/engine-tunnel.js';
import { openWireGuardNode, TUNNEL_MTU, type TunnelOptions } from '../tunnel/tunnel.js';
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

export class AgentTunnel extends EngineTunnel {
  readonly tun: TunDevice;
  readonly routes: RouteTable;
  readonly side: ProxySide;
  readonly addresses: string[];
  readonly #logger: Logger;

  private constructor(
    node: WireGuardNode,
    tun: TunDevice,
    routes: RouteTable,
    addresses: string[],
    opts: TunnelOptions,
  ) {
    super(node, addresses, opts, (key: string, allowed: readonly string[] | undefined) =>
      allowed ? routes.set(key, allowed) : routes.remove(key),
    );
    this.tun = tun;
    this.routes = routes;
    this.addresses = addresses;
    this.#logger = opts.logger;
    this.side = { stream: new NodeStreamNetwork(), datagram: new NodeDatagramNetwork() };
    const pinger = this.pinger;
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

  protected closeCarrier(): void {
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
  }
}
