// SPDX-License-Identifier: Apache-2.0
// Outbound path (wireguard-go send.go). The flow of one IP packet:
//  1. sendPacket: read the destination address in place, pick the peer by longest-prefix match.
//  2. With a usable current key pair (younger than REJECT_AFTER_TIME, counter below
//     REJECT_AFTER_MESSAGES), nothing staged and a known endpoint: sendTransport at once.
//  3. Otherwise stage a copy (bounded) and start a handshake; sendStaged flushes when it completes.
//  4. sendTransport: header + counter, copy the plaintext after the header in the device's one
//     preallocated buffer, zero-pad to 16, seal in place with the reused nonce, hand a view to output.
//  5. Timer hooks, then keepKeyFreshSending may start a rekey (REKEY_AFTER_MESSAGES/REKEY_AFTER_TIME).
import {
  AEAD_TAG_SIZE,
  IPV4_HEADER_MIN_SIZE,
  IPV4_OFFSET_DST,
  IPV6_HEADER_SIZE,
  IPV6_OFFSET_DST,
  KEY_SIZE,
  MAX_CONTENT_SIZE,
  MAX_STAGED_PACKETS,
  MESSAGE_TRANSPORT_TYPE,
  NONCE_OFFSET_COUNTER,
  PADDING_MULTIPLE,
  TRANSPORT_OFFSET_CONTENT,
  TRANSPORT_OFFSET_COUNTER,
  TRANSPORT_OFFSET_RECEIVER,
} from './constants.js';
import type { DeviceContext } from './context.js';
import { sealInPlace } from './crypto.js';
import { publishHandshake, publishKeypair } from './diagnostics.js';
import type { Keypair } from './keypair.js';
import { writeCounter, writeU32 } from './messages.js';
import { beginSymmetricSession, createInitiation, createResponse } from './noise.js';
import type { Peer } from './peer.js';
import {
  timersAnyAuthenticatedPacketSent,
  timersAnyAuthenticatedPacketTraversal,
  timersDataSent,
  timersHandshakeInitiated,
  timersSessionDerived,
} from './timers.js';

/** Outcome of WireGuardDevice.sendPacket. */
export type SendResult = 'sent' | 'queued' | 'no-route' | 'malformed' | 'too-large';

const EMPTY = new Uint8Array(0);

/**
 * Steps 1-3. The caller keeps `ip`; it is copied only when it has to be staged. A packet refused here is
 * counted in ctx.sendDrops by its reason, as the result says.
 */
export function sendPacket(ctx: DeviceContext, ip: Uint8Array, now: number): SendResult {
  const n = ip.length;
  if (n > MAX_CONTENT_SIZE) {
    ctx.sendDrops.tooLarge++;
    return 'too-large';
  }
  const version = n === 0 ? 0 : ip[0] >> 4;
  let peer: Peer | undefined;
  if (version === 4 && n >= IPV4_HEADER_MIN_SIZE) peer = ctx.routes.lookup(ip, IPV4_OFFSET_DST, 4);
  else if (version === 6 && n >= IPV6_HEADER_SIZE) peer = ctx.routes.lookup(ip, IPV6_OFFSET_DST, 6);
  else {
    ctx.sendDrops.malformed++;
    return 'malformed';
  }
  if (peer === undefined) {
    ctx.sendDrops.noRoute++;
    return 'no-route';
  }

  const kp = peer.keypairs.current;
  if (peer.staged.length === 0 && peer.endpoint !== undefined && kp !== undefined && usable(ctx, kp, now)) {
    sendTransport(ctx, peer, kp, ip, now);
    keepKeyFreshSending(ctx, peer, now);
    return 'sent';
  }
  stage(ctx, peer, new Uint8Array(ip));
  sendStaged(ctx, peer, now);
  return peer.staged.length === 0 ? 'sent' : 'queued';
}

