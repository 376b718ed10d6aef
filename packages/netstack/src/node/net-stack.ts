// SPDX-License-Identifier: Apache-2.0
// The Node adapter around the pure core: the only place that reads a clock or sets a timer. It keeps ONE
// setTimeout per stack, re-armed at iface.pollAt(), and batches output once per event-loop turn
// (setImmediate after input() or a user call), so a burst of input packets yields one poll.
import { randomFillSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { InterfaceLimits } from '../iface/config.js';
import { Interface } from '../iface/interface.js';
import type { InterfaceStats } from '../iface/stats.js';
import type { PacketLink } from '../link.js';
import { DEFAULT_MSS_V4, type TcpConfig } from '../tcp/config.js';
import type { TcpListener } from '../tcp/listener.js';
import { TcpEvent, TcpSocket } from '../tcp/socket.js';
import type { UdpSocket } from '../udp/socket.js';
import { readU32 } from '../wire/error.js';
import { Cidr, IpAddress } from '../wire/ip-address.js';
import { fillTcpChecksum } from '../wire/tcp.js';
import { NetStackError, socketError } from './errors.js';
import { type ServerHost, TcpServer } from './tcp-server.js';
import { type StreamHost, TcpSocketStream } from './tcp-stream.js';
import { type UdpHost, UdpSocketHandle } from './udp.js';

export interface NetStackOptions {
  /** Our addresses with prefix, i.e. ['100.100.0.1/16', '200::1/64']. */
  addresses: string[];
  /** IP MTU of the tunnel (default 1420, WireGuard's). */
  mtu?: number;
  /** Where packets leave. Its send() must not keep the buffer after returning. */
  link: PacketLink;
  /** Random source (default crypto.randomFillSync). */
  random?: (b: Uint8Array) => void;
  limits?: Partial<InterfaceLimits>;
  tcp?: Partial<TcpConfig>;
  /** Verify incoming TCP/UDP checksums (default true); see InterfaceConfig.verifyChecksums. */
  verifyChecksums?: boolean;
  /** The link fills TCP checksums (default false); see InterfaceConfig.tcpChecksumOffload. */
  tcpChecksumOffload?: boolean;
}

/**
 * Packets to our own addresses waiting for the next flush (a host's loopback queue). Bounded: a burst
 * beyond it is dropped and counted, and TCP retransmits, as on a full link.
 */
export const LOOPBACK_QUEUE_MAX = 1024;

const IP_PROTOCOL_TCP = 6;
const IPV4_OFFSET_PROTOCOL = 9;
const IPV4_OFFSET_DST = 16;
const IPV6_HEADER_LEN = 40;
const IPV6_OFFSET_NEXT_HEADER = 6;
const IPV6_OFFSET_SRC = 8;
const IPV6_OFFSET_DST = 24;

export interface ListenOptions {
  port: number;
  /** One of the stack's addresses, or omitted / '0.0.0.0' / '::' for all. */
  host?: string;
  backlog?: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

/** Event: 'error' is never emitted by the stack itself; per-socket errors go to the sockets. */
export class NetStack extends EventEmitter implements StreamHost, ServerHost, UdpHost {
  readonly iface: Interface;
  private readonly link: PacketLink;
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private flushQueued = false;
  private closed = false;
  private readonly epoch = performance.now();
  private readonly servers = new Set<TcpServer>();
  /** Packets the link refused by throwing (see the constructor). */
  private linkErrors = 0;
  private lastLinkError: unknown = undefined;
  private readonly streams = new Set<TcpSocketStream>();
  /** Streams with an idle timeout, and a lower bound of their earliest deadline. */
  private readonly idleStreams = new Set<TcpSocketStream>();
  private nextIdleAt = Number.POSITIVE_INFINITY;
  private readonly udps = new Set<UdpSocketHandle>();
  /** Copies of packets we sent to ourselves, input at the next flush (see the constructor). */
  private readonly loopback: Uint8Array[] = [];
  private loopbackPackets = 0;
  private loopbackDrops = 0;
  private readonly dstScratch = new IpAddress();
  private readonly srcScratch = new IpAddress();

  constructor(opts: NetStackOptions) {
    super();
    if (!opts || !Array.isArray(opts.addresses)) {
      throw new TypeError("NetStack options need addresses, i.e. { addresses: ['100.100.0.1/16'], link }");
    }
    if (!opts.link || typeof opts.link.send !== 'function') {
      throw new TypeError('NetStack options need a link with send(packet: Uint8Array)');
    }
    const link = opts.link;
    // A packet to one of our own addresses is delivered to ourselves, as a host does over its loopback:
    // the link (a WireGuard tunnel) has no peer for our own address and would drop it, so a proxy could
    // not reach its own VPC address. It is copied (the buffer is the core's scratch) and input at the next
    // flush, never from inside poll().
    // A throwing link (a tunnel without a peer for this destination, say) must not take the stack down with
    // it: the packet counts as lost, TCP retransmits, and stats() reports it.
    this.link = {
      send: (packet: Uint8Array) => {
        if (this.isToSelf(packet)) {
          this.queueLoopback(packet);
          return;
        }
        try {
          link.send(packet);
        } catch (err) {
          this.linkErrors++;
          this.lastLinkError = err;
        }
      },
    };
    this.iface = new Interface({
      addresses: opts.addresses.map((a) => Cidr.parse(a)),
      mtu: opts.mtu,
      random: opts.random ?? ((b) => randomFillSync(b)),
      limits: opts.limits,
      tcp: opts.tcp,
      verifyChecksums: opts.verifyChecksums,
      tcpChecksumOffload: opts.tcpChecksumOffload,
    });
  }

  get sendBufferSize(): number {
    return this.iface.tcpConfig.sendBufferSize;
  }

  /** Milliseconds on a monotonic clock (the core's `now`). */
  now(): number {
    return performance.now() - this.epoch;
  }

  /** One IP packet from the tunnel. The stack does not keep `packet` after returning. */
  input(packet: Uint8Array): void {
    if (this.closed) return;
    this.iface.input(packet, this.now());
    this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    // setImmediate, not nextTick: every datagram the tunnel read in this event-loop iteration is input
    // first, then one poll emits the combined ACKs and data (a nextTick would poll once per datagram).
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    // Events can make sockets dirty again (a stream writes in its 'data' handler): loop a bounded number of
    // times, then leave the rest to the next turn.
    for (let i = 0; i < 8; i++) {
      if (this.loopback.length > 0) this.inputLoopback();
      this.iface.poll(this.now(), this.link);
      this.iface.dispatchEvents();
      if (this.iface.pollAt() !== 0 && this.loopback.length === 0) break;
    }
    if (this.loopback.length > 0) this.scheduleFlush();
    this.rearm();
  };

  /** True when the packet's destination is one of our addresses. */
  private isToSelf(packet: Uint8Array): boolean {
    const version = packet[0] >> 4;
    const d = this.dstScratch;
    if (version === 4 && packet.length >= IPV4_OFFSET_DST + 4) {
      d.family = 4;
      d.w0 = d.w1 = d.w2 = 0;
      d.w3 = readU32(packet, IPV4_OFFSET_DST);
    } else if (version === 6 && packet.length >= IPV6_HEADER_LEN) {
      d.family = 6;
      d.w0 = readU32(packet, IPV6_OFFSET_DST);
      d.w1 = readU32(packet, IPV6_OFFSET_DST + 4);
      d.w2 = readU32(packet, IPV6_OFFSET_DST + 8);
      d.w3 = readU32(packet, IPV6_OFFSET_DST + 12);
    } else {
      return false;
    }
    return this.iface.isOwnAddress(d);
  }

  private queueLoopback(packet: Uint8Array): void {
    if (this.loopback.length >= LOOPBACK_QUEUE_MAX) {
      this.loopbackDrops++;
      return;
    }
    const copy = packet.slice();
    // With checksum offload the core leaves TCP checksums to the link, which a looped packet skips.
    if (this.iface.tcpChecksumOffload) this.fillLoopbackChecksum(copy);
    this.loopback.push(copy);
    this.loopbackPackets++;
    this.scheduleFlush();
  }

  private fillLoopbackChecksum(p: Uint8Array): void {
    const version = p[0] >> 4;
    const s = this.srcScratch;
    const d = this.dstScratch; // still holds this packet's destination (isToSelf)
    if (version === 4) {
      if (p[IPV4_OFFSET_PROTOCOL] !== IP_PROTOCOL_TCP) return;
      s.family = 4;
      s.w0 = s.w1 = s.w2 = 0;
      s.w3 = readU32(p, IPV4_OFFSET_DST - 4);
      fillTcpChecksum(p, (p[0] & 0x0f) * 4, p.length, s, d);
    } else {
      if (p[IPV6_OFFSET_NEXT_HEADER] !== IP_PROTOCOL_TCP) return;
      s.family = 6;
      s.w0 = readU32(p, IPV6_OFFSET_SRC);
      s.w1 = readU32(p, IPV6_OFFSET_SRC + 4);
      s.w2 = readU32(p, IPV6_OFFSET_SRC + 8);
      s.w3 = readU32(p, IPV6_OFFSET_SRC + 12);
      fillTcpChecksum(p, IPV6_HEADER_LEN, p.length, s, d);
    }
  }

  private inputLoopback(): void {
    const now = this.now();
    const n = this.loopback.length;
    for (let i = 0; i < n; i++) this.iface.input(this.loopback[i], now);
    this.loopback.splice(0, n);
  }

  private immediateQueued = false;
  private readonly onImmediate = (): void => {
    this.immediateQueued = false;
    this.flush();
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.now() >= this.nextIdleAt) this.sweepIdle();
    this.flush();
  };

  watchIdle(s: TcpSocketStream, on: boolean): void {
    if (!on) {
      this.idleStreams.delete(s);
      return;
    }
    this.idleStreams.add(s);
    const due = s.lastActivity + s.timeout;
    if (due < this.nextIdleAt) {
      this.nextIdleAt = due;
      this.rearm();
    }
  }

  /** Activity only moves deadlines later, so nextIdleAt stays a lower bound until this O(n) sweep. */
  private sweepIdle(): void {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const s of this.idleStreams) {
      const t = s.checkIdle(now);
      if (t < next) next = t;
    }
    this.nextIdleAt = next;
  }

  private rearm(): void {
    const core = this.iface.pollAt();
    const at =
      core === undefined
        ? this.nextIdleAt === Number.POSITIVE_INFINITY
          ? undefined
          : this.nextIdleAt
        : core === 0
          ? 0
          : Math.min(core, this.nextIdleAt);
    if (at === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (at === 0) {
      // More work than one flush may do: continue after I/O (setImmediate), never starve the event loop.
      if (!this.immediateQueued) {
        this.immediateQueued = true;
        setImmediate(this.onImmediate);
      }
      return;
    }
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - this.now())));
  }

  private checkOpen(): void {
    if (this.closed) throw new NetStackError('ERR_STACK_CLOSED', 'the NetStack was closed; create a new one');
  }

  /** Listens for TCP connections; the callback is added as a 'connection' listener. */
  listen(opts: ListenOptions, onConnection?: (sock: TcpSocketStream) => void): TcpServer {
    this.checkOpen();
    const host = parseBindHost(opts.host);
    const l = this.iface.tcpListen(opts.port, host, opts.backlog);
    if (l === 'address-in-use') {
      throw new NetStackError(
        'EADDRINUSE',
        `listen EADDRINUSE: port ${opts.port} is already in use`,
        'listen',
      );
    }
    if (l === 'unaddressable') {
      throw new NetStackError(
        'EADDRNOTAVAIL',
        `listen EADDRNOTAVAIL ${opts.host}: not an address of this stack`,
      );
    }
    const server = new TcpServer(this, l);
    if (onConnection) server.on('connection', onConnection);
    this.servers.add(server);
    return server;
  }

  acceptStream(l: TcpListener): TcpSocketStream | undefined {
    const core = l.accept();
    if (!core) return undefined;
    const s = new TcpSocketStream(this, core, false);
    this.track(s);
    // Data may have arrived with or right after the handshake.
    if (core.recvAvailable > 0 || core.rxEnded) queueMicrotask(() => s.tcpEvent(TcpEvent.Readable));
    return s;
  }

  unlisten(l: TcpListener): void {
    this.iface.tcpUnlisten(l);
    for (const s of this.servers) if (s.listener === l) this.servers.delete(s);
    this.scheduleFlush();
  }

  /** Opens a TCP connection; 'connect' fires when established, 'error' with .code on failure. */
  connect(opts: ConnectOptions): TcpSocketStream {
    this.checkOpen();
    const remote = IpAddress.parse(opts.host);
    if (!remote) {
      throw new TypeError(
        `connect: host ${JSON.stringify(opts.host)} is not an IP address (resolve names first)`,
      );
    }
    if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) {
      throw new RangeError(`connect: port ${opts.port} out of range 1..65535`);
    }
    const local = opts.localAddress ? IpAddress.from(opts.localAddress) : undefined;
    const core = this.iface.tcpConnect(remote, opts.port, this.now(), local, opts.localPort);
    if (typeof core === 'string') {
      const code =
        core === 'no-ports' ? 'EADDRINUSE' : core === 'connection-limit' ? 'EMFILE' : 'EADDRNOTAVAIL';
      // Mirror net.connect: return a socket that errors asynchronously. Its core is detached and CLOSED.
      const src = local ?? this.iface.sourceFor(remote) ?? this.iface.addresses[0].address;
      const mss = DEFAULT_MSS_V4; // never used: the detached core sends nothing
      const detached = new TcpSocket(this.iface, this.iface.tcpConfig, src, 0, remote, opts.port, mss);
      const d = new TcpSocketStream(this, detached, true);
      const err = socketError(code, 'connect', opts.host, opts.port);
      queueMicrotask(() => d.destroy(err));
      return d;
    }
    if (opts.noDelay) core.setNoDelay(true);
    if (opts.keepAlive) core.setKeepAlive(true, opts.keepAliveInitialDelay);
    const s = new TcpSocketStream(this, core, true);
    this.track(s);
    this.scheduleFlush();
    return s;
  }

  private track(s: TcpSocketStream): void {
    this.streams.add(s);
    s.once('close', () => {
      this.streams.delete(s);
      this.idleStreams.delete(s);
    });
  }

  /** Binds a UDP socket (port 0 = ephemeral) on host or every address. */
  createUdpSocket(opts: { port?: number; host?: string } = {}): UdpSocketHandle {
    this.checkOpen();
    const core = this.iface.udpBind(opts.port ?? 0, parseBindHost(opts.host));
    if (core === 'address-in-use') {
      throw new NetStackError(
        'EADDRINUSE',
        `bind EADDRINUSE: UDP port ${opts.port} is already in use`,
        'bind',
      );
    }
    if (core === 'unaddressable') {
      throw new NetStackError(
        'EADDRNOTAVAIL',
        `bind EADDRNOTAVAIL ${opts.host}: not an address of this stack`,
      );
    }
    const h = new UdpSocketHandle(this, core);
    this.udps.add(h);
    h.once('close', () => this.udps.delete(h));
    return h;
  }

  udpSend(s: UdpSocket, data: Uint8Array, dst: IpAddress, port: number): string | undefined {
    return this.iface.udpSend(s, data, dst, port);
  }

  udpClose(s: UdpSocket): void {
    this.iface.udpClose(s);
  }

  stats(): InterfaceStats & {
    streams: number;
    linkErrors: number;
    lastLinkError: string | undefined;
    /** Packets delivered to our own addresses without the link, and those dropped on a full queue. */
    loopbackPackets: number;
    loopbackDrops: number;
  } {
    return {
      ...this.iface.stats(),
      streams: this.streams.size,
      loopbackPackets: this.loopbackPackets,
      loopbackDrops: this.loopbackDrops,
      linkErrors: this.linkErrors,
      lastLinkError: this.lastLinkError === undefined ? undefined : String(this.lastLinkError),
    };
  }

  /** Aborts every connection, closes listeners and UDP sockets, and stops the timer. */
  close(): void {
    if (this.closed) return;
    for (const s of this.servers) s.close();
    for (const u of this.udps) u.close();
    for (const s of [...this.streams]) s.destroy();
    for (const c of [...this.iface.allConnections()]) c.abort();
    this.iface.poll(this.now(), this.link);
    this.iface.dispatchEvents();
    this.closed = true;
    this.loopback.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function parseBindHost(host: string | undefined): IpAddress | undefined {
  if (host === undefined || host === '') return undefined;
  return IpAddress.from(host);
}
