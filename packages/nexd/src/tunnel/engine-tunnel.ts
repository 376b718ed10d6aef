// SPDX-License-Identifier: Apache-2.0
// What both tunnels share: the WireGuard node, its peer set (hold-back, candidates, relay path, sessions)
// and the ICMP pinger. A subclass only carries the packets: the netstack in `nexd proxy` (tunnel.ts), a
// TUN device in agent mode (agent/agent-tunnel.ts), and closes its carrier in closeCarrier().
import type { WireGuardNode } from '@nexodus/wireguard';
import type { EngineDrops, PeerStatus } from '../control/protocol.js';
import type { PeerConfig } from '../peers/reconcile.js';
import type { ProxySide } from '../proxy/network.js';
import { EnginePeers, type EnginePeersOptions } from './engine-peers.js';
import { Pinger, type PingResult } from './pinger.js';
import type { TunnelHandle, TunnelOptions } from './tunnel.js';

export abstract class EngineTunnel implements TunnelHandle {
  readonly node: WireGuardNode;
  /** The peer set; the relay client sets its hooks here. */
  readonly peerSet: EnginePeers;
  abstract readonly side: ProxySide;
  protected readonly pinger: Pinger;
  protected closed = false;

  protected constructor(
    node: WireGuardNode,
    addresses: readonly string[],
    opts: TunnelOptions,
    onPeerChange?: EnginePeersOptions['onPeerChange'],
  ) {
    this.node = node;
    this.peerSet = new EnginePeers(node, {
      logger: opts.logger,
      ...(opts.onHandshake ? { onHandshake: opts.onHandshake } : {}),
      ...(opts.simultaneousPeers ? { simultaneousPeers: true } : {}),
      ...(opts.relayOnly ? { relayOnly: true } : {}),
      ...(onPeerChange ? { onPeerChange } : {}),
    });
    this.pinger = new Pinger((p) => node.send(p), [...addresses]);
  }

  /** The WireGuard UDP port. */
  get port(): number {
    return this.node.port;
  }

  /** PeerSink: adds or updates a peer. Endpoints must be IP literals here (see resolveEndpoint). */
  setPeer(peer: PeerConfig & { presharedKey?: string }): void {
    if (!this.closed) this.peerSet.setPeer(peer);
  }

  removePeer(publicKey: string): void {
    if (!this.closed) this.peerSet.removePeer(publicKey);
  }

  /**
   * Resolves once each of `publicKeys` (still a peer) has completed a handshake since this tunnel opened,
   * or after `timeoutMs`, with the keys that have none (see EnginePeers.waitForSessions).
   */
  waitForSessions(publicKeys: readonly string[], timeoutMs?: number): Promise<string[]> {
    return this.peerSet.waitForSessions(publicKeys, timeoutMs);
  }

  peers(): PeerStatus[] {
    return this.peerSet.peers();
  }

  /** The engine's send and receive drop counters by reason (copies, read on a scrape or a status call). */
  drops(): EngineDrops {
    return { send: { ...this.node.sendDrops }, receive: { ...this.node.drops } };
  }

  /** One ICMP echo through the tunnel (see Pinger). */
  ping(address: string, timeoutMs: number): Promise<PingResult> {
    return this.pinger.ping(address, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pinger.close();
    this.peerSet.close();
    await this.closeCarrier();
    await this.node.close();
  }

  /** Closes what carries the packets (the netstack, the TUN device); the node is closed after it. */
  protected abstract closeCarrier(): void | Promise<void>;
}
