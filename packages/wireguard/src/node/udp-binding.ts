// SPDX-License-Identifier: Apache-2.0
// The Node adapter: with udp-sender.ts and batched-socket.ts, the only code that touches dgram, the
// clock and node:crypto randomness. It binds one IPv4 and one IPv6 UDP socket on the same port, feeds
// datagrams to the pure WireGuardDevice, and arms ONE setTimeout at the device's pollAt() (never a
// timer per peer or per packet).
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { dgramHandle, loadBinding } from '@nexodus/native';
import type { TimerConstants } from '../constants.js';
import type { DropCounters, SendDropCounters } from '../context.js';
import { transportAead } from '../crypto.js';
import { type PeerConfig, type PeerStatus, type PeerUpdate, WireGuardDevice } from '../device.js';
import { type BindEvent, bindChannel } from '../diagnostics.js';
import { WireGuardError } from '../errors.js';
import { encodeKey, toKey } from '../keys.js';
import type { Endpoint } from '../peer.js';
import type { SendResult } from '../send.js';
import { BatchedSocket, type BatchedSocketHooks } from './batched-socket.js';
import { type DatagramSender, DgramSender } from './udp-sender.js';

export interface NodeOptions {
  privateKey: Uint8Array | string;
  /** UDP port for both families; 0 or absent = an ephemeral port (the same one for IPv4 and IPv6). */
  listenPort?: number;
  peers?: PeerConfig[];
  timers?: Partial<TimerConstants>;
  cookieLoadThreshold?: number;
  /** Tunnel MTU capping transport padding; default 1420. */
  mtu?: number;
  /** SO_RCVBUF/SO_SNDBUF to ask for; default 8 MiB. The kernel caps it at net.core.rmem_max/wmem_max. */
  socketBufferBytes?: number;
  /** IPv4 bind address (default 0.0.0.0). */
  bindAddress4?: string;
  /** IPv6 bind address (default ::); false = no IPv6 socket. */
  bindAddress6?: string | false;
  /**
   * Move datagrams in batches (sendmmsg with UDP GSO, recvmmsg with UDP GRO) when the @nexodus/native
   * addon is built (Linux); default true. false = one dgram call per datagram.
   */
  batchedIo?: boolean;
  /** See DeviceOptions.tcpChecksumOffload (and tcpChecksumOffloadAvailable). */
  tcpChecksumOffload?: boolean;
  /** Optional pino-style logger for bind-time facts (granted buffer sizes); never called per packet. */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/**
 * Every reason an outgoing packet or datagram is dropped: the device's (IP packets) and the node's own
 * (datagrams, handshake messages included, that never reached the wire). Each drop counts once.
 */
export interface NodeSendDropCounters extends SendDropCounters {
  /** The kernel refused the datagram with EMSGSIZE: over the underlay route's MTU. */
  socketTooBig: number;
  /** The kernel refused the datagram for another reason (EACCES, ENETUNREACH, ENOBUFS, ...). */
  socketRefused: number;
  /** The socket stayed full while its bounded send queue was full too. */
  socketQueueFull: number;
  /** An endpoint of a family with no socket (an IPv6 endpoint when IPv6 is unavailable or off). */
  noSocket: number;
  /** Emitted after close() (a timer or a late packet while shutting down). */
  closed: number;
}

const DEFAULT_SOCKET_BUFFER = 8 * 1024 * 1024;
/** setsockopt takes an int; Node rejects sizes above it. */
const MAX_SOCKET_BUFFER = 2 ** 31 - 1;
const BIND_RETRIES = 8;

/** Milliseconds since the Unix epoch from the monotonic clock (wall time is needed for TAI64N). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Endpoint addresses are IP literals already: resolve synchronously so dgram.send does not defer to the next tick. */
function literalLookup(
  address: string,
  _family: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

export class WireGuardNode {
  /** The UDP port both sockets listen on. */
  readonly port: number;
  /** Our public key (base64). */
  readonly publicKey: string;
  /**
   * Called with each decrypted IP packet and the sending peer's base64 public key. The packet is a view
   * into the receive buffer, valid until this returns: copy it to keep it.
   */
  onPacket: ((packet: Uint8Array, peerKey: string) => void) | undefined = undefined;
  /**
   * Called with each received datagram that is not shaped like a WireGuard message (type 1-4 followed by
   * three zero bytes), i.e. STUN responses on the shared socket; the engine never sees those. `data` is
   * a view into the receive buffer, valid until this returns. Unset: everything goes to the engine.
   */
  onOtherDatagram: ((data: Uint8Array, from: Endpoint) => void) | undefined = undefined;
  /** Socket buffer sizes the kernel granted, per family. */
  readonly socketBuffers: BindEvent[];

  private readonly device: WireGuardDevice;
  private readonly sender4: DatagramSender;
  private readonly sender6: DatagramSender | undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private armedAt = Infinity;
  private schedulePending = false;
  private readonly runSchedule = (): void => {
    this.schedulePending = false;
    this.schedule();
  };
  private closed = false;
  /** Datagrams to endpoints with this address go to `virtualSend` instead of a socket (i.e. a relay). */
  private virtualAddress: string | undefined = undefined;
  private virtualSend: ((data: Uint8Array, to: Endpoint) => void) | undefined = undefined;
  /** The node's own send drops (see NodeSendDropCounters); the sockets count theirs. */
  private noSocketDrops = 0;
  private closedDrops = 0;

  private constructor(
    private readonly sock4: dgram.Socket,
    private readonly sock6: dgram.Socket | undefined,
    opts: NodeOptions,
    socketBuffers: BindEvent[],
  ) {
    this.port = sock4.address().port;
    const batched = opts.batchedIo !== false;
    const hooks = {
      onDatagram: (data: Uint8Array, from: Endpoint, t: number) => this.receive(data, from, t),
      onBurstEnd: () => this.requestSchedule(),
      now,
    };
    this.sender4 = this.createIo(sock4, batched, hooks);
    this.sender6 = sock6 ? this.createIo(sock6, batched, hooks) : undefined;
    this.socketBuffers = socketBuffers;
    try {
      this.device = new WireGuardDevice({
        privateKey: opts.privateKey,
        random: (b) => randomFillSync(b),
        timers: opts.timers,
        cookieLoadThreshold: opts.cookieLoadThreshold,
        mtu: opts.mtu,
        tcpChecksumOffload: opts.tcpChecksumOffload,
        output: {
          sendDatagram: (data, to) => this.sendDatagram(data, to),
          deliverPacket: (packet, peer) => this.onPacket?.(packet, peer),
        },
      });
      this.publicKey = encodeKey(this.device.publicKey);
      const t = now();
      for (const p of opts.peers ?? []) this.device.addPeer(p, t);
    } catch (err) {
      // The caller closes the sockets; a watcher left on a closed fd would abort libuv.
      this.sender4.close();
      this.sender6?.close();
      throw err;
    }
  }

  /** The batched socket where the addon is there and takes the socket, else dgram as it is. */
  private createIo(sock: dgram.Socket, batched: boolean, hooks: BatchedSocketHooks): DatagramSender {
    const { binding } = loadBinding();
    const handle = batched && binding ? dgramHandle(sock) : undefined;
    if (binding && handle) {
      try {
        return new BatchedSocket(binding, handle, hooks);
      } catch {
        // The take-over was refused and dgram reads as before: go on with dgram.
      }
    }
    sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      this.receive(msg, rinfo, now());
      this.requestSchedule();
    });
    return new DgramSender(sock);
  }

