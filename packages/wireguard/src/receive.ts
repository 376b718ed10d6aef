// SPDX-License-Identifier: Apache-2.0
// Inbound path (wireguard-go receive.go). Every datagram is classified by type and exact size; anything
// else is counted in drops.malformed. Nothing here throws: each failure increments one drop counter.
// Transport flow:
//  1. Find the key pair by receiver index; refuse counters >= REJECT_AFTER_MESSAGES and expired pairs.
//  2. Open in place (the datagram buffer is overwritten with plaintext), then the replay window.
//  3. A first packet on `next` confirms the responder's new key pair (rotation); roam the endpoint.
//  4. Empty payload = keepalive. Else check the inner IP header and that its source address routes
//     back to this peer (cryptokey routing), and deliver a view of it.
import {
  AEAD_TAG_SIZE,
  COOKIE_REPLY_OFFSET_RECEIVER,
  HANDSHAKE_INITIATION_RATE,
  INITIATION_OFFSET_SENDER,
  IPV4_HEADER_MIN_SIZE,
  IPV4_OFFSET_SRC,
  IPV4_OFFSET_TOTAL_LENGTH,
  IPV6_HEADER_SIZE,
  IPV6_OFFSET_PAYLOAD_LENGTH,
  IPV6_OFFSET_SRC,
  NONCE_OFFSET_COUNTER,
  RESPONSE_OFFSET_RECEIVER,
  RESPONSE_OFFSET_SENDER,
  TRANSPORT_COUNTER_SIZE,
  TRANSPORT_OFFSET_CONTENT,
  TRANSPORT_OFFSET_COUNTER,
  TRANSPORT_OFFSET_RECEIVER,
  UNDER_LOAD_WINDOW,
} from './constants.js';
import type { DeviceContext } from './context.js';
import { openInPlace } from './crypto.js';
import { endpointChannel, publishHandshake, publishKeypair } from './diagnostics.js';
import { encodeKey } from './keys.js';
import { classify, readCounter, readU16BE, readU32 } from './messages.js';
import { beginSymmetricSession, consumeInitiation, consumeResponse } from './noise.js';
import type { Endpoint, Peer } from './peer.js';
import { sendInitiation, sendKeepalive, sendResponse, sendStaged } from './send.js';
import {
  timersAnyAuthenticatedPacketReceived,
  timersAnyAuthenticatedPacketTraversal,
  timersDataReceived,
  timersHandshakeComplete,
  timersSessionDerived,
} from './timers.js';

/** Entry point for one datagram. `data` may be overwritten (decrypted in place); it is not kept. */
export function receiveDatagram(ctx: DeviceContext, data: Uint8Array, from: Endpoint, now: number): void {
  const kind = classify(data);
  switch (kind) {
    case 'transport':
      receiveTransport(ctx, data, from, now);
      return;
    case 'initiation':
      receiveInitiation(ctx, data, from, now);
      return;
    case 'response':
      receiveResponse(ctx, data, from, now);
      return;
    case 'cookie-reply':
      receiveCookieReply(ctx, data, now);
      return;
    case undefined:
      ctx.drops.malformed++;
      return;
    default: {
      const exhaustive: never = kind;
      throw new Error(`unreachable message kind ${exhaustive}`);
    }
  }
}

/**
 * Counts a handshake message against the load window; true when the device is under load and must
 * demand mac2. Load = more than `threshold` handshake messages within UNDER_LOAD_WINDOW ms; it persists
 * for UNDER_LOAD_WINDOW ms after the last such window (wireguard-go keeps it 1 s, too).
 */
function underLoad(ctx: DeviceContext, now: number): boolean {
  const l = ctx.load;
  if (now - l.windowStart >= UNDER_LOAD_WINDOW) {
    l.windowStart = now;
    l.count = 0;
  }
  l.count++;
  if (l.count > l.threshold) l.underLoadUntil = now + UNDER_LOAD_WINDOW;
  return now < l.underLoadUntil;
}

