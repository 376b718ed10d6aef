// SPDX-License-Identifier: Apache-2.0
// A bound UDP endpoint of the core. Received datagrams are copied into a bounded per-socket queue (the
// packet buffer belongs to the caller of input()); when the application does not drain it, further datagrams
// are dropped and counted, as a kernel does when its socket buffer is full.
import type { IpAddress } from '../wire/ip-address.js';

export interface UdpDatagram {
  data: Uint8Array;
  address: IpAddress;
  port: number;
  /** Our address the datagram was sent to (useful when bound to every address). */
  localAddress: IpAddress;
}

export interface UdpEventSink {
  udpReadable(): void;
}

export class UdpSocket {
  private readonly queue: UdpDatagram[] = [];
  private queuedBytes = 0;
  state: 'bound' | 'closed' = 'bound';
  sink: UdpEventSink | undefined = undefined;
  /** Datagrams dropped because the queue was full. */
  dropped = 0;
  eventQueued = false;

  constructor(
    /** Bound address, or undefined for every address of the stack (both families). */
    readonly local: IpAddress | undefined,
    readonly port: number,
    readonly maxQueued: number,
    readonly maxQueuedBytes: number,
  ) {}

  matches(addr: IpAddress): boolean {
    if (this.local === undefined) return true;
    if (this.local.isUnspecified()) return this.local.family === addr.family;
    return this.local.equals(addr);
  }

  /** Called by the interface; false when the queue is full. */
  deliver(payload: Uint8Array, src: IpAddress, srcPort: number, dst: IpAddress): boolean {
    if (this.queue.length >= this.maxQueued || this.queuedBytes + payload.length > this.maxQueuedBytes) {
      this.dropped++;
      return false;
    }
    this.queue.push({
      data: payload.slice(),
      address: src.clone(),
      port: srcPort,
      localAddress: dst.clone(),
    });
    this.queuedBytes += payload.length;
    return true;
  }

  /** Takes the oldest datagram, or undefined. */
  recv(): UdpDatagram | undefined {
    const d = this.queue.shift();
    if (d) this.queuedBytes -= d.data.length;
    return d;
  }

  get pending(): number {
    return this.queue.length;
  }
}
