// SPDX-License-Identifier: Apache-2.0
// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake, written to follow section 5.4.2 (initiation),
// 5.4.3 (response) and 5.4.5 (transport key derivation) of the WireGuard paper line by line.
// These functions fill messages without mac1/mac2; cookie.ts adds and checks those.
import {
  AEAD_TAG_SIZE,
  CONSTRUCTION,
  IDENTIFIER,
  INITIATION_OFFSET_EPHEMERAL,
  INITIATION_OFFSET_SENDER,
  INITIATION_OFFSET_STATIC,
  INITIATION_OFFSET_TIMESTAMP,
  KEY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  RESPONSE_OFFSET_EMPTY,
  RESPONSE_OFFSET_EPHEMERAL,
  RESPONSE_OFFSET_RECEIVER,
  RESPONSE_OFFSET_SENDER,
  TAI64N_SIZE,
} from './constants.js';
import { aeadOpen, aeadSeal, dh, hash, kdf, scalarBase } from './crypto.js';
import { readU32, writeU32 } from './messages.js';
import { tai64n, tai64nAfter } from './tai64n.js';

const utf8 = new TextEncoder();
/** Ci = HASH(CONSTRUCTION). */
export const INITIAL_CHAIN_KEY = hash(utf8.encode(CONSTRUCTION));
/** Hi = HASH(Ci || IDENTIFIER), before mixing in the responder's static key. */
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, utf8.encode(IDENTIFIER));
const EMPTY = new Uint8Array(0);

/** Our static identity as the handshake needs it. */
export interface LocalStatic {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** HASH(Hi || Spub_local): the responder's starting hash, precomputed. */
  hashWithStatic: Uint8Array;
}

export function localStatic(privateKey: Uint8Array): LocalStatic {
  const publicKey = scalarBase(privateKey);
  return { privateKey, publicKey, hashWithStatic: hash(INITIAL_HASH, publicKey) };
}

/**
 * Where a peer's handshake stands. 'zeroed': nothing in flight; 'initiation-created': we sent an
 * initiation and wait for the response; 'initiation-consumed': we accepted their initiation and owe a
 * response; 'response-created'/'response-consumed': keys can be derived (then back to 'zeroed').
 */
export type HandshakeState =
  | 'zeroed'
  | 'initiation-created'
  | 'initiation-consumed'
  | 'response-created'
  | 'response-consumed';

/** Per-peer handshake state (wireguard-go noise-protocol.go `Handshake`). */
export class Handshake {
  private current: HandshakeState = 'zeroed';
  /** Running hash h of the transcript, i.e. HASH(h || ephemeral) after the ephemeral. */
  readonly hash: Uint8Array = new Uint8Array(KEY_SIZE);
  /** Running chaining key c. */
  readonly chainKey: Uint8Array = new Uint8Array(KEY_SIZE);
  readonly localEphemeralPrivate: Uint8Array = new Uint8Array(KEY_SIZE);
  readonly remoteEphemeral: Uint8Array = new Uint8Array(KEY_SIZE);
  /** Our sender index for the handshake in flight. */
  localIndex = 0;
  /** The peer's sender index, i.e. the receiver field of what we send them. */
  remoteIndex = 0;
  /** Greatest TAI64N timestamp accepted from this peer (section 5.1, replay of initiations). */
  readonly latestTimestamp: Uint8Array = new Uint8Array(TAI64N_SIZE);
  /** When we last accepted an initiation from this peer (ms), for the flood guard. */
  lastInitiationConsumption = Number.NEGATIVE_INFINITY;
  /** DH(Spriv_local, Spub_remote), fixed per peer; undefined for a low-order peer key. */
  readonly staticStatic: Uint8Array | undefined;

  constructor(
    local: LocalStatic,
    readonly remoteStatic: Uint8Array,
    /** Q: the optional preshared key, 32 zero bytes when none. */
    public presharedKey: Uint8Array = new Uint8Array(KEY_SIZE),
  ) {
    this.staticStatic = dh(local.privateKey, remoteStatic);
  }

