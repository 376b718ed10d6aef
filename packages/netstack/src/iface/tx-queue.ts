// SPDX-License-Identifier: Apache-2.0
// Bounded queue of packets produced outside poll() (ICMP echo replies, RSTs, UDP sends), flushed by the next
// poll. Slots are allocated on first use and then reused; when full, new packets are dropped and counted.

export class TxQueue {
  private readonly slots: Uint8Array[] = [];
  private readonly lens: number[] = [];
  private head = 0;
  length = 0;

  constructor(
    readonly capacity: number,
    readonly slotSize: number,
  ) {}

  /** Copies pkt[0, len) into the queue; false when full. */
  push(pkt: Uint8Array, len: number): boolean {
    if (this.length >= this.capacity || len > this.slotSize) return false;
    let i = this.head + this.length;
    if (i >= this.capacity) i -= this.capacity;
    if (this.slots[i] === undefined) this.slots[i] = new Uint8Array(this.slotSize);
    this.slots[i].set(pkt.subarray(0, len));
    this.lens[i] = len;
    this.length++;
    return true;
  }

  /** Hands each queued packet to send() (which must not keep it) and empties the queue. */
  flush(send: (pkt: Uint8Array) => void): void {
    while (this.length > 0) {
      const i = this.head;
      this.head = i + 1 === this.capacity ? 0 : i + 1;
      this.length--;
      send(this.slots[i].subarray(0, this.lens[i]));
    }
  }
}
