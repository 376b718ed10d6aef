// SPDX-License-Identifier: Apache-2.0
// mac1/mac2 and cookie replies (section 5.4.4 and 5.4.7 of the paper, wireguard-go cookie.go).
// mac1 = MAC(HASH(LABEL_MAC1 || Spub_receiver), msg[0:offset(mac1)]) proves the sender knows our public
// key; mac2 = MAC(cookie, msg[0:offset(mac2)]) proves the sender received a cookie at its IP address,
// which a responder under load demands before doing any Diffie-Hellman.
import {
  AEAD_TAG_SIZE,
  COOKIE_REPLY_OFFSET_COOKIE,
  COOKIE_REPLY_OFFSET_NONCE,
  COOKIE_REPLY_OFFSET_RECEIVER,
  COOKIE_SIZE,
  KEY_SIZE,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  XAEAD_NONCE_SIZE,
} from './constants.js';
import { equalBytes, hash, mac, xaeadOpen, xaeadSeal } from './crypto.js';
import { parseIp } from './ip.js';
import { writeU32 } from './messages.js';

const utf8 = new TextEncoder();
const LABEL_MAC1_BYTES = utf8.encode(LABEL_MAC1);
const LABEL_COOKIE_BYTES = utf8.encode(LABEL_COOKIE);

export interface CookieEndpoint {
  address: string;
  port: number;
}

function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1_BYTES, publicKey);
}

function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE_BYTES, publicKey);
}

/** Offsets of mac1 and mac2 from the end of a handshake message: the macs are its last 32 bytes. */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: msg.length - 2 * MAC_SIZE, mac2: msg.length - MAC_SIZE };
}

/** Responder side, one per device: checks mac1/mac2 of handshake messages addressed to us and makes cookie replies. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly encryptionKey: Uint8Array;
  /** R_m: the secret the cookies are derived from; random, replaced every cookieRefreshTime. */
  private readonly secret = new Uint8Array(KEY_SIZE);
  private secretSetAt = Number.NEGATIVE_INFINITY;
  /** Incremented whenever R_m changes, so a remembered cookie is never one of an older secret. */
  private generation = 0;
  /** A_m scratch: source IP (4 or 16 bytes) then port; preallocated for the largest (IPv6) source. */
  private readonly source = new Uint8Array(16 + 2);
  /**
   * The last cookie computed, with its source and secret generation. Under load every refused
   * handshake needs the cookie twice (checkMac2, then createReply for the same source); this makes
   * the second one two comparisons instead of an address parse and a MAC.
   */
  private last: { address: string; port: number; generation: number; cookie: Uint8Array } | undefined =
    undefined;

  constructor(
    localPublic: Uint8Array,
    private readonly random: (b: Uint8Array) => void,
    private readonly refreshTime: number,
  ) {
    this.mac1Key = mac1Key(localPublic);
    this.encryptionKey = cookieKey(localPublic);
  }

  /** mac1 over everything before it, keyed with our public key. Always checked. */
  checkMac1(msg: Uint8Array): boolean {
    const { mac1 } = macOffsets(msg);
    return equalBytes(mac(this.mac1Key, msg.subarray(0, mac1)), msg.subarray(mac1, mac1 + MAC_SIZE));
  }

  /** mac2 against the cookie this source address would have been given. Checked only under load. */
  checkMac2(msg: Uint8Array, from: CookieEndpoint, now: number): boolean {
    const cookie = this.cookieFor(from, now);
    if (!cookie) return false;
    const { mac2 } = macOffsets(msg);
    return equalBytes(mac(cookie, msg.subarray(0, mac2)), msg.subarray(mac2, mac2 + MAC_SIZE));
  }

  /**
   * The cookie reply to handshake message `msg` from `from`: τ = MAC(R_m, A_m), encrypted with
   * XAEAD(HASH(LABEL_COOKIE || Spub_m), nonce, τ, msg.mac1) (section 5.4.7).
   */
  createReply(
    msg: Uint8Array,
    senderIndex: number,
    from: CookieEndpoint,
    now: number,
  ): Uint8Array | undefined {
    const cookie = this.cookieFor(from, now);
    if (!cookie) return undefined;
    const reply = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    writeU32(reply, 0, MESSAGE_COOKIE_REPLY_TYPE);
    writeU32(reply, COOKIE_REPLY_OFFSET_RECEIVER, senderIndex);
    const nonce = reply.subarray(COOKIE_REPLY_OFFSET_NONCE, COOKIE_REPLY_OFFSET_NONCE + XAEAD_NONCE_SIZE);
    this.random(nonce);
    const { mac1 } = macOffsets(msg);
    xaeadSeal(
      reply.subarray(COOKIE_REPLY_OFFSET_COOKIE),
      this.encryptionKey,
      nonce,
      cookie,
      msg.subarray(mac1, mac1 + MAC_SIZE),
    );
    return reply;
  }

  /** τ = MAC(R_m, A_m), A_m = source IP bytes || source port (big-endian); rotates R_m when stale. */
  private cookieFor(from: CookieEndpoint, now: number): Uint8Array | undefined {
    if (now - this.secretSetAt >= this.refreshTime) {
      this.random(this.secret);
      this.secretSetAt = now;
      this.generation++;
    }
    const last = this.last;
    if (
      last !== undefined &&
      last.generation === this.generation &&
      last.port === from.port &&
      last.address === from.address
    ) {
      return last.cookie;
    }
    const ip = parseIp(from.address);
    if (!ip) return undefined;
    const n = ip.length;
    const source = this.source;
    source.set(ip);
    source[n] = from.port >> 8;
    source[n + 1] = from.port & 0xff;
    const cookie = mac(this.secret, source.subarray(0, n + 2));
    this.last = { address: from.address, port: from.port, generation: this.generation, cookie };
    return cookie;
  }
}