  get state(): HandshakeState {
    return this.current;
  }

  /**
   * The one transition of a message step that succeeded: keeps the transcript (c, h) and our
   * ephemeral and index (a message we created) or the peer's (one we consumed). Values are copied
   * into this handshake's own buffers, so clear() wipes every secret it ever held.
   */
  advance(
    to: Exclude<HandshakeState, 'zeroed'>,
    chainKey: Uint8Array,
    hash: Uint8Array,
    ephemeral: Uint8Array,
    index: number,
  ): void {
    this.chainKey.set(chainKey);
    this.hash.set(hash);
    switch (to) {
      case 'initiation-created':
      case 'response-created':
        this.localEphemeralPrivate.set(ephemeral);
        this.localIndex = index;
        break;
      case 'initiation-consumed':
      case 'response-consumed':
        this.remoteEphemeral.set(ephemeral);
        this.remoteIndex = index;
        break;
      default: {
        const exhaustive: never = to;
        throw new Error(`unknown handshake state ${exhaustive}`);
      }
    }
    this.current = to;
  }

  /** Forgets everything of the handshake in flight (not the timestamp: that must survive). */
  clear(): void {
    this.current = 'zeroed';
    this.hash.fill(0);
    this.chainKey.fill(0);
    this.localEphemeralPrivate.fill(0);
    this.remoteEphemeral.fill(0);
    this.localIndex = 0;
    this.remoteIndex = 0;
  }
}

/**
 * Builds a handshake initiation (section 5.4.2) into a new 148-byte message with zero mac1/mac2.
 * `ephemeralPrivate` must be fresh random bytes; `unixMs` is wall-clock time for the TAI64N stamp.
 */
export function createInitiation(
  local: LocalStatic,
  hs: Handshake,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
  unixMs: number,
): Uint8Array | undefined {
  if (!hs.staticStatic) return undefined;
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  writeU32(msg, 0, MESSAGE_INITIATION_TYPE);
  writeU32(msg, INITIATION_OFFSET_SENDER, localIndex);
  // Ci := HASH(CONSTRUCTION); Hi := HASH(HASH(Ci || IDENTIFIER) || Spub_r)
  let c = INITIAL_CHAIN_KEY;
  let h = hash(INITIAL_HASH, hs.remoteStatic);
  // (Epriv_i, Epub_i) := DH-GENERATE(); Ci := KDF1(Ci, Epub_i); msg.ephemeral := Epub_i; Hi := HASH(Hi || msg.ephemeral)
  const ephemeralPublic = scalarBase(ephemeralPrivate);
  msg.set(ephemeralPublic, INITIATION_OFFSET_EPHEMERAL);
  [c] = kdf(1, c, ephemeralPublic);
  h = hash(h, ephemeralPublic);
  // (Ci, k) := KDF2(Ci, DH(Epriv_i, Spub_r)); msg.static := AEAD(k, 0, Spub_i, Hi); Hi := HASH(Hi || msg.static)
  const es = dh(ephemeralPrivate, hs.remoteStatic);
  if (!es) return undefined;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es);
  const encStatic = msg.subarray(
    INITIATION_OFFSET_STATIC,
    INITIATION_OFFSET_STATIC + KEY_SIZE + AEAD_TAG_SIZE,
  );
  aeadSeal(encStatic, k, local.publicKey, h);
  h = hash(h, encStatic);
  // (Ci, k) := KDF2(Ci, DH(Spriv_i, Spub_r)); msg.timestamp := AEAD(k, 0, TAI64N(), Hi); Hi := HASH(Hi || msg.timestamp)
  [c, k] = kdf(2, c, hs.staticStatic);
  const encTimestamp = msg.subarray(
    INITIATION_OFFSET_TIMESTAMP,
    INITIATION_OFFSET_TIMESTAMP + TAI64N_SIZE + AEAD_TAG_SIZE,
  );
  aeadSeal(encTimestamp, k, tai64n(unixMs), h);
  h = hash(h, encTimestamp);

  hs.advance('initiation-created', c, h, ephemeralPrivate, localIndex);
  return msg;
}

