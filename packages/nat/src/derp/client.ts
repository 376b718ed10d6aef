// SPDX-License-Identifier: Apache-2.0
// A DERP relay client (Tailscale's protocol, see frames.ts): one TCP (or TLS) connection to a relay,
// upgraded from `GET /derp`, logged in with a Curve25519 key (a WireGuard device uses its WireGuard key).
// Packets go out as SendPacket frames to a peer's key and come in as RecvPacket frames from one. When the
// connection drops it is made again after an exponential backoff (1 s doubling to 30 s, full jitter).
// A relay that goes silent without closing the connection (its host died, a firewall now drops the
// flow) would hold a 'ready' client for as long as TCP retransmits, so a connection on which nothing
// arrived for DERP_PING_INTERVAL_MS gets a Ping, and one that then stays silent for DERP_PING_TIMEOUT_MS
// more is given up like a closed one (derper and ours answer pings with a Pong).
// State: 'connecting' -> 'ready' -> ('backoff' -> 'connecting' ...) | 'closed'.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { openFrom, publicKeyOf, sealTo } from './box.js';
import {
  DERP_MAGIC,
  DERP_PROTOCOL_VERSION,
  encodeFrame,
  equalBytes,
  FRAME_CLIENT_INFO,
  FRAME_PEER_GONE,
  FRAME_PING,
  FRAME_PONG,
  FRAME_RECV_PACKET,
  FRAME_SEND_PACKET,
  FRAME_SERVER_INFO,
  FRAME_SERVER_KEY,
  FrameReader,
  KEY_SIZE,
  MAX_PACKET_SIZE,
  NONCE_SIZE,
  PING_SIZE,
} from './frames.js';

export const DERP_RECONNECT_INITIAL_MS = 1000;
export const DERP_RECONNECT_MAX_MS = 30_000;
/** Bytes waiting in our socket beyond which packets are dropped rather than queued. */
export const DERP_CLIENT_QUEUE_BYTES = 4 * 1024 * 1024;
/** Quiet time (nothing received) after which the relay is pinged. */
export const DERP_PING_INTERVAL_MS = 4000;
/** Time after a ping with nothing received at all before the connection is given up. */
export const DERP_PING_TIMEOUT_MS = 4000;
/** Time from dialling to logged in (a dropped SYN would otherwise wait for the kernel, ~2 min). */
export const DERP_CONNECT_TIMEOUT_MS = 10_000;
const MAX_HTTP_HEAD = 16 * 1024;

export type DerpClientState = 'connecting' | 'ready' | 'backoff' | 'closed';

export interface DerpClientOptions {
  /** `https://relay.example:443/derp` or `http://...` (tests, derper -dev). */
  url: string;
  privateKey: Uint8Array;
  /** PEM CA bundle to verify the relay's certificate with (default: the system's). */
  ca?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** Called for every packet relayed to us; `data` is valid during the call only. */
  onPacket(source: Uint8Array, data: Uint8Array): void;
  /** Called on every state change (i.e. re-apply routes once ready). */
  onState?(state: DerpClientState, detail?: string): void;
  /** A peer we sent to is gone from the relay (reason 0 disconnected, 1 not here). */
  onPeerGone?(peer: Uint8Array, reason: number): void;
  /** Dead-relay detection (see the top of this file); defaults DERP_PING_INTERVAL_MS etc. */
  liveness?: { intervalMs: number; timeoutMs: number; connectTimeoutMs?: number };
}

export interface DerpClientCounters {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Dropped because not connected or the socket was backed up. */
  packetsDropped: number;
  connects: number;
  /** Connections given up because the relay stopped answering (see liveness). */
  silentDrops: number;
}

