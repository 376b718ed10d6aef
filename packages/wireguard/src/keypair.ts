// SPDX-License-Identifier: Apache-2.0
// Transport key pairs (section 5.4.5) and the previous/current/next rotation (section 6.3 of the paper,
// wireguard-go keypair.go): the initiator uses a new pair at once; the responder parks it in `next` until
// the initiator's first transport message proves the initiator has it too.
import { ReplayFilter } from './replay.js';

export class Keypair {
  /** Messages sent so far, i.e. the next nonce; never reaches REJECT_AFTER_MESSAGES. */
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  constructor(
    readonly sendKey: Uint8Array,
    readonly recvKey: Uint8Array,
    /** Our index (the receiver field of transport messages sent to us). */
    readonly localIndex: number,
    /** The peer's index, written into every transport message we send. */
    readonly remoteIndex: number,
    /** Time (ms) the pair was derived; drives REKEY_AFTER_TIME and REJECT_AFTER_TIME. */
    readonly created: number,
    readonly isInitiator: boolean,
  ) {}

  /** Zeroes the keys when the pair is dropped. */
  wipe(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}

export interface KeypairSlots {
  previous: Keypair | undefined;
  current: Keypair | undefined;
  next: Keypair | undefined;
}