export type ConsumeInitiationResult<P> =
  | { ok: true; peer: P }
  | { ok: false; reason: 'decrypt' | 'unknown-peer' | 'stale' | 'flood' };

/**
 * Consumes a handshake initiation (section 5.4.2, responder side). `lookup` maps the decrypted static
 * key to a peer. The peer's handshake is only updated when the message authenticates and its timestamp
 * is strictly newer than any before; a replayed or stale initiation changes nothing.
 */
export function consumeInitiation<P extends { handshake: Handshake }>(
  local: LocalStatic,
  msg: Uint8Array,
  lookup: (remoteStatic: Uint8Array) => P | undefined,
  now: number,
  initiationRate: number,
): ConsumeInitiationResult<P> {
  let c = INITIAL_CHAIN_KEY;
  let h = local.hashWithStatic;
  const ephemeral = msg.subarray(INITIATION_OFFSET_EPHEMERAL, INITIATION_OFFSET_EPHEMERAL + KEY_SIZE);
  [c] = kdf(1, c, ephemeral);
  h = hash(h, ephemeral);
  const es = dh(local.privateKey, ephemeral);
  if (!es) return { ok: false, reason: 'decrypt' };
  let k: Uint8Array;
  [c, k] = kdf(2, c, es);
  const encStatic = msg.subarray(
    INITIATION_OFFSET_STATIC,
    INITIATION_OFFSET_STATIC + KEY_SIZE + AEAD_TAG_SIZE,
  );
  const remoteStatic = aeadOpen(k, encStatic, h);
  if (!remoteStatic) return { ok: false, reason: 'decrypt' };
  h = hash(h, encStatic);
  const peer = lookup(remoteStatic);
  if (!peer) return { ok: false, reason: 'unknown-peer' };
  const hs = peer.handshake;
  if (!hs.staticStatic) return { ok: false, reason: 'decrypt' };
  [c, k] = kdf(2, c, hs.staticStatic);
  const encTimestamp = msg.subarray(
    INITIATION_OFFSET_TIMESTAMP,
    INITIATION_OFFSET_TIMESTAMP + TAI64N_SIZE + AEAD_TAG_SIZE,
  );
  const timestamp = aeadOpen(k, encTimestamp, h);
  if (!timestamp) return { ok: false, reason: 'decrypt' };
  h = hash(h, encTimestamp);
  // Replay protection: the greatest timestamp per peer wins (section 5.1).
  if (!tai64nAfter(timestamp, hs.latestTimestamp)) return { ok: false, reason: 'stale' };
  // Flood guard: initiations from one peer closer together than the rate are ignored (wireguard-go).
  if (now - hs.lastInitiationConsumption < initiationRate) return { ok: false, reason: 'flood' };

  hs.latestTimestamp.set(timestamp);
  hs.lastInitiationConsumption = now;
  hs.advance('initiation-consumed', c, h, ephemeral, readU32(msg, INITIATION_OFFSET_SENDER));
  return { ok: true, peer };
}