/**
 * mac1 always; under load also mac2, answering a missing/wrong one with a cookie reply, and a
 * per-source rate limit for those that carry a valid one.
 */
function checkMacs(
  ctx: DeviceContext,
  msg: Uint8Array,
  senderIndex: number,
  from: Endpoint,
  now: number,
): boolean {
  if (!ctx.checker.checkMac1(msg)) {
    ctx.drops.mac++;
    return false;
  }
  if (!underLoad(ctx, now)) return true;
  if (!ctx.checker.checkMac2(msg, from, now)) {
    ctx.drops.cookie++;
    const reply = ctx.checker.createReply(msg, senderIndex, from, now);
    if (reply) ctx.output.sendDatagram(reply, from);
    return false;
  }
  if (!ctx.limiter.allow(from.address, now)) {
    ctx.drops.rateLimited++;
    return false;
  }
  return true;
}

function receiveInitiation(ctx: DeviceContext, msg: Uint8Array, from: Endpoint, now: number): void {
  if (!checkMacs(ctx, msg, readU32(msg, INITIATION_OFFSET_SENDER), from, now)) return;
  const result = consumeInitiation(
    ctx.local,
    msg,
    (remoteStatic) => ctx.peersByKey.get(encodeKey(remoteStatic)),
    now,
    HANDSHAKE_INITIATION_RATE,
  );
  if (!result.ok) {
    if (result.reason === 'unknown-peer') ctx.drops.unknownPeer++;
    else if (result.reason === 'decrypt') ctx.drops.handshake++;
    else ctx.drops.staleInitiation++;
    return;
  }
  const peer = result.peer;
  publishHandshake(peer.key, 'initiation-received', now);
  roam(peer, from, now);
  peer.rxBytes += msg.length;
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  peer.releaseHandshakeIndex(ctx.index); // their initiation replaced ours, if we had one in flight
  sendResponse(ctx, peer, now);
}

function receiveResponse(ctx: DeviceContext, msg: Uint8Array, from: Endpoint, now: number): void {
  if (!checkMacs(ctx, msg, readU32(msg, RESPONSE_OFFSET_SENDER), from, now)) return;
  const entry = ctx.index.get(readU32(msg, RESPONSE_OFFSET_RECEIVER));
  if (entry === undefined || entry.kind !== 'handshake') {
    ctx.drops.handshake++;
    return;
  }
  const peer = entry.peer;
  if (!consumeResponse(ctx.local, peer.handshake, msg)) {
    ctx.drops.handshake++;
    return;
  }
  const keys = beginSymmetricSession(peer.handshake);
  if (keys === undefined) {
    ctx.drops.handshake++;
    return;
  }
  const kp = peer.installKeypair(keys, now, ctx.index);
  publishKeypair(peer.key, 'installed', now, true);
  roam(peer, from, now);
  peer.rxBytes += msg.length;
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  timersSessionDerived(ctx, peer, now);
  timersHandshakeComplete(peer, now);
  // The responder needs a first transport message to confirm the pair: staged data or a keepalive.
  if (peer.keypairs.current === kp) sendKeepalive(ctx, peer, now);
}

function receiveCookieReply(ctx: DeviceContext, msg: Uint8Array, now: number): void {
  const entry = ctx.index.get(readU32(msg, COOKIE_REPLY_OFFSET_RECEIVER));
  if (entry === undefined) {
    ctx.drops.unknownIndex++;
    return;
  }
  if (!entry.peer.cookies.consumeReply(msg, now)) {
    ctx.drops.mac++;
    return;
  }
  publishHandshake(entry.peer.key, 'cookie-received', now);
}

