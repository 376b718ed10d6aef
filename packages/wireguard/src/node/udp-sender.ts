// SPDX-License-Identifier: Apache-2.0
// How datagrams leave a WireGuardNode socket: the DatagramSender shape, and DgramSender, one dgram.send
// per datagram, for when the batched socket (batched-socket.ts) is not available.
import type dgram from 'node:dgram';
import type { Endpoint } from '../peer.js';

export interface DatagramSender {
  /** Queues or sends one datagram; `data` may be reused by the caller as soon as this returns. */
  send(data: Uint8Array, to: Endpoint): void;
  /** Sends what is queued, then drops whatever comes later: the socket is about to close. */
  close(): void;
  /**
   * Datagrams that never left: the kernel refused them (EACCES, EMSGSIZE, ENETUNREACH, ...), or the
   * socket stayed full for longer than its queue lasts. The sum of the three counts below.
   */
  readonly errors: number;
  /** Datagrams the kernel refused with EMSGSIZE: larger than the underlay route's MTU. */
  readonly tooBig: number;
  /** Datagrams the kernel refused for another reason (EACCES, ENETUNREACH, ENOBUFS, ...). */
  readonly refused: number;
  /** Datagrams dropped because the socket stayed full while the bounded send queue was full too. */
  readonly queueFull: number;
  /** Errors the socket reported on receive (i.e. an ICMP error the kernel queued on it). */
  readonly receiveErrors: number;
  /** How datagrams move: 'dgram', or 'mmsg' / 'mmsg+gso' (GSO is dropped if the kernel refuses it). */
  readonly path: string;
}

/**
 * Outgoing datagrams are copied into a ring of slots, because the core reuses its send buffer at once
 * while dgram may still hold a datagram (libuv queues it when the kernel says EAGAIN). Completions come
 * back in order per socket, so counting them tells which slots are free; when all are in flight, or a
 * datagram is larger than a slot, it is copied into a fresh Buffer instead.
 */
const RING_SLOTS = 512;
const RING_SLOT_SIZE = 2048;

export class DgramSender implements DatagramSender {
  readonly path = 'dgram';
  private readonly buf = new Uint8Array(RING_SLOTS * RING_SLOT_SIZE);
  private next = 0;
  /** Sends handed to dgram whose callback has not run yet. */
  inflight = 0;
  tooBig = 0;
  refused = 0;
  /** dgram queues without a bound (libuv), so nothing is dropped for a full queue here. */
  readonly queueFull = 0;
  /** Shared completion callback (one closure per socket, not per packet). */
  private readonly done = (err: Error | null): void => {
    this.inflight--;
    if (!err) return;
    if ((err as NodeJS.ErrnoException).code === 'EMSGSIZE') this.tooBig++;
    else this.refused++;
  };

  get errors(): number {
    return this.tooBig + this.refused;
  }

  receiveErrors = 0;

  constructor(private readonly sock: dgram.Socket) {
    // Sends report through their callback; what reaches 'error' after bind comes from receiving.
    sock.on('error', () => {
      this.receiveErrors++;
    });
  }

  send(data: Uint8Array, to: Endpoint): void {
    let copy: Uint8Array;
    if (data.length <= RING_SLOT_SIZE && this.inflight < RING_SLOTS) {
      const off = this.next * RING_SLOT_SIZE;
      this.next = (this.next + 1) % RING_SLOTS;
      copy = this.buf.subarray(off, off + data.length);
      copy.set(data);
    } else {
      copy = Buffer.from(data);
    }
    this.inflight++;
    this.sock.send(copy, to.port, to.address, this.done);
  }

  close(): void {}
}
