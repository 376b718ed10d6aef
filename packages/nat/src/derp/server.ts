// SPDX-License-Identifier: Apache-2.0
// A DERP relay server (Tailscale's protocol, see frames.ts) on a Node HTTP or HTTPS server: `GET /derp`
// with `Upgrade: DERP` is taken over, and from then on the connection carries frames. Clients are keyed
// by the Curve25519 key they proved in ClientInfo (a box only the key's owner can seal), so nobody can
// receive packets addressed to another key. Packets to a key that is not connected get PeerGone
// (not here); a receiver whose socket is backed up loses packets instead of growing a queue without
// bound (the tunnelled TCP recovers, as from loss on a wire). One timer serves every connection's
// keepalive. Connection state: 'login' (waiting for ClientInfo) -> 'ready' -> 'closed'.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { openFrom, publicKeyOf, sealTo } from './box.js';
import {
  DERP_MAGIC,
  DERP_PROTOCOL_VERSION,
  encodeFrame,
  FRAME_CLIENT_INFO,
  FRAME_KEEP_ALIVE,
  FRAME_PEER_GONE,
  FRAME_PING,
  FRAME_PONG,
  FRAME_RECV_PACKET,
  FRAME_SEND_PACKET,
  FRAME_SERVER_INFO,
  FRAME_SERVER_KEY,
  FrameReader,
  KEY_SIZE,
  MAX_INFO_SIZE,
  MAX_PACKET_SIZE,
  NONCE_SIZE,
  PEER_GONE_DISCONNECTED,
  PEER_GONE_NOT_HERE,
  PING_SIZE,
  toHex,
} from './frames.js';

/** Time a client has to send ClientInfo after the upgrade. */
export const DERP_LOGIN_TIMEOUT_MS = 10_000;
/** derp.KeepAlive: a keepalive frame to every client this often. */
export const DERP_KEEPALIVE_MS = 60_000;
/** Bytes queued to one receiver beyond which packets to it are dropped. */
export const DERP_SEND_QUEUE_BYTES = 4 * 1024 * 1024;
const BOX_OVERHEAD = 16;

export interface DerpServerCounters {
  accepted: number;
  loggedIn: number;
  packetsForwarded: number;
  bytesForwarded: number;
  /** Dropped because the receiver's socket was backed up. */
  packetsDropped: number;
  /** To a key that is not connected. */
  packetsNoPeer: number;
  /** Connections closed for bad frames, bad login or a bad upgrade. */
  protocolErrors: number;
}

type ConnState = 'login' | 'ready' | 'closed';

class Conn {
  state: ConnState = 'login';
  key: Uint8Array | undefined = undefined;
  keyHex = '';
  /** Clients this one sent packets to: they get PeerGone when it leaves. */
  readonly sentTo = new Set<Conn>();
  readonly reader = new FrameReader(KEY_SIZE + NONCE_SIZE + BOX_OVERHEAD + MAX_INFO_SIZE);
  loginTimer: NodeJS.Timeout | undefined = undefined;

  constructor(readonly socket: Socket) {}
}

export interface DerpServerOptions {
  /** The server's Curve25519 private key (32 bytes); a random one per process is fine. */
  privateKey: Uint8Array;
  /** The upgrade path; default `/derp`. */
  path?: string;
}

export class DerpServer {
  readonly counters: DerpServerCounters = {
    accepted: 0,
    loggedIn: 0,
    packetsForwarded: 0,
    bytesForwarded: 0,
    packetsDropped: 0,
    packetsNoPeer: 0,
    protocolErrors: 0,
  };
  readonly publicKey: Uint8Array;
  readonly #privateKey: Uint8Array;
  readonly #path: string;
  readonly #clients = new Map<string, Conn>();
  readonly #conns = new Set<Conn>();
  readonly #keepalive: NodeJS.Timeout;
  readonly #keepaliveFrame = encodeFrame(FRAME_KEEP_ALIVE);