/** Initiator side, one per peer: puts mac1/mac2 on our handshake messages and takes the peer's cookies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private cookie: Uint8Array | undefined = undefined;
  private cookieSetAt = Number.NEGATIVE_INFINITY;
  /** mac1 of the last handshake message we sent: the AD a cookie reply must be bound to. */
  private lastMac1: Uint8Array | undefined = undefined;

  constructor(
    remotePublic: Uint8Array,
    private readonly refreshTime: number,
  ) {
    this.mac1Key = mac1Key(remotePublic);
    this.decryptionKey = cookieKey(remotePublic);
  }

  /** Fills mac1, and mac2 when we hold a cookie younger than cookieRefreshTime (else zeros). */
  addMacs(msg: Uint8Array, now: number): void {
    const { mac1, mac2 } = macOffsets(msg);
    const m1 = mac(this.mac1Key, msg.subarray(0, mac1));
    msg.set(m1, mac1);
    this.lastMac1 = m1;
    if (this.cookie && now - this.cookieSetAt < this.refreshTime) {
      msg.set(mac(this.cookie, msg.subarray(0, mac2)), mac2);
    } else {
      msg.fill(0, mac2, mac2 + MAC_SIZE);
    }
  }

  /** Decrypts a cookie reply bound to our last mac1; false when it does not authenticate. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.lastMac1) return false;
    const nonce = reply.subarray(COOKIE_REPLY_OFFSET_NONCE, COOKIE_REPLY_OFFSET_NONCE + XAEAD_NONCE_SIZE);
    const cookie = xaeadOpen(
      this.decryptionKey,
      nonce,
      reply.subarray(COOKIE_REPLY_OFFSET_COOKIE, COOKIE_REPLY_OFFSET_COOKIE + COOKIE_SIZE + AEAD_TAG_SIZE),
      this.lastMac1,
    );
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetAt = now;
    return true;
  }

  /** Whether a fresh cookie is held (for tests and status). */
  hasCookie(now: number): boolean {
    return this.cookie !== undefined && now - this.cookieSetAt < this.refreshTime;
  }
}
