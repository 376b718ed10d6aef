// SPDX-License-Identifier: Apache-2.0
// The pure core of the stack (smoltcp's Interface): it owns the addresses, the socket tables and one deadline
// heap, and is driven from outside:
//   input(packet, now)  - one IP packet from the link; never throws for bad input (drops are counted)
//   poll(now, link)     - runs expired timers and emits every packet that is due into link.send()
//   pollAt()            - when poll() must run next (0 = now, undefined = nothing scheduled)
// It never reads a clock, sets a timer or touches a socket of the host. IP input/output and TCP demultiplexing
// live here; ICMP (icmp.ts) and UDP (udp.ts) build their packets through IcmpHost/UdpHost (datagram-host.ts),
// as tcp/ does through TcpHost/TcpEmitter, all sharing one scratch buffer and one transmit path.
import diagnosticsChannel from 'node:diagnostics_channel';
import type { PacketLink } from '../link.js';
import { DEFAULT_TCP_CONFIG, MSS_OVERHEAD_V4, MSS_OVERHEAD_V6, type TcpConfig } from '../tcp/config.js';
import { IsnGenerator } from '../tcp/isn.js';
import { TcpListener } from '../tcp/listener.js';
import { dispatch, type TcpEmitter } from '../tcp/output.js';
import { seqAdd } from '../tcp/seq.js';
import { type TcpHost, TcpSocket, type TcpState } from '../tcp/socket.js';
import type { UdpSocket } from '../udp/socket.js';
import { IpProtocol } from '../wire/error.js';
import { type Cidr, IpAddress } from '../wire/ip-address.js';
import { emitIpv4Header, IPV4_DEFAULT_TTL, IPV4_HEADER_LEN, Ipv4Packet } from '../wire/ipv4.js';
import { emitIpv6Header, IPV6_DEFAULT_HOP_LIMIT, IPV6_HEADER_LEN, Ipv6Packet } from '../wire/ipv6.js';
import { fillTcpChecksum, TcpFlag, TcpSegment, verifyTcpChecksum } from '../wire/tcp.js';
import { DEFAULT_LIMITS, type InterfaceConfig, type InterfaceLimits } from './config.js';
import { ConnectionTable } from './conn-table.js';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler } from './fragment.js';
import { emitFragments, fragmentCount } from './fragmenter.js';
import { Icmp, type IcmpHost } from './icmp.js';
import { EPHEMERAL_COUNT, EPHEMERAL_FIRST } from './ports.js';
import { RateLimiter } from './rate-limit.js';
import { DeadlineHeap } from './scheduler.js';
import type { DropCounters, InterfaceStats } from './stats.js';
import { TxQueue } from './tx-queue.js';
import { MAX_UDP_LENGTH, Udp, type UdpHost } from './udp.js';

export type ConnectError = 'unaddressable' | 'no-ports' | 'connection-limit';
export type BindError = 'address-in-use' | 'unaddressable';
export type UdpSendError = 'too-big' | 'unaddressable' | 'closed' | 'queue-full';

/**
 * Observability without logging in the core: subscribe to 'netstack:tcp:state' to see every transition as
 * `{ socket, from, to }` (STYLE: diagnostics_channel, as undici does).
 */
export const tcpStateChannel = diagnosticsChannel.channel('netstack:tcp:state');

export class Interface implements TcpHost, TcpEmitter, IcmpHost, UdpHost {
  readonly addresses: Cidr[];
  readonly mtu: number;
  readonly limits: InterfaceLimits;
  readonly tcpConfig: TcpConfig;
  readonly verifyChecksums: boolean;
  readonly tcpChecksumOffload: boolean;
  readonly drops: DropCounters = {
    malformed: 0,
    checksum: 0,
    notForUs: 0,
    unsupported: 0,
    noSocket: 0,
    fragment: 0,
    backlog: 0,
    connectionLimit: 0,
    udpQueueFull: 0,
    txQueueFull: 0,
  };
  packetsIn = 0;
  packetsOut = 0;
  icmpEchoReplies = 0;

