// SPDX-License-Identifier: Apache-2.0
// Link middleware injecting seeded faults (smoltcp phy/fault_injector.rs): loss, duplication, reordering
// (a packet is held back and released after the next one, or by flush()), corruption, and an MTU.
import type { PacketLink } from '../link.js';
import { Prng } from './prng.js';

export interface FaultOptions {
  seed: number;
  /** Probability in [0, 1]. */
  loss?: number;
  duplicate?: number;
  reorder?: number;
  corrupt?: number;
  /** Packets longer than this are dropped. */
  mtu?: number;
}

export class FaultyLink implements PacketLink {
  private readonly rng: Prng;
  private held: Uint8Array | undefined = undefined;
  readonly counts = { sent: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, tooBig: 0 };

  constructor(
    readonly inner: PacketLink,
    readonly opts: FaultOptions,
  ) {
    this.rng = new Prng(opts.seed);
  }

  send(packet: Uint8Array): void {
    const o = this.opts;
    if (o.mtu !== undefined && packet.length > o.mtu) {
      this.counts.tooBig++;
      return;
    }
    if (o.loss && this.rng.next() < o.loss) {
      this.counts.lost++;
      return;
    }
    let pkt = packet;
    if (o.corrupt && this.rng.next() < o.corrupt) {
      pkt = packet.slice();
      pkt[this.rng.int(pkt.length)] ^= 1 << this.rng.int(8);
      this.counts.corrupted++;
    }
    if (o.reorder && !this.held && this.rng.next() < o.reorder) {
      this.held = pkt.slice();
      this.counts.reordered++;
      return;
    }
    this.forward(pkt);
    if (o.duplicate && this.rng.next() < o.duplicate) {
      this.counts.duplicated++;
      this.forward(pkt);
    }
    this.flush();
  }

  /** Releases a held-back packet. */
  flush(): void {
    const h = this.held;
    if (h) {
      this.held = undefined;
      this.forward(h);
    }
  }

  private forward(pkt: Uint8Array): void {
    this.counts.sent++;
    this.inner.send(pkt);
  }
}
