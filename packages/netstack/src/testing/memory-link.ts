// SPDX-License-Identifier: Apache-2.0
// An in-memory point-to-point link for tests (wireguard-go tun/tuntest in spirit): what one end sends, the
// other end receives on the next macrotask, copied, in order, through a bounded queue.
import type { PacketLink } from '../link.js';

export class MemoryLink implements PacketLink {
  /** Called with each packet from the peer (the buffer is owned by the receiver). */
  onReceive: ((packet: Uint8Array) => void) | undefined = undefined;
  peer: MemoryLink | undefined = undefined;
  private queue: Uint8Array[] = [];
  private scheduled = false;
  /** Packets dropped because the queue was full. */
  dropped = 0;
  sent = 0;
  closed = false;

  constructor(readonly maxQueue = 8192) {}

  static pair(maxQueue?: number): [MemoryLink, MemoryLink] {
    const a = new MemoryLink(maxQueue);
    const b = new MemoryLink(maxQueue);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  send(packet: Uint8Array): void {
    const p = this.peer;
    if (!p || this.closed || p.closed) return;
    this.sent++;
    p.enqueue(packet.slice());
  }

  private enqueue(pkt: Uint8Array): void {
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(pkt);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.deliver);
    }
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    for (const pkt of q) this.onReceive?.(pkt);
  };

  close(): void {
    this.closed = true;
    this.queue = [];
  }
}