  /** Binds the sockets and starts the device. Rejects with WireGuardError('WG_ERR_BIND') when the port is taken. */
  static async open(opts: NodeOptions): Promise<WireGuardNode> {
    toKey(opts.privateKey, 'private key'); // fail before binding anything
    const port = opts.listenPort ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new WireGuardError('WG_ERR_BAD_CONFIG', `listenPort must be 0..65535, got ${opts.listenPort}`);
    }
    const want = opts.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER;
    if (!Number.isInteger(want) || want < 1 || want > MAX_SOCKET_BUFFER) {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        `socketBufferBytes must be an integer 1..${MAX_SOCKET_BUFFER}, got ${opts.socketBufferBytes}; omit it for ${DEFAULT_SOCKET_BUFFER}`,
      );
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < (port === 0 ? BIND_RETRIES : 1); attempt++) {
      const sock4 = dgram.createSocket({ type: 'udp4', lookup: literalLookup as never });
      try {
        await bind(sock4, port, opts.bindAddress4 ?? '0.0.0.0');
      } catch (err) {
        sock4.close();
        throw new WireGuardError(
          'WG_ERR_BIND',
          `cannot bind UDP ${opts.bindAddress4 ?? '0.0.0.0'}:${port}: ${(err as Error).message}; pick another listenPort`,
          { cause: err },
        );
      }
      const bound = sock4.address().port;
      let sock6: dgram.Socket | undefined;
      if (opts.bindAddress6 !== false) {
        sock6 = dgram.createSocket({ type: 'udp6', ipv6Only: true, lookup: literalLookup as never });
        try {
          await bind(sock6, bound, opts.bindAddress6 ?? '::');
        } catch (err) {
          sock6.close();
          sock6 = undefined;
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE' && port === 0) {
            sock4.close(); // the ephemeral IPv4 port is taken for IPv6: try another one
            lastError = err;
            continue;
          }
          if (code === 'EADDRINUSE') {
            sock4.close();
            throw new WireGuardError(
              'WG_ERR_BIND',
              `cannot bind UDP [::]:${bound}: ${(err as Error).message}`,
              { cause: err },
            );
          }
          opts.logger?.warn({ err: (err as Error).message }, 'IPv6 UDP socket unavailable; IPv4 only');
        }
      }
      const granted: BindEvent[] = [];
      for (const [family, s] of [
        [4, sock4],
        [6, sock6],
      ] as const) {
        if (!s) continue;
        // Not fatal: a refused size leaves the kernel's default, which is reported (and logged) below.
        for (const set of ['setRecvBufferSize', 'setSendBufferSize'] as const) {
          try {
            s[set](want);
          } catch (err) {
            opts.logger?.warn({ family, err: (err as Error).message }, `UDP ${set}(${want}) refused`);
          }
        }
        const ev: BindEvent = {
          family,
          port: bound,
          recvBufferBytes: s.getRecvBufferSize(),
          sendBufferBytes: s.getSendBufferSize(),
          requested: want,
        };
        granted.push(ev);
        if (bindChannel.hasSubscribers) bindChannel.publish(ev);
        opts.logger?.info(ev, 'WireGuard UDP socket bound; kernel granted buffer sizes');
      }
      try {
        const node = new WireGuardNode(sock4, sock6, opts, granted);
        const load = loadBinding();
        opts.logger?.info(
          { sendPath: node.sendPath, transportAead, ...(load.binding ? {} : { reason: load.reason }) },
          'WireGuard UDP send path and transport AEAD',
        );
        node.schedule();
        return node;
      } catch (err) {
        sock4.close();
        sock6?.close();
        throw err;
      }
    }
    throw new WireGuardError(
      'WG_ERR_BIND',
      `could not bind one ephemeral port for both IPv4 and IPv6 after ${BIND_RETRIES} tries`,
      { cause: lastError },
    );
  }

  /** Sends one IP packet into the tunnel; see WireGuardDevice.sendPacket. */
  send(ipPacket: Uint8Array): SendResult {
    const r = this.device.sendPacket(ipPacket, now());
    this.requestSchedule();
    return r;
  }

  addPeer(cfg: PeerConfig): void {
    this.device.addPeer(cfg, now());
    this.requestSchedule();
  }

  updatePeer(update: PeerUpdate): void {
    this.device.updatePeer(update, now());
    this.requestSchedule();
  }

  removePeer(publicKey: Uint8Array | string): void {
    this.device.removePeer(publicKey);
    this.requestSchedule();
  }

  /** Starts a handshake with `publicKey` now rather than on the first packet. */
  connect(publicKey: Uint8Array | string): void {
    this.device.connect(publicKey, now());
    this.requestSchedule();
  }

  status(): PeerStatus[] {
    return this.device.status();
  }

  get drops(): Readonly<DropCounters> {
    return this.device.drops;
  }

  /**
   * Send drop counters by reason: the device's (no route, malformed, too large, staging) and the
   * sockets' (refused, too big, queue full), plus datagrams with no socket of their family or sent after
   * close. A fresh object per call; read it when needed (i.e. on a /metrics scrape), not per packet.
   */
  get sendDrops(): NodeSendDropCounters {
    const s6 = this.sender6;
    return {
      ...this.device.sendDrops,
      socketTooBig: this.sender4.tooBig + (s6?.tooBig ?? 0),
      socketRefused: this.sender4.refused + (s6?.refused ?? 0),
      socketQueueFull: this.sender4.queueFull + (s6?.queueFull ?? 0),
      noSocket: this.noSocketDrops,
      closed: this.closedDrops,
    };
  }

  /**
   * Datagrams the kernel refused to send (i.e. EACCES for a broadcast endpoint, EMSGSIZE, ENETUNREACH),
   * both families. They are lost like datagrams on the wire, and WireGuard's timers recover, but a
   * count that keeps growing means an endpoint or route is wrong; it is 0 on a healthy path.
   */
  get sendErrors(): number {
    return this.sender4.errors + (this.sender6?.errors ?? 0);
  }

  /** Errors the sockets reported on receive (i.e. ICMP errors the kernel queued on them), both families. */
  get receiveErrors(): number {
    return this.sender4.receiveErrors + (this.sender6?.receiveErrors ?? 0);
  }

  /** How datagrams move: 'dgram', 'mmsg' or 'mmsg+gso' (the IPv4 socket's; IPv6 is the same). */
  get sendPath(): string {
    return this.sender4.path;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sender4.close();
    this.sender6?.close();
    await Promise.all([closeSocket(this.sock4), this.sock6 ? closeSocket(this.sock6) : undefined]);
  }

  /** One received datagram: WireGuard-shaped ones to the engine, the rest to onOtherDatagram. */
  private receive(data: Uint8Array, from: Endpoint, t: number): void {
    const other = this.onOtherDatagram;
    if (
      other !== undefined &&
      !(data.length >= 4 && data[0] >= 1 && data[0] <= 4 && data[1] === 0 && data[2] === 0 && data[3] === 0)
    ) {
      other(data, from);
      return;
    }
    this.device.receiveDatagram(data, from, t);
  }

  /**
   * Sends a datagram that is not WireGuard's (i.e. a STUN request) from the WireGuard socket, so it gets
   * the NAT mapping WireGuard's own datagrams get. Errors are counted in sendErrors.
   */
  sendOther(data: Uint8Array, to: Endpoint): void {
    this.sendDatagram(data, to);
  }

  /**
   * Routes datagrams for endpoints whose address is `address` (i.e. the relay's placeholder 127.3.3.40)
   * to `send` instead of a socket; `data` is only valid during the call (copy it to keep it). Received
   * datagrams of that path come back in through injectDatagram. One such route per node.
   */
  setVirtualRoute(address: string, send: (data: Uint8Array, to: Endpoint) => void): void {
    this.virtualAddress = address;
    this.virtualSend = send;
  }

  /** Hands the engine a datagram that arrived by another path than the sockets (i.e. a relay). */
  injectDatagram(data: Uint8Array, from: Endpoint): void {
    if (this.closed) return;
    this.device.receiveDatagram(data, from, now());
    this.requestSchedule();
  }

  /** See WireGuardDevice.probe: a handshake to the endpoint and every candidate, now. */
  probe(publicKey: Uint8Array | string): void {
    this.device.probe(publicKey, now());
    this.requestSchedule();
  }

  private sendDatagram(data: Uint8Array, to: Endpoint): void {
    if (this.closed) {
      this.closedDrops++;
      return;
    }
    if (to.address === this.virtualAddress) {
      this.virtualSend!(data, to);
      return;
    }
    const sender = to.address.includes(':') ? this.sender6 : this.sender4;
    if (sender === undefined) this.noSocketDrops++;
    else sender.send(data, to);
  }

  /**
   * Re-arms the timer once per event-loop turn rather than per datagram: pollAt() looks at every peer,
   * and a burst of datagrams arrives in one turn.
   */
  private requestSchedule(): void {
    if (this.schedulePending || this.closed) return;
    this.schedulePending = true;
    setImmediate(this.runSchedule);
  }

  /** Arms the single timer at the device's next deadline (only if earlier than the one already armed). */
  private schedule(): void {
    if (this.closed) return;
    const at = this.device.pollAt();
    if (at === undefined || at >= this.armedAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(at - now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    if (this.closed) return;
    this.device.poll(now());
    this.schedule();
  }
}

function bind(sock: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', onError);
      // After bind, socket errors (i.e. ICMP unreachable on some platforms) must not crash the process.
      sock.on('error', () => {});
      resolve();
    });
  });
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