  private readonly random: (b: Uint8Array) => void;
  private readonly isn: IsnGenerator;
  private readonly rnd4 = new Uint8Array(4);
  private readonly conns = new ConnectionTable();
  private timeWaitCount = 0;
  private readonly listeners = new Map<number, TcpListener[]>();
  /** ICMP echo and errors (icmp.ts), UDP sockets and datagrams (udp.ts). */
  private readonly icmp: Icmp;
  private readonly udp: Udp;
  private readonly heap = new DeadlineHeap<TcpSocket>();
  private readonly dirty: TcpSocket[] = [];
  private readonly eventSockets: TcpSocket[] = [];
  private readonly eventListeners: TcpListener[] = [];
  private readonly txq: TxQueue;
  private readonly reasm: Reassembler;
  private readonly challengeAcks: RateLimiter;
  /** The IP packet being processed (undefined for a reassembled one): quoted by ICMP errors. */
  curPacket: Uint8Array | undefined = undefined;
  private nextEphemeral: number;
  private ipIdent = 0;

  // Scratch objects reused for every packet (never kept past one call).
  private readonly ip4 = new Ipv4Packet();
  private readonly ip6 = new Ipv6Packet();
  private readonly src = new IpAddress(4);
  private readonly dst = new IpAddress(4);
  private readonly rx = new TcpSegment();
  readonly tx = new TcpSegment();
  readonly scratch: Uint8Array;
  /** scratch[0, len) of the last packet sent, reused while the length repeats (see transmit). */
  private outView: Uint8Array;
  /** Set while poll() runs: packets go straight to it instead of the queue. */
  private outLink: PacketLink | undefined = undefined;
  private readonly pushOut = (pkt: Uint8Array) => this.sendOut(pkt);
  private readonly transmitBound = (len: number) => this.transmit(len);
  /** Staging for a datagram being fragmented (allocated on first use). */
  private fragBuf: Uint8Array | undefined = undefined;