export class DerpClient {
  readonly publicKey: Uint8Array;
  readonly counters: DerpClientCounters = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    packetsDropped: 0,
    connects: 0,
    silentDrops: 0,
  };
  /** The relay's key, learnt from its ServerKey frame. */
  serverKey: Uint8Array | undefined = undefined;
  readonly #opts: DerpClientOptions;
  readonly #url: URL;
  #state: DerpClientState = 'connecting';
  #socket: net.Socket | undefined = undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #ready: { promise: Promise<void>; resolve: () => void };
  /** performance.now() of the last bytes received, and of the outstanding ping (0 = none). */
  #lastRx = 0;
  #pingSentAt = 0;
  #liveness: NodeJS.Timeout | undefined = undefined;

  constructor(opts: DerpClientOptions) {
    this.#opts = opts;
    this.#url = new URL(opts.url);
    this.publicKey = publicKeyOf(opts.privateKey);
    let resolve!: () => void;
    this.#ready = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    this.#ready.resolve = resolve;
    this.#connect();
  }

  get state(): DerpClientState {
    return this.#state;
  }

  get url(): string {
    return this.#url.href;
  }

  /** Resolves once logged in the first time. */
  ready(): Promise<void> {
    return this.#ready.promise;
  }

  /**
   * Relays `data` (i.e. one WireGuard datagram, at most 64 KiB) to the client with key `dst`. Dropped
   * when not connected or backed up, as a datagram would be; the caller keeps `data`.
   */
  send(dst: Uint8Array, data: Uint8Array): void {
    const s = this.#socket;
    if (
      this.#state !== 'ready' ||
      s === undefined ||
      data.length > MAX_PACKET_SIZE ||
      s.writableLength > DERP_CLIENT_QUEUE_BYTES
    ) {
      this.counters.packetsDropped++;
      return;
    }
    // One frame buffer per packet: the socket keeps it until written (the relay is the fallback path).
    s.write(encodeFrame(FRAME_SEND_PACKET, dst, data));
    this.counters.packetsSent++;
    this.counters.bytesSent += data.length;
  }

  close(): void {
    this.#setState('closed');
    clearTimeout(this.#timer);
    clearInterval(this.#liveness);
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #setState(s: DerpClientState, detail?: string): void {
    if (this.#state === 'closed') return;
    this.#state = s;
    this.#opts.onState?.(s, detail);
  }

  #connect(): void {
    if (this.#state === 'closed') return;
    this.#setState('connecting');
    const u = this.#url;
    const secure = u.protocol === 'https:';
    const port = Number(u.port || (secure ? 443 : 80));
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const sock = secure
      ? tls.connect({
          host,
          port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          ...(this.#opts.ca ? { ca: this.#opts.ca } : {}),
          rejectUnauthorized: this.#opts.insecureSkipVerify !== true,
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host, port });
    this.#socket = sock;
    sock.setNoDelay(true);
    const connectMs = this.#opts.liveness?.connectTimeoutMs ?? DERP_CONNECT_TIMEOUT_MS;
    clearInterval(this.#liveness);
    this.#liveness = setTimeout(
      () => this.#lost(sock, `not logged in to the relay within ${connectMs} ms`),
      connectMs,
    ).unref();
    let head = '';
    let upgraded = false;
    const reader = new FrameReader(KEY_SIZE + MAX_PACKET_SIZE + 64);
    sock.once(secure ? 'secureConnect' : 'connect', () => {
      sock.write(
        `GET ${u.pathname || '/derp'} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n` +
          'User-Agent: nexodus-derp\r\n\r\n',
      );
    });
    sock.on('data', (chunk: Buffer) => {
      this.#lastRx = performance.now();
      let data: Uint8Array = chunk;
      if (!upgraded) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HTTP_HEAD) this.#lost(sock, 'HTTP response head too long');
          return;
        }
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
        if (status !== '101') {
          this.#lost(sock, `relay answered ${head.split('\r\n', 1)[0]} instead of 101 Switching Protocols`);
          return;
        }
        upgraded = true;
        data = Buffer.from(head.slice(end + 4), 'latin1');
        head = '';
      }
      const frames = reader.push(data);
      if (frames === 'too-large') {
        this.#lost(sock, 'frame too large');
        return;
      }
      for (const f of frames) if (!this.#frame(sock, f.type, f.payload)) return;
    });
    sock.on('error', (err) => this.#lost(sock, err.message));
    sock.on('close', () => this.#lost(sock, 'connection closed'));
  }

  /** One frame; false when the connection was given up. */
  #frame(sock: net.Socket, type: number, p: Uint8Array): boolean {
    switch (type) {
      case FRAME_SERVER_KEY: {
        if (
          p.length < DERP_MAGIC.length + KEY_SIZE ||
          !equalBytes(p.subarray(0, DERP_MAGIC.length), DERP_MAGIC)
        ) {
          this.#lost(sock, 'bad server greeting');
          return false;
        }
        this.serverKey = Uint8Array.from(p.subarray(DERP_MAGIC.length, DERP_MAGIC.length + KEY_SIZE));
        const info = new TextEncoder().encode(
          JSON.stringify({ version: DERP_PROTOCOL_VERSION, CanAckPings: true }),
        );
        sock.write(
          encodeFrame(FRAME_CLIENT_INFO, this.publicKey, sealTo(this.#opts.privateKey, this.serverKey, info)),
        );
        return true;
      }
      case FRAME_SERVER_INFO: {
        if (!this.serverKey || p.length < NONCE_SIZE || !openFrom(this.#opts.privateKey, this.serverKey, p)) {
          this.#lost(sock, 'bad server info');
          return false;
        }
        this.#attempt = 0;
        this.counters.connects++;
        this.#watch(sock);
        this.#setState('ready');
        this.#ready.resolve();
        return true;
      }
      case FRAME_RECV_PACKET:
        if (p.length < KEY_SIZE) return true;
        this.counters.packetsReceived++;
        this.counters.bytesReceived += p.length - KEY_SIZE;
        this.#opts.onPacket(p.subarray(0, KEY_SIZE), p.subarray(KEY_SIZE));
        return true;
      case FRAME_PING:
        if (p.length >= PING_SIZE) sock.write(encodeFrame(FRAME_PONG, p.subarray(0, PING_SIZE)));
        return true;
      case FRAME_PEER_GONE:
        if (p.length >= KEY_SIZE) this.#opts.onPeerGone?.(p.subarray(0, KEY_SIZE), p[KEY_SIZE] ?? 0);
        return true;
      default:
        // KeepAlive, Health, Restarting and frames of newer servers.
        return true;
    }
  }

  /** Pings a quiet relay and gives up a silent one (see DERP_PING_INTERVAL_MS). */
  #watch(sock: net.Socket): void {
    const { intervalMs, timeoutMs } = this.#opts.liveness ?? {
      intervalMs: DERP_PING_INTERVAL_MS,
      timeoutMs: DERP_PING_TIMEOUT_MS,
    };
    this.#pingSentAt = 0;
    clearInterval(this.#liveness);
    this.#liveness = setInterval(
      () => {
        if (this.#socket !== sock) return;
        const now = performance.now();
        if (this.#pingSentAt !== 0 && this.#lastRx < this.#pingSentAt) {
          if (now - this.#pingSentAt < timeoutMs) return;
          this.counters.silentDrops++;
          this.#lost(sock, `no answer from the relay for ${Math.round(now - this.#lastRx)} ms`);
          return;
        }
        this.#pingSentAt = 0;
        if (now - this.#lastRx < intervalMs) return;
        this.#pingSentAt = now;
        sock.write(encodeFrame(FRAME_PING, randomBytes(PING_SIZE)));
      },
      Math.max(10, Math.min(intervalMs, timeoutMs) / 4),
    ).unref();
  }

  #lost(sock: net.Socket, why: string): void {
    if (this.#socket !== sock) return;
    clearInterval(this.#liveness);
    this.#liveness = undefined;
    this.#socket = undefined;
    sock.destroy();
    if (this.#state === 'closed') return;
    const ceiling = Math.min(DERP_RECONNECT_MAX_MS, DERP_RECONNECT_INITIAL_MS * 2 ** this.#attempt);
    this.#attempt++;
    this.#setState('backoff', why);
    this.#timer = setTimeout(() => this.#connect(), Math.floor(Math.random() * ceiling) + 100).unref();
  }
}
