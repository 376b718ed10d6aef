// SPDX-License-Identifier: Apache-2.0
// UDP of the interface: the table of bound sockets (by local port, then local address), demultiplexing of
// incoming datagrams into their queues (port unreachable when nobody listens, RFC 1122 3.2.2.1), and sending,
// as IP fragments when a datagram is above the MTU. Packets are built in the interface's scratch buffer and
// sent through its transmit path (UdpHost); Interface's udpBind/udpClose/udpSend delegate here.
import { UdpSocket } from '../udp/socket.js';
import { IpProtocol } from '../wire/error.js';
import type { IpAddress } from '../wire/ip-address.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { emitUdp, UDP_HEADER_LEN, UdpPacket } from '../wire/udp.js';
import type { InterfaceLimits } from './config.js';
import type { DatagramHost } from './datagram-host.js';
import type { Icmp } from './icmp.js';
import type { BindError, UdpSendError } from './interface.js';
import { EPHEMERAL_COUNT, EPHEMERAL_FIRST } from './ports.js';

/** The UDP length field is 16 bits. */
export const MAX_UDP_LENGTH = 65535;

export interface UdpHost extends DatagramHost {
  readonly limits: InterfaceLimits;
  /** Verify checksums of incoming datagrams (InterfaceConfig.verifyChecksums). */
  readonly verifyChecksums: boolean;
  isOwnAddress(addr: IpAddress): boolean;
  sourceFor(dst: IpAddress): IpAddress | undefined;
  random32(): number;
  /** Call before building a packet: true when transmit() would drop it (queue full, outside poll()). */
  txQueueFull(): boolean;
}

export class Udp {
  private readonly udpSockets = new Map<number, UdpSocket[]>();
  /** Sockets bound (stats()). */
  udpCount = 0;
  /** Sockets that received datagrams since the last dispatchEvents(). */
  private readonly eventUdp: UdpSocket[] = [];
  /** Scratch view reused for every packet (never kept past one call). */
  private readonly udpView = new UdpPacket();

  constructor(
    private readonly host: UdpHost,
    /** Answers datagrams nobody listens for. */
    private readonly icmp: Icmp,
  ) {}

  input(src: IpAddress, dst: IpAddress, payload: Uint8Array, now: number): void {
    const u = this.udpView;
    if (u.attach(payload) !== undefined) {
      this.host.drops.malformed++;
      return;
    }
    // RFC 8200 8.1: a zero UDP checksum over IPv6 is invalid.
    if (
      (src.family === 6 && u.checksumField === 0) ||
      (this.host.verifyChecksums && !u.verifyChecksum(src, dst))
    ) {
      this.host.drops.checksum++;
      return;
    }
    const list = this.udpSockets.get(u.dstPort);
    let sock: UdpSocket | undefined;
    if (list) {
      for (const s of list) {
        if (s.local !== undefined && !s.local.isUnspecified() && s.local.equals(dst)) {
          sock = s;
          break;
        }
      }
      if (!sock) for (const s of list) if (s.matches(dst)) sock = s;
    }
    if (!sock) {
      this.host.drops.noSocket++;
      this.icmp.portUnreachable(src, dst, now);
      return;
    }
    if (!sock.deliver(u.payload(), src, u.srcPort, dst)) {
      this.host.drops.udpQueueFull++;
      return;
    }
    if (!sock.eventQueued) {
      sock.eventQueued = true;
      this.eventUdp.push(sock);
    }
  }

  /** Hands pending readable events to their sinks (Interface.dispatchEvents). */
  dispatchEvents(): void {
    for (let i = 0; i < this.eventUdp.length; i++) {
      const u = this.eventUdp[i];
      u.eventQueued = false;
      if (u.sink && u.pending > 0) u.sink.udpReadable();
    }
    this.eventUdp.length = 0;
  }

  bind(port: number, host?: IpAddress): UdpSocket | BindError {
    if (host && !host.isUnspecified() && !this.host.isOwnAddress(host)) return 'unaddressable';
    if (port === 0) {
      const start = this.host.random32() % EPHEMERAL_COUNT;
      for (let i = 0; i < EPHEMERAL_COUNT; i++) {
        const p = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
        if (!this.udpSockets.has(p)) {
          port = p;
          break;
        }
      }
      if (port === 0) return 'address-in-use';
    }
    const list = this.udpSockets.get(port) ?? [];
    for (const s of list) {
      if (s.local === undefined || host === undefined || s.local.equals(host)) return 'address-in-use';
    }
    const limits = this.host.limits;
    const s = new UdpSocket(host?.clone(), port, limits.udpQueueDatagrams, limits.udpQueueBytes);
    list.push(s);
    this.udpSockets.set(port, list);
    this.udpCount++;
    return s;
  }

  close(s: UdpSocket): void {
    if (s.state === 'closed') return;
    s.state = 'closed';
    const list = this.udpSockets.get(s.port);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) {
      list.splice(i, 1);
      this.udpCount--;
    }
    if (list.length === 0) this.udpSockets.delete(s.port);
  }

  /** Sends one datagram (see Interface.udpSend). */
  send(s: UdpSocket, data: Uint8Array, dst: IpAddress, dstPort: number): UdpSendError | undefined {
    const host = this.host;
    if (s.state === 'closed') return 'closed';
    const src = s.local && !s.local.isUnspecified() ? s.local : host.sourceFor(dst);
    if (!src || src.family !== dst.family || dstPort <= 0 || dstPort > 65535) return 'unaddressable';
    const hl = src.family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const total = hl + UDP_HEADER_LEN + data.length;
    if (total > host.mtu) return this.sendFragmented(s, data, src, dst, dstPort);
    if (host.txQueueFull()) return 'queue-full';
    const b = host.scratch;
    b.set(data, hl + UDP_HEADER_LEN);
    emitUdp(b, hl, s.port, dstPort, data.length, src, dst);
    host.emitIpHeader(src, dst, IpProtocol.Udp, UDP_HEADER_LEN + data.length);
    host.transmit(total);
    return undefined;
  }

  /** A datagram above the MTU goes out as IP fragments (the UDP length field caps it at 65535 - 8 bytes). */
  private sendFragmented(
    s: UdpSocket,
    data: Uint8Array,
    src: IpAddress,
    dst: IpAddress,
    dstPort: number,
  ): UdpSendError | undefined {
    const len = UDP_HEADER_LEN + data.length;
    if (len > MAX_UDP_LENGTH - (src.family === 4 ? IPV4_HEADER_LEN : 0)) return 'too-big';
    const d = this.host.fragmentBuffer();
    d.set(data, UDP_HEADER_LEN);
    emitUdp(d, 0, s.port, dstPort, data.length, src, dst);
    return this.host.sendFragmented(src, dst, IpProtocol.Udp, len) ? undefined : 'queue-full';
  }
}