  constructor(cfg: InterfaceConfig) {
    if (cfg.addresses.length === 0)
      throw new TypeError('Interface needs at least one address (i.e. 100.100.0.1/16)');
    this.addresses = cfg.addresses;
    this.mtu = cfg.mtu ?? 1420;
    if (!Number.isInteger(this.mtu) || this.mtu < 1280 || this.mtu > 65535) {
      throw new RangeError(
        `mtu ${cfg.mtu} out of range: expected an integer 1280..65535 (IPv6 minimum is 1280)`,
      );
    }
    this.limits = { ...DEFAULT_LIMITS, ...cfg.limits };
    this.tcpConfig = { ...DEFAULT_TCP_CONFIG, ...cfg.tcp };
    this.verifyChecksums = cfg.verifyChecksums !== false;
    this.tcpChecksumOffload = cfg.tcpChecksumOffload === true;
    this.random = cfg.random;
    const secret = new Uint8Array(8);
    cfg.random(secret);
    this.isn = new IsnGenerator(secret);
    this.nextEphemeral = EPHEMERAL_FIRST + (this.random32() % EPHEMERAL_COUNT);
    this.txq = new TxQueue(this.limits.txQueue, this.mtu);
    this.reasm = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...cfg.reassembly });
    this.challengeAcks = new RateLimiter(this.limits.challengeAcksPerSecond);
    this.icmp = new Icmp(this, this.limits.icmpErrorsPerSecond);
    this.udp = new Udp(this, this.icmp);
    this.scratch = new Uint8Array(this.mtu);
    this.outView = this.scratch.subarray(0, 0);
  }

  random32(): number {
    this.random(this.rnd4);
    return ((this.rnd4[0] << 24) | (this.rnd4[1] << 16) | (this.rnd4[2] << 8) | this.rnd4[3]) >>> 0;
  }

  /** True when addr is one of ours. */
  isOwnAddress(addr: IpAddress): boolean {
    for (const c of this.addresses) if (c.address.equals(addr)) return true;
    return false;
  }

  /** Our address to use toward dst: one in the same subnet, else the first of the same family. */
  sourceFor(dst: IpAddress): IpAddress | undefined {
    let fallback: IpAddress | undefined;
    for (const c of this.addresses) {
      if (c.address.family !== dst.family) continue;
      if (c.contains(dst)) return c.address;
      fallback ??= c.address;
    }
    return fallback;
  }

  mssFor(family: 4 | 6): number {
    return this.mtu - (family === 4 ? MSS_OVERHEAD_V4 : MSS_OVERHEAD_V6);
  }

  // ------------------------------------------------------------------------------------------------
  // Input
  // ------------------------------------------------------------------------------------------------

  /** One IP packet from the link. The caller keeps ownership of `packet`. Never throws on bad input. */
  input(packet: Uint8Array, now: number): void {
    this.packetsIn++;
    if (packet.length === 0) {
      this.drops.malformed++;
      return;
    }
    const version = packet[0] >> 4;
    if (version === 4) this.inputV4(packet, now);
    else if (version === 6) this.inputV6(packet, now);
    else this.drops.malformed++;
  }

  private inputV4(packet: Uint8Array, now: number): void {
    const ip = this.ip4;
    if (ip.attach(packet) !== undefined) {
      this.drops.malformed++;
      return;
    }
    if (!ip.verifyChecksum()) {
      this.drops.checksum++;
      return;
    }
    this.acceptDatagram(
      ip.totalLen === packet.length ? packet : packet.subarray(0, ip.totalLen),
      ip.readSrc(this.src),
      ip.readDst(this.dst),
      ip.protocol,
      ip.isFragment,
      ip.ident,
      ip.fragmentOffset,
      ip.moreFragments,
      packet.subarray(ip.headerLen, ip.totalLen),
      now,
    );
  }

  private inputV6(packet: Uint8Array, now: number): void {
    const ip = this.ip6;
    const err = ip.attach(packet);
    if (err !== undefined) {
      if (err === 3) this.drops.unsupported++;
      else this.drops.malformed++;
      return;
    }
    // A reassembled payload may itself start with extension headers; we only accept direct transport.
    this.acceptDatagram(
      ip.totalLen === packet.length ? packet : packet.subarray(0, ip.totalLen),
      ip.readSrc(this.src),
      ip.readDst(this.dst),
      ip.upperProtocol,
      ip.isFragment,
      ip.fragmentIdent,
      ip.fragmentOffset,
      ip.moreFragments,
      ip.payload(),
      now,
    );
  }

  /**
   * What both families do once the header is parsed: our address only, a sane source, reassembly of
   * fragments, then dispatch. Plain arguments rather than an object: this runs for every packet.
   */
  private acceptDatagram(
    whole: Uint8Array,
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    isFragment: boolean,
    ident: number,
    fragmentOffset: number,
    moreFragments: boolean,
    payload: Uint8Array,
    now: number,
  ): void {
    if (!this.isOwnAddress(dst)) {
      this.drops.notForUs++;
      return;
    }
    if (src.isMulticastOrBroadcast() || src.isUnspecified()) {
      this.drops.malformed++;
      return;
    }
    if (isFragment) {
      const r = this.reasm.add(src, dst, ident, protocol, fragmentOffset, moreFragments, payload, now);
      if (r === 'pending') return;
      if (typeof r === 'string') {
        this.drops.fragment++;
        return;
      }
      this.curPacket = undefined;
      this.dispatchTransport(protocol, src, dst, r, now);
      return;
    }
    this.curPacket = whole;
    this.dispatchTransport(protocol, src, dst, payload, now);
  }

  private dispatchTransport(
    protocol: number,
    src: IpAddress,
    dst: IpAddress,
    payload: Uint8Array,
    now: number,
  ): void {
    switch (protocol) {
      case IpProtocol.Tcp:
        this.inputTcp(src, dst, payload, now);
        return;
      case IpProtocol.Udp:
        this.udp.input(src, dst, payload, now);
        return;
      case IpProtocol.Icmp:
        if (src.family === 4) this.icmp.input(src, dst, payload);
        else this.drops.unsupported++;
        return;
      case IpProtocol.Icmpv6:
        if (src.family === 6) this.icmp.input(src, dst, payload);
        else this.drops.unsupported++;
        return;
      case IpProtocol.Ipv6NoNxt:
        return;
      default:
        this.drops.unsupported++;
    }
  }

  private inputTcp(src: IpAddress, dst: IpAddress, payload: Uint8Array, now: number): void {
    const seg = this.rx;
    if (seg.parse(payload) !== undefined) {
      this.drops.malformed++;
      return;
    }
    if (this.verifyChecksums && !verifyTcpChecksum(payload, src, dst)) {
      this.drops.checksum++;
      return;
    }
    if (seg.srcPort === 0 || seg.dstPort === 0) {
      this.drops.malformed++;
      return;
    }
    const sock = this.conns.find(dst, seg.dstPort, src, seg.srcPort);
    if (sock) {
      if (sock.process(seg, now) !== 'reopen') return;
    }
    const f = seg.flags;
    if (f & TcpFlag.RST) {
      this.drops.noSocket++;
      return;
    }
    if (f & TcpFlag.SYN && !(f & TcpFlag.ACK)) {
      const l = this.findListener(dst, seg.dstPort);
      if (l) {
        this.acceptSyn(l, src, dst, seg, now);
        return;
      }
    }
    this.drops.noSocket++;
    this.rstReply(src, dst, seg);
  }

  private acceptSyn(l: TcpListener, src: IpAddress, dst: IpAddress, seg: TcpSegment, now: number): void {
    if (!l.hasRoom) {
      this.drops.backlog++;
      this.rstReply(src, dst, seg);
      return;
    }
    if (this.conns.size - this.timeWaitCount >= this.limits.maxConnections) {
      this.drops.connectionLimit++;
      this.rstReply(src, dst, seg);
      return;
    }
    const sock = new TcpSocket(
      this,
      this.tcpConfig,
      dst,
      seg.dstPort,
      src,
      seg.srcPort,
      this.mssFor(dst.family),
    );
    sock.listener = l;
    l.halfOpen++;
    this.conns.insert(sock);
    const iss = this.isn.generate(dst, seg.dstPort, src, seg.srcPort, now);
    sock.acceptSyn(seg, iss, this.random32(), now);
    this.schedule(sock, sock.deadline());
  }

  // ------------------------------------------------------------------------------------------------
  // Tables
  // ------------------------------------------------------------------------------------------------

  private findListener(dst: IpAddress, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (!list) return undefined;
    for (const l of list) if (l.local && !l.local.isUnspecified() && l.local.equals(dst)) return l;
    for (const l of list) if (l.matches(dst)) return l;
    return undefined;
  }

  /** LISTEN on port (0 < port < 65536), on host or every address. */
  tcpListen(port: number, host?: IpAddress, backlog?: number): TcpListener | BindError {
    if (host && !host.isUnspecified() && !this.isOwnAddress(host)) return 'unaddressable';
    const list = this.listeners.get(port) ?? [];
    for (const l of list) {
      if (l.local === undefined || host === undefined || l.local.equals(host)) return 'address-in-use';
    }
    const l = new TcpListener(host?.clone(), port, backlog ?? this.limits.backlog);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  /** Stops listening; unaccepted and half-open connections are reset. */
  tcpUnlisten(l: TcpListener): void {
    if (l.state === 'closed') return;
    l.state = 'closed';
    const list = this.listeners.get(l.port);
    if (list) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.listeners.delete(l.port);
    }
    for (const s of l.drain()) s.abort();
    for (const s of [...this.allConnections()]) if (s.listener === l && s.state === 'syn-received') s.abort();
  }

  /** Every connection in the table (TIME-WAIT included). */
  allConnections(): IterableIterator<TcpSocket> {
    return this.conns.values();
  }

  /** Active OPEN toward remote:port from an address of ours (or `local`). */
  tcpConnect(
    remote: IpAddress,
    port: number,
    now: number,
    local?: IpAddress,
    localPort?: number,
  ): TcpSocket | ConnectError {
    const src = local ?? this.sourceFor(remote);
    if (!src || src.family !== remote.family || !this.isOwnAddress(src) || port <= 0 || port > 65535) {
      return 'unaddressable';
    }
    if (remote.isUnspecified() || remote.isMulticastOrBroadcast()) return 'unaddressable';
    if (this.conns.size - this.timeWaitCount >= this.limits.maxConnections) return 'connection-limit';
    let lport = localPort ?? 0;
    if (!lport) {
      for (let i = 0; i < EPHEMERAL_COUNT; i++) {
        const p = EPHEMERAL_FIRST + ((this.nextEphemeral - EPHEMERAL_FIRST + i) % EPHEMERAL_COUNT);
        if (!this.conns.find(src, p, remote, port) && !this.listeners.has(p)) {
          lport = p;
          this.nextEphemeral = p + 1;
          break;
        }
      }
      if (!lport) return 'no-ports';
    } else if (this.conns.find(src, lport, remote, port)) {
      return 'no-ports';
    }
    const sock = new TcpSocket(this, this.tcpConfig, src, lport, remote, port, this.mssFor(src.family));
    this.conns.insert(sock);
    sock.connect(this.isn.generate(src, lport, remote, port, now), this.random32(), now);
    return sock;
  }

  udpBind(port: number, host?: IpAddress): UdpSocket | BindError {
    return this.udp.bind(port, host);
  }

  udpClose(s: UdpSocket): void {
    this.udp.close(s);
  }

  /**
   * Sends one datagram (queued until the next poll). Above the MTU it leaves as IP fragments; only a
   * payload that no UDP datagram can carry (over 65,507 bytes on IPv4, 65,527 on IPv6) is 'too-big'.
   */
  udpSend(s: UdpSocket, data: Uint8Array, dst: IpAddress, dstPort: number): UdpSendError | undefined {
    return this.udp.send(s, data, dst, dstPort);
  }

  /** Staging for a datagram about to be fragmented (allocated on first use, then reused). */
  fragmentBuffer(): Uint8Array {
    this.fragBuf ??= new Uint8Array(MAX_UDP_LENGTH);
    return this.fragBuf;
  }

  /**
   * Sends fragmentBuffer()[0, len), a whole upper-layer datagram with its checksum, from src to dst as IP
   * fragments. All or nothing: false when the queue has no room for every fragment (outside poll()).
   * The identification is 16 bits counting for IPv4, 32 random bits for IPv6 (RFC 7739).
   */
  sendFragmented(src: IpAddress, dst: IpAddress, protocol: number, len: number): boolean {
    if (!this.outLink && this.txq.capacity - this.txq.length < fragmentCount(len, this.mtu, src.family)) {
      return false;
    }
    const ident = src.family === 4 ? this.ipIdent++ & 0xffff : this.random32();
    emitFragments(
      this.scratch,
      this.mtu,
      src,
      dst,
      protocol,
      this.fragmentBuffer(),
      len,
      ident,
      this.transmitBound,
    );
    return true;
  }

  // ------------------------------------------------------------------------------------------------
  // Output
  // ------------------------------------------------------------------------------------------------

  private sendOut(pkt: Uint8Array): void {
    this.packetsOut++;
    (this.outLink as PacketLink).send(pkt);
  }

  /** True when transmit() would drop a packet now: outside poll() with the queue full. */
  txQueueFull(): boolean {
    return this.txq.length >= this.txq.capacity && !this.outLink;
  }

  /** Sends scratch[0, len) now (inside poll) or queues a copy (inside input / user calls). */
  transmit(len: number): void {
    if (this.outLink) {
      // One view per length, kept: a bulk transfer sends thousands of MTU-sized packets per second,
      // and a fresh subarray each was young-generation garbage for nothing.
      if (this.outView.length !== len) this.outView = this.scratch.subarray(0, len);
      this.sendOut(this.outView);
    } else if (!this.txq.push(this.scratch, len)) {
      this.drops.txQueueFull++;
    }
  }

  /** TcpEmitter: wraps this.tx (+ payload from the send buffer) in an IP header and sends it. */
  emitTcp(sock: TcpSocket, payloadOff: number, payloadLen: number): void {
    const b = this.scratch;
    const hl = sock.family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const thl = this.tx.emitHeader(b, hl);
    if (payloadLen > 0) sock.sendBuf.copyOut(payloadOff, b, hl + thl, payloadLen);
    const end = hl + thl + payloadLen;
    if (!this.tcpChecksumOffload) fillTcpChecksum(b, hl, end, sock.local, sock.remote);
    this.emitIpHeader(sock.local, sock.remote, IpProtocol.Tcp, end - hl);
    this.transmit(end);
  }

  /** Writes the IP header from src to dst into scratch[0, hl), hl being 20 (IPv4) or 40 (IPv6). */
  emitIpHeader(src: IpAddress, dst: IpAddress, protocol: number, payloadLen: number): void {
    if (src.family === 4) {
      emitIpv4Header(this.scratch, 0, src, dst, protocol, payloadLen, IPV4_DEFAULT_TTL, this.ipIdent++);
    } else {
      emitIpv6Header(this.scratch, 0, src, dst, protocol, payloadLen, IPV6_DEFAULT_HOP_LIMIT);
    }
  }

  /** RFC 9293 3.10.7.1: reset answering a segment for which no connection exists. */
  private rstReply(src: IpAddress, dst: IpAddress, seg: TcpSegment): void {
    const t = this.tx.reset();
    t.srcPort = seg.dstPort;
    t.dstPort = seg.srcPort;
    if (seg.flags & TcpFlag.ACK) {
      t.seq = seg.ack;
      t.flags = TcpFlag.RST;
    } else {
      t.seq = 0;
      t.ack = seqAdd(seg.seq, seg.segLen);
      t.flags = TcpFlag.RST | TcpFlag.ACK;
    }
    this.emitRaw(dst, src);
  }

  private emitRaw(local: IpAddress, remote: IpAddress): void {
    const b = this.scratch;
    const hl = local.family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const end = hl + this.tx.emitHeader(b, hl);
    if (!this.tcpChecksumOffload) fillTcpChecksum(b, hl, end, local, remote);
    this.emitIpHeader(local, remote, IpProtocol.Tcp, end - hl);
    this.transmit(end);
  }

  /**
   * Runs due timers and emits every due packet into link (which must not keep the buffers). Call when
   * pollAt() is reached and after input() / user calls (the façade batches this once per event-loop turn).
   */
  poll(now: number, link: PacketLink): void {
    this.outLink = link;
    try {
      this.txq.flush(this.pushOut);
      if (this.reasm.inProgress > 0) this.reasm.expire(now);
      for (;;) {
        const s = this.heap.popDue(now);
        if (!s) break;
        if (s.state === 'closed') continue;
        if (s.deadline() <= now) {
          s.onTimer(now);
          if (!s.isClosed()) this.markDirty(s);
        } else {
          this.heap.schedule(s, s.deadline());
        }
      }
      // Only the sockets dirty now; those re-marked while dispatching (budget exhausted) wait for next poll.
      const n = this.dirty.length;
      for (let i = 0; i < n; i++) {
        const s = this.dirty[i];
        s.dirty = false;
        if (s.state !== 'closed') dispatch(s, now, this);
      }
      this.dirty.splice(0, n);
    } finally {
      this.outLink = undefined;
    }
  }

  /** When poll() must run next: 0 when work is pending now, undefined when nothing is scheduled. */
  pollAt(): number | undefined {
    if (this.dirty.length > 0 || this.txq.length > 0) return 0;
    const t = Math.min(
      this.heap.peek(),
      this.reasm.inProgress > 0 ? this.reasm.nextExpiry() : Number.POSITIVE_INFINITY,
    );
    return t === Number.POSITIVE_INFINITY ? undefined : t;
  }

  /** Hands pending socket events to their sinks (call after input()/poll(), outside packet processing). */
  dispatchEvents(): void {
    for (let i = 0; i < this.eventSockets.length; i++) {
      const s = this.eventSockets[i];
      s.eventQueued = false;
      const ev = s.events;
      s.events = 0;
      if (ev !== 0 && s.sink) s.sink.tcpEvent(ev);
    }
    this.eventSockets.length = 0;
    for (let i = 0; i < this.eventListeners.length; i++) {
      const l = this.eventListeners[i];
      l.eventQueued = false;
      if (l.sink && l.pending > 0) l.sink.tcpAcceptable();
    }
    this.eventListeners.length = 0;
    this.udp.dispatchEvents();
  }

  // ------------------------------------------------------------------------------------------------
  // TcpHost
  // ------------------------------------------------------------------------------------------------

  markDirty(sock: TcpSocket): void {
    if (sock.dirty) return;
    sock.dirty = true;
    this.dirty.push(sock);
  }

  schedule(sock: TcpSocket, at: number): void {
    if (at !== Number.POSITIVE_INFINITY) this.heap.schedule(sock, at);
  }

  notify(sock: TcpSocket): void {
    if (sock.eventQueued) return;
    sock.eventQueued = true;
    this.eventSockets.push(sock);
  }

  established(sock: TcpSocket): void {
    const l = sock.listener as TcpListener | undefined;
    if (!l) return;
    l.halfOpen--;
    if (l.state !== 'listen') {
      sock.abort();
      return;
    }
    l.enqueue(sock);
    if (!l.eventQueued) {
      l.eventQueued = true;
      this.eventListeners.push(l);
    }
  }

  stateChanged(sock: TcpSocket, from: TcpState, to: TcpState): void {
    if (tcpStateChannel.hasSubscribers) tcpStateChannel.publish({ socket: sock, from, to });
    if (to === 'time-wait' && from !== 'time-wait') {
      this.timeWaitCount++;
      if (this.timeWaitCount > this.limits.maxTimeWait) sock.setState('closed');
    }
    if (from === 'time-wait' && to !== 'time-wait') this.timeWaitCount--;
    if (from === 'syn-received' && to === 'closed' && sock.listener) sock.listener.halfOpen--;
    if (to === 'closed') this.conns.remove(sock);
  }

  sendRst(sock: TcpSocket): void {
    const t = this.tx.reset();
    t.srcPort = sock.localPort;
    t.dstPort = sock.remotePort;
    t.seq = sock.sndMax; // the highest we sent, so the peer finds it in its window (see output.ts step 5)
    t.ack = sock.rcvNxt;
    t.flags = TcpFlag.RST | TcpFlag.ACK;
    this.emitRaw(sock.local, sock.remote);
  }

  sendRstFor(sock: TcpSocket, seg: TcpSegment): void {
    this.rstReply(sock.remote, sock.local, seg);
  }

  allowChallengeAck(now: number): boolean {
    return this.challengeAcks.allow(now);
  }

  stats(): InterfaceStats {
    let listeners = 0;
    let halfOpen = 0;
    for (const list of this.listeners.values()) {
      listeners += list.length;
      for (const l of list) halfOpen += l.halfOpen;
    }
    return {
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      drops: { ...this.drops },
      tcp: {
        connections: this.conns.size - this.timeWaitCount,
        timeWait: this.timeWaitCount,
        listeners,
        halfOpen,
      },
      udp: { sockets: this.udp.udpCount },
      icmpEchoReplies: this.icmpEchoReplies,
      fragments: {
        inProgress: this.reasm.inProgress,
        bufferedBytes: this.reasm.bufferedBytes,
        timeouts: this.reasm.timeouts,
      },
      schedulerEntries: this.heap.size,
    };
  }
}