/** Builds the handshake response (section 5.4.3) to a consumed initiation, with zero mac1/mac2. */
export function createResponse(
  hs: Handshake,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
): Uint8Array | undefined {
  if (hs.state !== 'initiation-consumed') return undefined;
  const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  writeU32(msg, 0, MESSAGE_RESPONSE_TYPE);
  writeU32(msg, RESPONSE_OFFSET_SENDER, localIndex);
  writeU32(msg, RESPONSE_OFFSET_RECEIVER, hs.remoteIndex);
  let c = hs.chainKey;
  let h = hs.hash;
  // (Epriv_r, Epub_r) := DH-GENERATE(); Cr := KDF1(Cr, Epub_r); msg.ephemeral := Epub_r; Hr := HASH(Hr || msg.ephemeral)
  const ephemeralPublic = scalarBase(ephemeralPrivate);
  msg.set(ephemeralPublic, RESPONSE_OFFSET_EPHEMERAL);
  [c] = kdf(1, c, ephemeralPublic);
  h = hash(h, ephemeralPublic);
  // Cr := KDF1(Cr, DH(Epriv_r, Epub_i)); Cr := KDF1(Cr, DH(Epriv_r, Spub_i))
  const ee = dh(ephemeralPrivate, hs.remoteEphemeral);
  const se = dh(ephemeralPrivate, hs.remoteStatic);
  if (!ee || !se) return undefined;
  [c] = kdf(1, c, ee);
  [c] = kdf(1, c, se);
  // (Cr, τ, k) := KDF3(Cr, Q); Hr := HASH(Hr || τ); msg.empty := AEAD(k, 0, ε, Hr); Hr := HASH(Hr || msg.empty)
  const [c3, tau, k] = kdf(3, c, hs.presharedKey);
  c = c3;
  h = hash(h, tau);
  const encEmpty = msg.subarray(RESPONSE_OFFSET_EMPTY, RESPONSE_OFFSET_EMPTY + AEAD_TAG_SIZE);
  aeadSeal(encEmpty, k, EMPTY, h);
  h = hash(h, encEmpty);

  hs.advance('response-created', c, h, ephemeralPrivate, localIndex);
  return msg;
}

/**
 * Consumes a handshake response (section 5.4.3, initiator side) for the handshake `hs` that the
 * caller found by the message's receiver index. Returns false, changing nothing, unless it authenticates.
 */
export function consumeResponse(local: LocalStatic, hs: Handshake, msg: Uint8Array): boolean {
  if (hs.state !== 'initiation-created') return false;
  if (readU32(msg, RESPONSE_OFFSET_RECEIVER) !== hs.localIndex) return false;
  let c = hs.chainKey;
  let h = hs.hash;
  const ephemeral = msg.subarray(RESPONSE_OFFSET_EPHEMERAL, RESPONSE_OFFSET_EPHEMERAL + KEY_SIZE);
  [c] = kdf(1, c, ephemeral);
  h = hash(h, ephemeral);
  const ee = dh(hs.localEphemeralPrivate, ephemeral);
  const se = dh(local.privateKey, ephemeral);
  if (!ee || !se) return false;
  [c] = kdf(1, c, ee);
  [c] = kdf(1, c, se);
  const [c3, tau, k] = kdf(3, c, hs.presharedKey);
  c = c3;
  h = hash(h, tau);
  const encEmpty = msg.subarray(RESPONSE_OFFSET_EMPTY, RESPONSE_OFFSET_EMPTY + AEAD_TAG_SIZE);
  const empty = aeadOpen(k, encEmpty, h);
  if (empty?.length !== 0) return false;
  h = hash(h, encEmpty);

  hs.advance('response-consumed', c, h, ephemeral, readU32(msg, RESPONSE_OFFSET_SENDER));
  return true;
}

export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  localIndex: number;
  remoteIndex: number;
  isInitiator: boolean;
}

/**
 * Derives the transport keys (section 5.4.5): (T_send_i = T_recv_r, T_recv_i = T_send_r) := KDF2(C, ε),
 * then wipes the handshake state. Call after consumeResponse (initiator) or createResponse (responder).
 */
export function beginSymmetricSession(hs: Handshake): SessionKeys | undefined {
  let isInitiator: boolean;
  if (hs.state === 'response-consumed') isInitiator = true;
  else if (hs.state === 'response-created') isInitiator = false;
  else return undefined;
  const [t1, t2] = kdf(2, hs.chainKey, EMPTY);
  const keys: SessionKeys = {
    sendKey: isInitiator ? t1 : t2,
    recvKey: isInitiator ? t2 : t1,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
    isInitiator,
  };
  hs.clear();
  return keys;
}