  constructor(opts: DerpServerOptions) {
    this.#privateKey = opts.privateKey;
    this.publicKey = publicKeyOf(opts.privateKey);
    this.#path = opts.path ?? '/derp';
    this.#keepalive = setInterval(() => {
      for (const c of this.#conns) if (c.state === 'ready') c.socket.write(this.#keepaliveFrame);
    }, DERP_KEEPALIVE_MS).unref();
  }

  /** Connected clients (logged in), by hex key. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Serves DERP on `server`: upgrades on the path, 426 for plain requests to it, /derp/probe answers 200. */
  attach(server: HttpServer): void {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    server.on('request', (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === `${this.#path}/probe` || path === `${this.#path}/latency-check`) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end();
        return;
      }
      if (path === this.#path) {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('DERP requires connection upgrade\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
  }

  close(): void {
    clearInterval(this.#keepalive);
    for (const c of [...this.#conns]) this.#drop(c, false);
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {});
    const path = (req.url ?? '').split('?')[0];
    const up = String(req.headers.upgrade ?? '').toLowerCase();
    if (path !== this.#path || up !== 'derp') {
      this.counters.protocolErrors++;
      socket.end('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.counters.accepted++;
    socket.setNoDelay(true);
    const c = new Conn(socket);
    this.#conns.add(c);
    // With Derp-Fast-Start the client wants no HTTP response, only frames.
    if (req.headers['derp-fast-start'] !== '1') {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n' +
          `Derp-Version: ${DERP_PROTOCOL_VERSION}\r\nDerp-Public-Key: ${toHex(this.publicKey)}\r\n\r\n`,
      );
    }
    socket.write(encodeFrame(FRAME_SERVER_KEY, DERP_MAGIC, this.publicKey));
    c.loginTimer = setTimeout(() => this.#fail(c), DERP_LOGIN_TIMEOUT_MS).unref();
    socket.on('data', (chunk: Buffer) => this.#data(c, chunk));
    socket.on('close', () => this.#drop(c, true));
    if (head.length > 0) this.#data(c, head);
  }

  #data(c: Conn, chunk: Uint8Array): void {
    if (c.state === 'closed') return;
    const frames = c.reader.push(chunk);
    if (frames === 'too-large') {
      this.#fail(c);
      return;
    }
    for (const f of frames) {
      if ((c.state as ConnState) === 'closed') return;
      if (c.state === 'login') {
        if (f.type !== FRAME_CLIENT_INFO || !this.#login(c, f.payload)) {
          this.#fail(c);
          return;
        }
        continue;
      }
      switch (f.type) {
        case FRAME_SEND_PACKET:
          if (f.payload.length < KEY_SIZE || f.payload.length > KEY_SIZE + MAX_PACKET_SIZE) {
            this.#fail(c);
            return;
          }
          this.#forward(c, f.payload);
          break;
        case FRAME_PING:
          if (f.payload.length >= PING_SIZE)
            c.socket.write(encodeFrame(FRAME_PONG, f.payload.subarray(0, PING_SIZE)));
          break;
        default:
          // NotePreferred, Pong, KeepAlive and frames of newer clients: nothing to do.
          break;
      }
    }
  }

  /** ClientInfo: the client's key and a box from it; the box proves it holds the key's private half. */
  #login(c: Conn, p: Uint8Array): boolean {
    if (p.length < KEY_SIZE + NONCE_SIZE + BOX_OVERHEAD) return false;
    const key = Uint8Array.from(p.subarray(0, KEY_SIZE));
    const info = openFrom(this.#privateKey, key, p.subarray(KEY_SIZE));
    if (info === undefined) return false;
    try {
      const v = JSON.parse(Buffer.from(info).toString('utf8')) as unknown;
      if (typeof v !== 'object' || v === null) return false;
    } catch {
      return false;
    }
    clearTimeout(c.loginTimer);
    c.key = key;
    c.keyHex = toHex(key);
    c.state = 'ready';
    // A second connection with the same key (a restarted client) replaces the first.
    const old = this.#clients.get(c.keyHex);
    if (old) this.#drop(old, false);
    this.#clients.set(c.keyHex, c);
    this.counters.loggedIn++;
    const serverInfo = new TextEncoder().encode(JSON.stringify({ version: DERP_PROTOCOL_VERSION }));
    c.socket.write(encodeFrame(FRAME_SERVER_INFO, sealTo(this.#privateKey, key, serverInfo)));
    return true;
  }

  #forward(src: Conn, p: Uint8Array): void {
    const dstKey = p.subarray(0, KEY_SIZE);
    const dst = this.#clients.get(toHex(dstKey));
    if (dst === undefined || dst.state !== 'ready') {
      this.counters.packetsNoPeer++;
      src.socket.write(encodeFrame(FRAME_PEER_GONE, dstKey, new Uint8Array([PEER_GONE_NOT_HERE])));
      return;
    }
    if (dst.socket.writableLength > DERP_SEND_QUEUE_BYTES) {
      this.counters.packetsDropped++;
      return;
    }
    src.sentTo.add(dst);
    const data = p.subarray(KEY_SIZE);
    dst.socket.write(encodeFrame(FRAME_RECV_PACKET, src.key!, data));
    this.counters.packetsForwarded++;
    this.counters.bytesForwarded += data.length;
  }

  #fail(c: Conn): void {
    this.counters.protocolErrors++;
    this.#drop(c, false);
  }

  #drop(c: Conn, closed: boolean): void {
    if (c.state === 'closed') return;
    const wasReady = c.state === 'ready';
    c.state = 'closed';
    clearTimeout(c.loginTimer);
    this.#conns.delete(c);
    if (wasReady && this.#clients.get(c.keyHex) === c) {
      this.#clients.delete(c.keyHex);
      for (const peer of c.sentTo) {
        if (peer.state === 'ready')
          peer.socket.write(encodeFrame(FRAME_PEER_GONE, c.key!, new Uint8Array([PEER_GONE_DISCONNECTED])));
      }
    }
    for (const other of this.#conns) other.sentTo.delete(c);
    if (!closed) c.socket.destroy();
  }
}