/** A key pair may encrypt while younger than REJECT_AFTER_TIME and below REJECT_AFTER_MESSAGES. */
function usable(ctx: DeviceContext, kp: Keypair, now: number): boolean {
  return kp.sendCounter < ctx.timers.rejectAfterMessages && now - kp.created < ctx.timers.rejectAfterTime;
}

/** Queues `packet` (owned by the queue) for after the handshake; drops the oldest beyond the bound. */
function stage(ctx: DeviceContext, peer: Peer, packet: Uint8Array): void {
  if (peer.staged.length >= MAX_STAGED_PACKETS) {
    peer.staged.shift();
    ctx.sendDrops.stagedOverflow++;
  }
  peer.staged.push(packet);
}

/** Sends everything staged if a usable key pair exists, else starts a handshake. */
export function sendStaged(ctx: DeviceContext, peer: Peer, now: number): void {
  if (peer.staged.length === 0) return;
  const kp = peer.keypairs.current;
  if (kp === undefined || !usable(ctx, kp, now)) {
    sendInitiation(ctx, peer, now, false);
    return;
  }
  if (peer.endpoint === undefined) return;
  while (peer.staged.length > 0) {
    const packet = peer.staged.shift()!;
    if (!usable(ctx, kp, now)) {
      peer.staged.unshift(packet);
      sendInitiation(ctx, peer, now, false);
      return;
    }
    sendTransport(ctx, peer, kp, packet, now);
  }
  keepKeyFreshSending(ctx, peer, now);
}

/** Sends a keepalive (an empty transport message), or what is staged, which serves the same purpose. */
export function sendKeepalive(ctx: DeviceContext, peer: Peer, now: number): void {
  if (peer.staged.length === 0) peer.staged.push(EMPTY);
  sendStaged(ctx, peer, now);
}

/** Step 4. `payload` may be empty (keepalive). Allocates nothing but subarray views. */
function sendTransport(ctx: DeviceContext, peer: Peer, kp: Keypair, payload: Uint8Array, now: number): void {
  const endpoint = peer.endpoint!;
  const counter = kp.sendCounter++;
  const len = payload.length;
  const padded = len + paddingSize(len, ctx.mtu);
  const buf = ctx.sendBuffer;
  writeU32(buf, 0, MESSAGE_TRANSPORT_TYPE);
  writeU32(buf, TRANSPORT_OFFSET_RECEIVER, kp.remoteIndex);
  writeCounter(buf, TRANSPORT_OFFSET_COUNTER, counter);
  buf.set(payload, TRANSPORT_OFFSET_CONTENT);
  const end = TRANSPORT_OFFSET_CONTENT + padded;
  if (padded > len) buf.fill(0, TRANSPORT_OFFSET_CONTENT + len, end);
  const nonce = ctx.sendNonce;
  writeCounter(nonce, NONCE_OFFSET_COUNTER, counter);
  // Reuse the views while packets keep the same padded size (the common case in bulk transfer).
  const views = ctx.sendViews;
  if (views.padded !== padded) {
    views.padded = padded;
    views.content = buf.subarray(TRANSPORT_OFFSET_CONTENT, end);
    views.tag = buf.subarray(end, end + AEAD_TAG_SIZE);
    views.datagram = buf.subarray(0, end + AEAD_TAG_SIZE);
  }
  sealInPlace(kp.sendKey, nonce, views.content, views.tag, ctx.tcpChecksumOffload);
  const datagram = views.datagram;
  peer.txBytes += datagram.length;
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketSent(peer);
  if (len > 0) timersDataSent(ctx, peer, now);
  ctx.output.sendDatagram(datagram, endpoint);
}

/**
 * Zero padding after `len` bytes (section 5.4.6): up to a multiple of 16, but never past the tunnel
 * MTU, so a full-size packet does not grow the datagram beyond what the path carries (i.e. 1420 + 32
 * = 1452, the IPv6 maximum on a 1500-byte link). Packets above the MTU are padded within their last
 * MTU-sized unit, as wireguard-go does. `mtu` 0 = no cap.
 */
