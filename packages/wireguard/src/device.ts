// SPDX-License-Identifier: Apache-2.0
// WireGuardDevice: the pure core. It owns no socket, clock or randomness: datagrams come in through
// receiveDatagram(data, from, now), IP packets through sendPacket(packet, now), time through poll(now),
// and everything it emits goes to the `output` callbacks. pollAt() says when poll() is next needed.
import { AllowedIps } from './allowed-ips.js';
import {
  AEAD_NONCE_SIZE,
  DEFAULT_COOKIE_LOAD_THRESHOLD,
  DEFAULT_MTU,
  DEFAULT_TIMERS,
  JITTER_POOL_SIZE,
  MAX_CONTENT_SIZE,
  MAX_DATAGRAM_SIZE,
  MAX_PEERS,
  type TimerConstants,
} from './constants.js';
import {
  type DeviceContext,
  type DeviceOutput,
  type DropCounters,
  newDropCounters,
  newSendDropCounters,
  type SendDropCounters,
} from './context.js';
import { CookieChecker } from './cookie.js';
import { tcpChecksumOffloadAvailable } from './crypto.js';
import { WireGuardError } from './errors.js';
import { IndexTable } from './index-table.js';
import { type Cidr, parseCidr, parseIp } from './ip.js';
import { encodeKey, toKey } from './keys.js';
import { localStatic } from './noise.js';
import { type Endpoint, Peer } from './peer.js';
import { RateLimiter } from './ratelimiter.js';
import { receiveDatagram } from './receive.js';
import { type SendResult, sendInitiation, sendKeepalive, sendPacket } from './send.js';
import { expireTimers, timersAnyAuthenticatedPacketTraversal } from './timers.js';

export interface DeviceOptions {
  /** Our private key, 32 bytes or `wg genkey` base64. */
  privateKey: Uint8Array | string;
  /** Fills a buffer with cryptographically secure random bytes (ephemeral keys, indices, jitter, cookies). */
  random: (b: Uint8Array) => void;
  output: DeviceOutput;
  /** Overrides of the paper's timer constants, i.e. { rekeyAfterTime: 3000 } for a rekey test. */
  timers?: Partial<TimerConstants>;
  /**
   * Handshake messages per second processed without cookies; beyond it the device is under load and
   * demands mac2 (answering with cookie replies). 0 = always demand cookies. Default 64.
   */
  cookieLoadThreshold?: number;
  /**
   * The tunnel MTU (inner IP packet size) the padding must not exceed; default 1420, as wg-quick and
   * nexd use. 0 = always pad to a multiple of 16.
   */
  mtu?: number;
  /**
   * TX checksum offload, as a NIC offers it: IP packets given to sendPacket may leave their TCP checksum
   * unset, and the device fills it in just before sealing (Linux's wireguard does this for
   * CHECKSUM_PARTIAL packets). Needs the native AEAD (@nexodus/native); see tcpChecksumOffloadAvailable.
   */
  tcpChecksumOffload?: boolean;
}

export interface PeerConfig {
  /** The peer's public key, 32 bytes or base64. */
  publicKey: Uint8Array | string;
  /** Optional preshared key (`wg genpsk`), 32 bytes or base64. */
  presharedKey?: Uint8Array | string;
  /** Where to send first; updated by roaming. IPv6 without brackets. */
  endpoint?: Endpoint;
  /**
   * Other addresses the peer may be reached at (i.e. its LAN address, its reflexive address behind NAT, a
   * relay). Every handshake initiation goes to the endpoint AND to each candidate; whichever path the
   * response comes back on becomes the endpoint (roaming), so the first path to answer wins. Two peers
   * that do this at the same time open endpoint-independent NATs for each other (hole punching).
   */
  candidates?: Endpoint[];
  /** CIDRs routed to this peer and accepted as inner source addresses from it, i.e. ['10.0.0.2/32']. */
  allowedIps: string[];
  /** Seconds between keepalives sent even when idle, 0 or undefined = off. */
  persistentKeepalive?: number;
}

/** Like PeerConfig, but only publicKey is required: absent fields stay as they are. */
export type PeerUpdate = Partial<PeerConfig> & { publicKey: Uint8Array | string };

