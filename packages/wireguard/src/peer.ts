// SPDX-License-Identifier: Apache-2.0
// One configured peer: its handshake, key pairs, timers, staged packets, endpoint and counters.
// Protocol logic lives in send.ts / receive.ts / timers.ts; this file holds state and the key-pair
// rotation, which must keep the index table in step with the slots.
import { CookieGenerator } from './cookie.js';
import type { IndexTable } from './index-table.js';
import { Keypair, type KeypairSlots } from './keypair.js';
import { Handshake, type LocalStatic, type SessionKeys } from './noise.js';
import { PeerTimers } from './timers.js';

/** A UDP endpoint: an IP literal (IPv6 without brackets) and a port. */
export interface Endpoint {
  address: string;
  port: number;
}

export class Peer {
  readonly handshake: Handshake;
  readonly cookies: CookieGenerator;
  readonly keypairs: KeypairSlots = { previous: undefined, current: undefined, next: undefined };
  readonly timers = new PeerTimers();
  /** Packets waiting for a usable key pair, oldest first; bounded by MAX_STAGED_PACKETS. */
  readonly staged: Uint8Array[] = [];
  /** Where to send, i.e. { address: '198.51.100.7', port: 51820 }; learnt from authenticated packets (roaming). */
  endpoint: Endpoint | undefined;
  /** Other addresses initiations also go to (see PeerConfig.candidates). */
  candidates: Endpoint[] = [];
  /** Persistent keepalive interval in seconds, 0 = off. */
  persistentKeepalive = 0;
  rxBytes = 0;
  txBytes = 0;
  /** Time (ms) of the last completed handshake, as `wg show` "latest handshake". */
  latestHandshake: number | undefined = undefined;
  /** Initiations retransmitted since the last one started by an event (not a retry); see timers.ts. */
  handshakeAttempts = 0;
  /** Data arrived while the keepalive timer was already pending: send another after it fires. */
  needAnotherKeepalive = false;
  /** The "last minute" initiation of keepKeyFreshReceiving was sent for the current key pair. */
  sentLastMinuteHandshake = false;
  /** Index of our initiation in flight, registered as a 'handshake' entry in the index table. */
  handshakeIndex: number | undefined = undefined;
  /** When we last sent an initiation (ms); initiations are at least REKEY_TIMEOUT apart. */
  lastSentHandshake = Number.NEGATIVE_INFINITY;

  constructor(
    local: LocalStatic,
    readonly publicKey: Uint8Array,
    /** Base64 public key, the peer's name in status and in deliverPacket. */
    readonly key: string,
    presharedKey: Uint8Array | undefined,
    cookieRefreshTime: number,
  ) {
    this.handshake = new Handshake(local, publicKey, presharedKey);
    this.cookies = new CookieGenerator(publicKey, cookieRefreshTime);
  }

  /**
   * Installs the key pair of a finished handshake. Initiator: it becomes current at once and the old
   * current (or an unconfirmed next) becomes previous, so in-flight packets still decrypt. Responder: it
   * waits in `next` until the initiator's first transport message confirms it (receivedWithKeypair).
   */
  installKeypair(keys: SessionKeys, now: number, table: IndexTable<Peer>): Keypair {
    const kp = new Keypair(
      keys.sendKey,
      keys.recvKey,
      keys.localIndex,
      keys.remoteIndex,
      now,
      keys.isInitiator,
    );
    table.replace(kp.localIndex, { kind: 'keypair', peer: this, keypair: kp });
    if (this.handshakeIndex === kp.localIndex) this.handshakeIndex = undefined; // promoted, not released
    const slots = this.keypairs;
    if (keys.isInitiator) {
      if (slots.next) {
        // An unconfirmed responder pair is newer than current: keep it as previous, drop current.
        this.drop(slots.previous, table);
        this.drop(slots.current, table);
        slots.previous = slots.next;
        slots.next = undefined;
      } else {
        this.drop(slots.previous, table);
        slots.previous = slots.current;
      }
      slots.current = kp;
    } else {
      this.drop(slots.next, table);
      slots.next = kp;
    }
    return kp;
  }

  /** Promotes `next` to current when its first packet arrives; true when that happened. */
  receivedWithKeypair(kp: Keypair, table: IndexTable<Peer>): boolean {
    const slots = this.keypairs;
    if (slots.next !== kp) return false;
    this.drop(slots.previous, table);
    slots.previous = slots.current;
    slots.current = kp;
    slots.next = undefined;
    return true;
  }

  /**
   * Empties the staging queue; returns how many IP packets it held (a staged keepalive, the empty
   * placeholder sendKeepalive queues, is not a dropped packet), for the caller's send drop counter.
   */
  discardStaged(): number {
    let packets = 0;
    for (const p of this.staged) if (p.length > 0) packets++;
    this.staged.length = 0;
    return packets;
  }

  /** Wipes all key material (REJECT_AFTER_TIME * 3 without a handshake, or removal). */
  zeroKeyMaterial(table: IndexTable<Peer>): void {
    const slots = this.keypairs;
    this.drop(slots.previous, table);
    this.drop(slots.current, table);
    this.drop(slots.next, table);
    slots.previous = slots.current = slots.next = undefined;
    this.clearHandshake(table);
  }

  /** Forgets the handshake in flight and releases its index. */
  clearHandshake(table: IndexTable<Peer>): void {
    this.releaseHandshakeIndex(table);
    this.handshake.clear();
  }

  /**
   * Releases the index of an initiation we sent, i.e. when the peer's own initiation overtakes it
   * (both sides initiated at once) or a new one replaces it. A response to it is then unknown.
   */
  releaseHandshakeIndex(table: IndexTable<Peer>): void {
    if (this.handshakeIndex === undefined) return;
    const entry = table.get(this.handshakeIndex);
    if (entry?.kind === 'handshake' && entry.peer === this) table.delete(this.handshakeIndex);
    this.handshakeIndex = undefined;
  }

  private drop(kp: Keypair | undefined, table: IndexTable<Peer>): void {
    if (!kp) return;
    table.delete(kp.localIndex);
    kp.wipe();
  }
}
