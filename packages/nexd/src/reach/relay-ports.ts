// SPDX-License-Identifier: Apache-2.0
// Placeholder endpoints of relayed paths: one address (RELAY_PLACEHOLDER, never on a wire) whose port
// names both a relay and a peer, so that each peer has one candidate endpoint per relay and roaming
// alone says which relay a peer is reached on. The port space is cut into one block per relay:
//
//   relay 0: ports 1 .. B, relay 1: ports B+1 .. 2B, ...   (B = floor(65535 / relays))
//
// and a peer has the same offset in every block (its index, given on first use). Pure arithmetic on
// the send path; on the receive path a datagram from the peer of the previous one (a bulk transfer) is
// matched by comparing its key bytes, and only a change of peer looks the key up by string.

import { equalBytes } from '@nexodus/nat';

/** Placeholder address of relayed endpoints (Tailscale's magic DERP address; never sent to a socket). */
export const RELAY_PLACEHOLDER = '127.3.3.40';
/** At most this many relays are used at once (each costs a TCP connection and a port block). */
export const MAX_RELAYS = 8;
const PORTS = 65535;

export class RelayPorts {
  readonly relays: number;
  /** Ports per relay, i.e. how many peers can be relayed. */
  readonly block: number;
  readonly #indexOf = new Map<string, number>();
  readonly #keys: Uint8Array[] = [];
  /** Index of the key portOf matched last (-1: none yet). */
  #last = -1;

  constructor(relays: number) {
    if (!Number.isInteger(relays) || relays < 1 || relays > MAX_RELAYS)
      throw new RangeError(`relays: expected 1..${MAX_RELAYS}, got ${relays}`);
    this.relays = relays;
    this.block = Math.floor(PORTS / relays);
  }

  /**
   * The placeholder port of `key` on relay `relay`, giving the peer an index on first use; 0 when
   * there are more peers than ports in a block (those are not relayed).
   */
  portOf(relay: number, key: Uint8Array): number {
    if (this.#last >= 0 && equalBytes(this.#keys[this.#last]!, key))
      return relay * this.block + 1 + this.#last;
    const hex = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
    let index = this.#indexOf.get(hex);
    if (index === undefined) {
      if (this.#keys.length >= this.block) return 0;
      index = this.#keys.length;
      this.#keys.push(Uint8Array.from(key));
      this.#indexOf.set(hex, index);
    }
    this.#last = index;
    return relay * this.block + 1 + index;
  }

  /** The relay a placeholder port belongs to, or -1 for a port no peer was given. */
  relayAt(port: number): number {
    const i = port - 1;
    if (!(i >= 0) || i % this.block >= this.#keys.length) return -1;
    const relay = Math.floor(i / this.block);
    return relay < this.relays ? relay : -1;
  }

  /** The peer key of a placeholder port (see relayAt), or undefined. */
  keyAt(port: number): Uint8Array | undefined {
    return this.relayAt(port) < 0 ? undefined : this.#keys[(port - 1) % this.block];
  }

  /** The same peer's port on another relay. */
  move(port: number, relay: number): number {
    return relay * this.block + 1 + ((port - 1) % this.block);
  }
}