export function paddingSize(len: number, mtu: number): number {
  let last = len;
  if (mtu > 0 && last > mtu) last %= mtu;
  let padded = (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return padded - last;
}

/** Step 5: the initiator rekeys after REKEY_AFTER_TIME; either side after REKEY_AFTER_MESSAGES. */
function keepKeyFreshSending(ctx: DeviceContext, peer: Peer, now: number): void {
  const kp = peer.keypairs.current;
  if (kp === undefined) return;
  if (
    kp.sendCounter > ctx.timers.rekeyAfterMessages ||
    (kp.isInitiator && now - kp.created > ctx.timers.rekeyAfterTime)
  ) {
    sendInitiation(ctx, peer, now, false);
  }
}

/**
 * Creates and sends a handshake initiation. A fresh (non-retry) call resets the attempt count; any
 * call within REKEY_TIMEOUT of the previous initiation does nothing, so traffic cannot flood handshakes.
 */
export function sendInitiation(ctx: DeviceContext, peer: Peer, now: number, isRetry: boolean): void {
  if (!isRetry) peer.handshakeAttempts = 0;
  if (now - peer.lastSentHandshake < ctx.timers.rekeyTimeout) return;
  peer.lastSentHandshake = now;
  peer.clearHandshake(ctx.index);
  const index = ctx.index.allocate({ kind: 'handshake', peer });
  peer.handshakeIndex = index;
  const ephemeral = new Uint8Array(KEY_SIZE);
  ctx.random(ephemeral);
  const msg = createInitiation(ctx.local, peer.handshake, index, ephemeral, now);
  ephemeral.fill(0);
  if (msg === undefined) {
    peer.clearHandshake(ctx.index); // the peer's public key is a low-order point: no handshake is possible
    return;
  }
  peer.cookies.addMacs(msg, now);
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketSent(peer);
  timersHandshakeInitiated(ctx, peer, now);
  publishHandshake(peer.key, 'initiation-sent', now, peer.handshakeAttempts);
  // Without an endpoint the retransmit timer still runs (and gives up), as in wireguard-go.
  const ep = peer.endpoint;
  if (ep !== undefined) {
    peer.txBytes += msg.length;
    ctx.output.sendDatagram(msg, ep);
  }
  // The same message to every other candidate path: the responder takes the first copy, the rest are
  // replays it drops (stale timestamp), and the path that answers becomes the endpoint.
  for (const c of peer.candidates) {
    if (ep !== undefined && c.port === ep.port && c.address === ep.address) continue;
    peer.txBytes += msg.length;
    ctx.output.sendDatagram(msg, c);
  }
}

/** Answers a consumed initiation: response, key derivation (into `next`), timers. */
export function sendResponse(ctx: DeviceContext, peer: Peer, now: number): void {
  const index = ctx.index.allocate({ kind: 'handshake', peer });
  const ephemeral = new Uint8Array(KEY_SIZE);
  ctx.random(ephemeral);
  const msg = createResponse(peer.handshake, index, ephemeral);
  ephemeral.fill(0);
  const keys = msg && beginSymmetricSession(peer.handshake);
  if (msg === undefined || keys === undefined) {
    ctx.index.delete(index);
    peer.handshake.clear();
    ctx.drops.handshake++;
    return;
  }
  peer.installKeypair(keys, now, ctx.index);
  publishKeypair(peer.key, 'installed', now, false); // parked in `next` until the initiator's first message
  timersSessionDerived(ctx, peer, now);
  peer.cookies.addMacs(msg, now);
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketSent(peer);
  publishHandshake(peer.key, 'response-sent', now);
  if (peer.endpoint !== undefined) {
    peer.txBytes += msg.length;
    ctx.output.sendDatagram(msg, peer.endpoint);
  }
}
