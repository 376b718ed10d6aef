// SPDX-License-Identifier: Apache-2.0
// The device state that send.ts, receive.ts and timers.ts operate on. WireGuardDevice owns one; it is
// not exported from the package, so the public surface stays WireGuardDevice's methods.
import type { AllowedIps } from './allowed-ips.js';
import type { TimerConstants } from './constants.js';
import type { CookieChecker } from './cookie.js';
import type { IndexTable } from './index-table.js';
import type { LocalStatic } from './noise.js';
import type { Endpoint, Peer } from './peer.js';
import type { RateLimiter } from './ratelimiter.js';

/** Counters of received datagrams and packets dropped, by reason. Each drop increments exactly one. */
export interface DropCounters {
  /** Too short, wrong size for its type, unknown type, or an inner packet that is not IPv4/IPv6. */
  malformed: number;
  /** mac1 of a handshake message or the authentication of a cookie reply failed. */
  mac: number;
  /** Handshake messages refused under load for lack of a valid mac2 (a cookie reply was sent instead). */
  cookie: number;
  /** A handshake message that failed to decrypt or was for a handshake no longer in flight. */
  handshake: number;
  /** An initiation from a static key that is not a configured peer. */
  unknownPeer: number;
  /** An initiation whose timestamp was not newer than the last one (replay) or came too soon (flood). */
  staleInitiation: number;
  /** A transport message for a receiver index we do not have. */
  unknownIndex: number;
  /** A transport message whose counter was replayed, too old or beyond REJECT_AFTER_MESSAGES. */
  replay: number;
  /** A transport message that failed authentication. */
  decrypt: number;
  /** A transport message on a key pair older than REJECT_AFTER_TIME. */
  expired: number;
  /** A decrypted packet whose source address is not in the sending peer's allowed IPs. */
  allowedIps: number;
  /** A handshake message under load from a source address over its rate (it had a valid mac2). */
  rateLimited: number;
}

/**
 * Counters of outgoing IP packets the device dropped, by reason (the receive side's DropCounters, for
 * sends). Each dropped packet increments exactly one; WireGuardNode adds the socket's reasons.
 */
export interface SendDropCounters {
  /** No peer's allowed IPs hold the destination (wireguard-go drops these too, silently). */
  noRoute: number;
  /** Empty, not IPv4/IPv6, or shorter than its IP header. */
  malformed: number;
  /** Longer than MAX_CONTENT_SIZE: no transport message can carry it. */
  tooLarge: number;
  /** A staged packet pushed out because MAX_STAGED_PACKETS were already waiting for a handshake. */
  stagedOverflow: number;
  /** Staged packets discarded when the handshake gave up (REKEY_ATTEMPT_TIME without a response). */
  handshakeTimeout: number;
  /** Staged packets discarded with their peer (removePeer). */
  peerRemoved: number;
}

export function newDropCounters(): DropCounters {
  return {
    malformed: 0,
    mac: 0,
    cookie: 0,
    handshake: 0,
    unknownPeer: 0,
    staleInitiation: 0,
    unknownIndex: 0,
    replay: 0,
    decrypt: 0,
    expired: 0,
    allowedIps: 0,
    rateLimited: 0,
  };
}

export function newSendDropCounters(): SendDropCounters {
  return { noRoute: 0, malformed: 0, tooLarge: 0, stagedOverflow: 0, handshakeTimeout: 0, peerRemoved: 0 };
}

export interface DeviceOutput {
  /** Send one UDP datagram. The callee must not keep `data` after returning (copy it if queued). */
  sendDatagram(data: Uint8Array, to: Endpoint): void;
  /**
   * Deliver one decrypted IP packet from `peer` (its base64 public key). `packet` is a view into the
   * received datagram, valid only during the call.
   */
  deliverPacket(packet: Uint8Array, peer: string): void;
}

export interface DeviceContext {
  readonly local: LocalStatic;
  readonly output: DeviceOutput;
  readonly random: (b: Uint8Array) => void;
  readonly timers: TimerConstants;
  /** Tunnel MTU that caps padding (0 = pad to 16 always), i.e. 1420. */
  readonly mtu: number;
  /** Fill the TCP checksum of outgoing packets before sealing (DeviceOptions.tcpChecksumOffload). */
  readonly tcpChecksumOffload: boolean;
  readonly checker: CookieChecker;
  /** Per-source handshake rate limit, applied under load only. */
  readonly limiter: RateLimiter;
  readonly index: IndexTable<Peer>;
  readonly routes: AllowedIps<Peer>;
  readonly drops: DropCounters;
  readonly sendDrops: SendDropCounters;
  readonly peersByKey: Map<string, Peer>;
  /** Preallocated datagram buffer for transport messages (MAX_DATAGRAM_SIZE bytes). */
  readonly sendBuffer: Uint8Array;
  /** Reused 12-byte transport nonce: 4 zero bytes then the 64-bit little-endian counter. */
  readonly sendNonce: Uint8Array;
  readonly recvNonce: Uint8Array;
  /** Random bytes for timer jitter, refilled when used up (used = bytes consumed). */
  readonly jitterPool: { bytes: Uint8Array; used: number };
  /** Views of sendBuffer for the last padded length (content, tag, whole datagram), reused while the length repeats. */
  readonly sendViews: { padded: number; content: Uint8Array; tag: Uint8Array; datagram: Uint8Array };
  /** Handshake-load accounting for the cookie mechanism; see receive.ts underLoad(). */
  load: { windowStart: number; count: number; underLoadUntil: number; threshold: number };
}
