// SPDX-License-Identifier: Apache-2.0
// The timer state machine of section 6 of the paper, event by event as wireguard-go timers.go names
// them, but with absolute deadlines that the device reports through pollAt() instead of OS timers.
// Each `timers*` hook says when to call it; expireTimers() runs what is due.
import type { DeviceContext } from './context.js';
import { publishHandshake, publishKeypair } from './diagnostics.js';
import type { Peer } from './peer.js';
import { sendInitiation, sendKeepalive } from './send.js';

export type TimerKind =
  | 'retransmitHandshake' // resend an unanswered initiation (REKEY_TIMEOUT + jitter)
  | 'sendKeepalive' // answer received data when we had nothing to send (KEEPALIVE_TIMEOUT)
  | 'newHandshake' // we sent data and heard nothing back (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter)
  | 'zeroKeyMaterial' // no new session for REJECT_AFTER_TIME * 3: wipe keys
  | 'persistentKeepalive'; // the configured persistent keepalive interval

export const TIMER_KINDS: readonly TimerKind[] = [
  'retransmitHandshake',
  'sendKeepalive',
  'newHandshake',
  'zeroKeyMaterial',
  'persistentKeepalive',
];

/** Absolute deadlines (ms) of one peer's timers; Infinity means not armed. */
export class PeerTimers {
  readonly at: Record<TimerKind, number> = {
    retransmitHandshake: Infinity,
    sendKeepalive: Infinity,
    newHandshake: Infinity,
    zeroKeyMaterial: Infinity,
    persistentKeepalive: Infinity,
  };

  arm(kind: TimerKind, deadline: number): void {
    this.at[kind] = deadline;
  }

  disarm(kind: TimerKind): void {
    this.at[kind] = Infinity;
  }

  isPending(kind: TimerKind): boolean {
    return this.at[kind] !== Infinity;
  }

  /** Earliest deadline, Infinity when nothing is armed. */
  next(): number {
    const a = this.at;
    return Math.min(
      a.retransmitHandshake,
      a.sendKeepalive,
      a.newHandshake,
      a.zeroKeyMaterial,
      a.persistentKeepalive,
    );
  }

  disarmAll(): void {
    for (const k of TIMER_KINDS) this.at[k] = Infinity;
  }
}

/**
 * Uniform jitter in [0, rekeyTimeoutJitterMax) from the device's random source. Random bytes are drawn
 * in blocks (JITTER_POOL_SIZE) because a data packet may re-arm a jittered timer every time.
 */
function jitter(ctx: DeviceContext): number {
  const max = ctx.timers.rekeyTimeoutJitterMax;
  if (max <= 0) return 0;
  const pool = ctx.jitterPool;
  if (pool.used + 3 > pool.bytes.length) {
    ctx.random(pool.bytes);
    pool.used = 0;
  }
  const b = pool.bytes;
  const i = pool.used;
  pool.used += 3;
  return ((b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) >>> 0) % max;
}

/** Call after sending a transport message with a non-empty payload. */
export function timersDataSent(ctx: DeviceContext, peer: Peer, now: number): void {
  if (!peer.timers.isPending('newHandshake')) {
    peer.timers.arm(
      'newHandshake',
      now + ctx.timers.keepaliveTimeout + ctx.timers.rekeyTimeout + jitter(ctx),
    );
  }
}

/** Call after receiving a transport message with a non-empty payload. */
export function timersDataReceived(ctx: DeviceContext, peer: Peer, now: number): void {
  if (!peer.timers.isPending('sendKeepalive')) {
    peer.timers.arm('sendKeepalive', now + ctx.timers.keepaliveTimeout);
  } else {
    peer.needAnotherKeepalive = true;
  }
}

/** Call after sending any authenticated message (transport, keepalive, handshake). */
export function timersAnyAuthenticatedPacketSent(peer: Peer): void {
  peer.timers.disarm('sendKeepalive');
}

/** Call after receiving any authenticated message. */
export function timersAnyAuthenticatedPacketReceived(peer: Peer): void {
  peer.timers.disarm('newHandshake');
}

/** Call after sending a handshake initiation. */
export function timersHandshakeInitiated(ctx: DeviceContext, peer: Peer, now: number): void {
  peer.timers.arm('retransmitHandshake', now + ctx.timers.rekeyTimeout + jitter(ctx));
}

/** Call after a handshake completed: response consumed, or the responder's next key pair confirmed. */
export function timersHandshakeComplete(peer: Peer, now: number): void {
  peer.timers.disarm('retransmitHandshake');
  peer.handshakeAttempts = 0;
  peer.sentLastMinuteHandshake = false;
  peer.latestHandshake = now;
  publishHandshake(peer.key, 'complete', now);
}

/** Call after deriving a new key pair (either role). */
export function timersSessionDerived(ctx: DeviceContext, peer: Peer, now: number): void {
  peer.timers.arm('zeroKeyMaterial', now + ctx.timers.rejectAfterTime * 3);
}

/** Call after sending or receiving any authenticated message. */
export function timersAnyAuthenticatedPacketTraversal(peer: Peer, now: number): void {
  if (peer.persistentKeepalive > 0)
    peer.timers.arm('persistentKeepalive', now + peer.persistentKeepalive * 1000);
}

/** Runs every timer of `peer` that is due at `now`. */
export function expireTimers(ctx: DeviceContext, peer: Peer, now: number): void {
  const t = peer.timers;
  if (t.at.retransmitHandshake <= now) {
    t.disarm('retransmitHandshake');
    expiredRetransmitHandshake(ctx, peer, now);
  }
  if (t.at.sendKeepalive <= now) {
    t.disarm('sendKeepalive');
    sendKeepalive(ctx, peer, now);
    if (peer.needAnotherKeepalive) {
      peer.needAnotherKeepalive = false;
      t.arm('sendKeepalive', now + ctx.timers.keepaliveTimeout);
    }
  }
  if (t.at.newHandshake <= now) {
    t.disarm('newHandshake');
    sendInitiation(ctx, peer, now, false);
  }
  if (t.at.zeroKeyMaterial <= now) {
    t.disarm('zeroKeyMaterial');
    peer.zeroKeyMaterial(ctx.index);
    publishKeypair(peer.key, 'zeroed', now);
  }
  if (t.at.persistentKeepalive <= now) {
    t.disarm('persistentKeepalive');
    if (peer.persistentKeepalive > 0) sendKeepalive(ctx, peer, now);
  }
}

/**
 * REKEY_TIMEOUT passed without a response: retry, until REKEY_ATTEMPT_TIME worth of attempts; then
 * give up, drop what was staged, and schedule the key material to be wiped.
 */
function expiredRetransmitHandshake(ctx: DeviceContext, peer: Peer, now: number): void {
  const maxAttempts = Math.ceil(ctx.timers.rekeyAttemptTime / ctx.timers.rekeyTimeout);
  if (peer.handshakeAttempts > maxAttempts) {
    publishHandshake(peer.key, 'gave-up', now, peer.handshakeAttempts);
    peer.timers.disarm('sendKeepalive');
    ctx.sendDrops.handshakeTimeout += peer.discardStaged();
    peer.clearHandshake(ctx.index);
    if (!peer.timers.isPending('zeroKeyMaterial')) {
      peer.timers.arm('zeroKeyMaterial', now + ctx.timers.rejectAfterTime * 3);
    }
    return;
  }
  peer.handshakeAttempts++;
  sendInitiation(ctx, peer, now, true);
}
