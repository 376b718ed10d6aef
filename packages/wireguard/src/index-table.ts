// SPDX-License-Identifier: Apache-2.0
// Receiver index -> (peer, handshake or key pair), the table that routes handshake responses, cookie
// replies and transport messages (section 5.4.1 "sender index"). Indices are random 32-bit values.
import type { Keypair } from './keypair.js';

export type IndexEntry<P> = { kind: 'handshake'; peer: P } | { kind: 'keypair'; peer: P; keypair: Keypair };

export class IndexTable<P> {
  private readonly map = new Map<number, IndexEntry<P>>();
  private readonly scratch = new Uint8Array(4);

  constructor(private readonly random: (b: Uint8Array) => void) {}

  get size(): number {
    return this.map.size;
  }

  get(index: number): IndexEntry<P> | undefined {
    return this.map.get(index);
  }

  /** Picks a fresh random index not in use and binds it to `entry`. */
  allocate(entry: IndexEntry<P>): number {
    for (;;) {
      this.random(this.scratch);
      const index =
        (this.scratch[0] | (this.scratch[1] << 8) | (this.scratch[2] << 16) | (this.scratch[3] << 24)) >>> 0;
      if (!this.map.has(index)) {
        this.map.set(index, entry);
        return index;
      }
    }
  }

  /** Rebinds an index, i.e. when a completed handshake's index becomes its key pair's. */
  replace(index: number, entry: IndexEntry<P>): void {
    this.map.set(index, entry);
  }

  delete(index: number): void {
    this.map.delete(index);
  }
}