function receiveTransport(ctx: DeviceContext, data: Uint8Array, from: Endpoint, now: number): void {
  // 1. key pair and limits
  const entry = ctx.index.get(readU32(data, TRANSPORT_OFFSET_RECEIVER));
  if (entry === undefined || entry.kind !== 'keypair') {
    ctx.drops.unknownIndex++;
    return;
  }
  const kp = entry.keypair;
  const peer = entry.peer;
  const counter = readCounter(data, TRANSPORT_OFFSET_COUNTER);
  if (!(counter < ctx.timers.rejectAfterMessages)) {
    ctx.drops.replay++;
    return;
  }
  if (now - kp.created >= ctx.timers.rejectAfterTime) {
    ctx.drops.expired++;
    return;
  }
  // 2. authenticate + decrypt in place, then replay window
  const tagStart = data.length - AEAD_TAG_SIZE;
  const nonce = ctx.recvNonce;
  for (let i = 0; i < TRANSPORT_COUNTER_SIZE; i++)
    nonce[NONCE_OFFSET_COUNTER + i] = data[TRANSPORT_OFFSET_COUNTER + i];
  const plaintext = data.subarray(TRANSPORT_OFFSET_CONTENT, tagStart);
  if (!openInPlace(kp.recvKey, nonce, plaintext, data.subarray(tagStart))) {
    ctx.drops.decrypt++;
    return;
  }
  if (!kp.replay.validateCounter(counter, ctx.timers.rejectAfterMessages)) {
    ctx.drops.replay++;
    return;
  }
  // 3. roaming, rotation, timers
  roam(peer, from, now);
  if (peer.receivedWithKeypair(kp, ctx.index)) {
    publishKeypair(peer.key, 'confirmed', now);
    timersHandshakeComplete(peer, now);
    sendStaged(ctx, peer, now);
  }
  keepKeyFreshReceiving(ctx, peer, now);
  peer.rxBytes += data.length;
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  // 4. keepalive, or an IP packet from an allowed source
  const n = plaintext.length;
  if (n === 0) return;
  timersDataReceived(ctx, peer, now);
  const version = plaintext[0] >> 4;
  let length: number;
  let owner: Peer | undefined;
  if (version === 4 && n >= IPV4_HEADER_MIN_SIZE) {
    length = readU16BE(plaintext, IPV4_OFFSET_TOTAL_LENGTH);
    if (length < IPV4_HEADER_MIN_SIZE || length > n) {
      ctx.drops.malformed++;
      return;
    }
    owner = ctx.routes.lookup(plaintext, IPV4_OFFSET_SRC, 4);
  } else if (version === 6 && n >= IPV6_HEADER_SIZE) {
    length = IPV6_HEADER_SIZE + readU16BE(plaintext, IPV6_OFFSET_PAYLOAD_LENGTH);
    if (length > n) {
      ctx.drops.malformed++;
      return;
    }
    owner = ctx.routes.lookup(plaintext, IPV6_OFFSET_SRC, 6);
  } else {
    ctx.drops.malformed++;
    return;
  }
  if (owner !== peer) {
    ctx.drops.allowedIps++;
    return;
  }
  ctx.output.deliverPacket(length === n ? plaintext : plaintext.subarray(0, length), peer.key);
}

/**
 * The initiator's "last minute" rekey: if its current pair is about to pass REJECT_AFTER_TIME (minus
 * KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) while data still arrives, start a handshake once.
 */
function keepKeyFreshReceiving(ctx: DeviceContext, peer: Peer, now: number): void {
  if (peer.sentLastMinuteHandshake) return;
  const kp = peer.keypairs.current;
  const t = ctx.timers;
  if (kp?.isInitiator && now - kp.created > t.rejectAfterTime - t.keepaliveTimeout - t.rekeyTimeout) {
    peer.sentLastMinuteHandshake = true;
    sendInitiation(ctx, peer, now, false);
  }
}

/** Endpoint roaming (section 2.1): the source of an authenticated packet becomes the peer's endpoint. */
function roam(peer: Peer, from: Endpoint, now: number): void {
  const cur = peer.endpoint;
  if (cur !== undefined && cur.port === from.port && cur.address === from.address) return;
  peer.endpoint = { address: from.address, port: from.port };
  if (endpointChannel.hasSubscribers)
    endpointChannel.publish({ peer: peer.key, endpoint: peer.endpoint, now });
}