/** One row of `wg show`. */
export interface PeerStatus {
  publicKey: string;
  endpoint?: Endpoint;
  /** Time (ms, the device's clock) of the latest completed handshake. */
  latestHandshake?: number;
  rxBytes: number;
  txBytes: number;
  allowedIps: string[];
  persistentKeepalive?: number;
}

/** Name of a peer in deliverPacket and status: its base64 public key. */
export type PeerStatusKey = string;

export class WireGuardDevice {
  readonly publicKey: Uint8Array;
  private readonly ctx: DeviceContext;

  constructor(opts: DeviceOptions) {
    if (typeof opts?.random !== 'function') {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        'WireGuardDevice needs `random(buf)`, a secure random source',
      );
    }
    if (typeof opts.output?.sendDatagram !== 'function' || typeof opts.output?.deliverPacket !== 'function') {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        'WireGuardDevice needs `output: { sendDatagram(data, to), deliverPacket(packet, peer) }`',
      );
    }
    const timers: TimerConstants = { ...DEFAULT_TIMERS, ...stripUndefined(opts.timers ?? {}) };
    for (const [name, value] of Object.entries(timers)) {
      if (!(typeof value === 'number' && value >= 0)) {
        throw new WireGuardError(
          'WG_ERR_BAD_CONFIG',
          `timer ${name} must be a non-negative number, got ${value}`,
        );
      }
    }
    const threshold = opts.cookieLoadThreshold ?? DEFAULT_COOKIE_LOAD_THRESHOLD;
    if (!(Number.isInteger(threshold) && threshold >= 0)) {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        `cookieLoadThreshold must be an integer >= 0, got ${threshold}`,
      );
    }
    const mtu = opts.mtu ?? DEFAULT_MTU;
    if (!(Number.isInteger(mtu) && mtu >= 0 && mtu <= MAX_CONTENT_SIZE)) {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        `mtu must be an integer 0..${MAX_CONTENT_SIZE}, got ${opts.mtu}`,
      );
    }
    if (opts.tcpChecksumOffload && !tcpChecksumOffloadAvailable) {
      throw new WireGuardError(
        'WG_ERR_BAD_CONFIG',
        'tcpChecksumOffload needs the native AEAD of @nexodus/native, which is not built here; leave it off',
      );
    }
    const privateKey = toKey(opts.privateKey, 'private key');
    const local = localStatic(privateKey);
    const sendBuffer = new Uint8Array(MAX_DATAGRAM_SIZE);
    this.publicKey = local.publicKey;
    this.ctx = {
      local,
      output: opts.output,
      random: opts.random,
      timers,
      mtu,
      tcpChecksumOffload: opts.tcpChecksumOffload === true,
      checker: new CookieChecker(local.publicKey, opts.random, timers.cookieRefreshTime),
      limiter: new RateLimiter(),
      index: new IndexTable<Peer>(opts.random),
      routes: new AllowedIps<Peer>(),
      drops: newDropCounters(),
      sendDrops: newSendDropCounters(),
      peersByKey: new Map(),
      sendBuffer,
      sendNonce: new Uint8Array(AEAD_NONCE_SIZE),
      recvNonce: new Uint8Array(AEAD_NONCE_SIZE),
      jitterPool: { bytes: new Uint8Array(JITTER_POOL_SIZE), used: JITTER_POOL_SIZE },
      sendViews: { padded: -1, content: sendBuffer, tag: sendBuffer, datagram: sendBuffer },
      load: {
        windowStart: Number.NEGATIVE_INFINITY,
        count: 0,
        underLoadUntil: Number.NEGATIVE_INFINITY,
        threshold,
      },
    };
  }

  /** Receive drop counters by reason (live object; read, do not write). */
  get drops(): Readonly<DropCounters> {
    return this.ctx.drops;
  }

  /** Send drop counters by reason: IP packets sendPacket refused or dropped later (live object; read only). */
  get sendDrops(): Readonly<SendDropCounters> {
    return this.ctx.sendDrops;
  }

  /** Number of receiver indices in use (handshakes in flight + key pairs); bounded by 4 per peer. */
  get indexCount(): number {
    return this.ctx.index.size;
  }

  /**
   * Adds a peer. With a persistent keepalive, an endpoint and `now`, it starts the session at once
   * (a keepalive, hence a handshake), as wireguard-go and the kernel do, so a peer behind NAT connects
   * without waiting for traffic.
   */
  addPeer(cfg: PeerConfig, now?: number): void {
    const publicKey = toKey(cfg?.publicKey, 'peer public key');
    const key = encodeKey(publicKey);
    if (this.ctx.peersByKey.has(key)) {
      throw new WireGuardError(
        'WG_ERR_DUPLICATE_PEER',
        `peer ${key} already exists; use updatePeer to change it`,
      );
    }
    if (this.ctx.peersByKey.size >= MAX_PEERS) {
      throw new WireGuardError('WG_ERR_BAD_CONFIG', `too many peers (limit ${MAX_PEERS})`);
    }
    const cidrs = parseCidrs(cfg.allowedIps ?? []);
    const endpoint = cfg.endpoint === undefined ? undefined : checkEndpoint(cfg.endpoint);
    const candidates = (cfg.candidates ?? []).map(checkEndpoint);
    const keepalive = checkKeepalive(cfg.persistentKeepalive);
    const psk = cfg.presharedKey === undefined ? undefined : toKey(cfg.presharedKey, 'preshared key');
    const peer = new Peer(this.ctx.local, publicKey, key, psk, this.ctx.timers.cookieRefreshTime);
    peer.endpoint = endpoint;
    peer.candidates = candidates;
    peer.persistentKeepalive = keepalive;
    this.ctx.peersByKey.set(key, peer);
    for (const c of cidrs) this.ctx.routes.insert(c, peer);
    if (keepalive > 0 && (endpoint !== undefined || candidates.length > 0) && now !== undefined)
      sendKeepalive(this.ctx, peer, now);
  }

  /** Changes the given fields of an existing peer; allowedIps, when given, replaces the whole list. */
  updatePeer(update: PeerUpdate, now?: number): void {
    const peer = this.peer(update?.publicKey);
    const cidrs = update.allowedIps === undefined ? undefined : parseCidrs(update.allowedIps);
    const endpoint = update.endpoint === undefined ? undefined : checkEndpoint(update.endpoint);
    const candidates = update.candidates === undefined ? undefined : update.candidates.map(checkEndpoint);
    const keepalive =
      update.persistentKeepalive === undefined ? undefined : checkKeepalive(update.persistentKeepalive);
    const psk = update.presharedKey === undefined ? undefined : toKey(update.presharedKey, 'preshared key');
    if (cidrs) {
      this.ctx.routes.removeValue(peer);
      for (const c of cidrs) this.ctx.routes.insert(c, peer);
    }
    if (endpoint) peer.endpoint = endpoint;
    if (candidates) peer.candidates = candidates;
    if (psk) peer.handshake.presharedKey = psk;
    if (keepalive !== undefined) {
      const wasOff = peer.persistentKeepalive === 0;
      peer.persistentKeepalive = keepalive;
      if (keepalive === 0) peer.timers.disarm('persistentKeepalive');
      // Turning it on sends one at once, as `wg set ... persistent-keepalive` does.
      else if (wasOff && now !== undefined) sendKeepalive(this.ctx, peer, now);
      else if (now !== undefined) timersAnyAuthenticatedPacketTraversal(peer, now);
    }
  }

  removePeer(publicKey: Uint8Array | string): void {
    const peer = this.peer(publicKey);
    peer.zeroKeyMaterial(this.ctx.index);
    peer.timers.disarmAll();
    this.ctx.sendDrops.peerRemoved += peer.discardStaged();
    this.ctx.routes.removeValue(peer);
    this.ctx.peersByKey.delete(peer.key);
  }

  /**
   * Handles one received UDP datagram. `data` is decrypted in place (overwritten) and not kept after
   * return; delivered packets are views into it. Bad input is counted in `drops`, never thrown.
   */
  receiveDatagram(data: Uint8Array, from: Endpoint, now: number): void {
    receiveDatagram(this.ctx, data, from, now);
  }

  /**
   * Encrypts and sends one IP packet to the peer whose allowed IPs hold its destination. 'queued' means
   * it waits (a copy, bounded) for a handshake. `ipPacket` is not kept.
   */
  sendPacket(ipPacket: Uint8Array, now: number): SendResult {
    return sendPacket(this.ctx, ipPacket, now);
  }

  /** Runs the timers due at `now`. Call at (or after) pollAt(). */
  poll(now: number): void {
    for (const peer of this.ctx.peersByKey.values()) {
      if (peer.timers.next() <= now) expireTimers(this.ctx, peer, now);
    }
  }

  /** The next absolute deadline (ms) at which poll() has work, or undefined when no timer is armed. */
  pollAt(): number | undefined {
    let at = Infinity;
    for (const peer of this.ctx.peersByKey.values()) {
      const t = peer.timers.next();
      if (t < at) at = t;
    }
    return at === Infinity ? undefined : at;
  }

  /** Per-peer status like `wg show`. */
  status(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const peer of this.ctx.peersByKey.values()) {
      const s: PeerStatus = {
        publicKey: peer.key,
        rxBytes: peer.rxBytes,
        txBytes: peer.txBytes,
        allowedIps: this.ctx.routes.entriesFor(peer),
      };
      if (peer.endpoint) s.endpoint = { ...peer.endpoint };
      if (peer.latestHandshake !== undefined) s.latestHandshake = peer.latestHandshake;
      if (peer.persistentKeepalive > 0) s.persistentKeepalive = peer.persistentKeepalive;
      out.push(s);
    }
    return out;
  }

  /**
   * Brings the tunnel to a peer up now: a keepalive on the current session, or, without one, a new
   * handshake. An explicit call is not held back by the REKEY_TIMEOUT spacing of automatic initiations
   * (i.e. when an earlier initiation went to a peer that did not know us yet).
   */
  connect(publicKey: Uint8Array | string, now: number): void {
    const peer = this.peer(publicKey);
    const kp = peer.keypairs.current;
    if (kp === undefined || now - kp.created >= this.ctx.timers.rejectAfterTime) {
      peer.lastSentHandshake = Number.NEGATIVE_INFINITY;
    }
    sendKeepalive(this.ctx, peer, now);
  }

  /**
   * Sends a handshake initiation now, to the endpoint and every candidate, even while the session is
   * fresh: a path that opened since (i.e. a direct one while the relay carries the traffic) answers
   * first and takes over. Initiations stay REKEY_TIMEOUT apart; the current session keeps working.
   */
  probe(publicKey: Uint8Array | string, now: number): void {
    const peer = this.peer(publicKey);
    sendInitiation(this.ctx, peer, now, false);
  }

  private peer(publicKey: Uint8Array | string | undefined): Peer {
    const key = encodeKey(toKey(publicKey as Uint8Array | string, 'peer public key'));
    const peer = this.ctx.peersByKey.get(key);
    if (!peer)
      throw new WireGuardError('WG_ERR_UNKNOWN_PEER', `no peer with public key ${key}; add it first`);
    return peer;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseCidrs(list: string[]): Cidr[] {
  if (!Array.isArray(list)) {
    throw new WireGuardError(
      'WG_ERR_BAD_CIDR',
      'allowedIps must be an array of CIDR strings, i.e. ["10.0.0.2/32"]',
    );
  }
  return list.map((text) => {
    const c = parseCidr(text);
    if (!c) {
      throw new WireGuardError(
        'WG_ERR_BAD_CIDR',
        `invalid allowed IP ${JSON.stringify(text)}: expected address/prefix, i.e. 10.0.0.0/24 or fd00::/64`,
      );
    }
    return c;
  });
}

function checkEndpoint(e: Endpoint): Endpoint {
  if (
    !e ||
    typeof e.address !== 'string' ||
    !parseIp(e.address) ||
    !Number.isInteger(e.port) ||
    e.port < 1 ||
    e.port > 65535
  ) {
    throw new WireGuardError(
      'WG_ERR_BAD_ENDPOINT',
      `invalid endpoint ${JSON.stringify(e)}: expected { address: IP literal (IPv6 without brackets), port: 1..65535 }`,
    );
  }
  return { address: e.address, port: e.port };
}

function checkKeepalive(v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    throw new WireGuardError(
      'WG_ERR_BAD_CONFIG',
      `persistentKeepalive must be whole seconds 0..65535, got ${v}`,
    );
  }
  return v;
}
