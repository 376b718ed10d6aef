// SPDX-License-Identifier: Apache-2.0
// A passive-open endpoint (RFC 9293 LISTEN) with a bounded SYN backlog and a bounded accept queue.
// Beyond either bound a SYN is refused with RST (the interface sends it), so a SYN flood costs existing
// connections nothing: half-open sockets are capped and time out after their SYN-ACK retries.
import type { IpAddress } from '../wire/ip-address.js';
import type { TcpListenerRef, TcpSocket } from './socket.js';

export interface TcpListenerSink {
  /** Connections are waiting in accept(). */
  tcpAcceptable(): void;
}

export class TcpListener implements TcpListenerRef {
  state: 'listen' | 'closed' = 'listen';
  /** Sockets in SYN-RECEIVED created by this listener. */
  halfOpen = 0;
  private readonly queue: TcpSocket[] = [];
  sink: TcpListenerSink | undefined = undefined;
  /** Interface bookkeeping: queued for an acceptable notification. */
  eventQueued = false;

  constructor(
    /** Bound address, or undefined for every address of the stack (both families). */
    readonly local: IpAddress | undefined,
    readonly port: number,
    /** Maximum half-open plus not-yet-accepted connections, i.e. 128. */
    readonly backlog: number,
  ) {}

  /** True when a new SYN may be admitted. */
  get hasRoom(): boolean {
    return this.state === 'listen' && this.halfOpen + this.queue.length < this.backlog;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Called by the interface when a socket of this listener reached ESTABLISHED. */
  enqueue(sock: TcpSocket): void {
    this.queue.push(sock);
  }

  /** Takes the oldest established connection, or undefined. */
  accept(): TcpSocket | undefined {
    return this.queue.shift();
  }

  /** Drains the queue (for close()). */
  drain(): TcpSocket[] {
    return this.queue.splice(0, this.queue.length);
  }

  matches(addr: IpAddress): boolean {
    return this.local === undefined || this.local.isUnspecified()
      ? this.local === undefined || this.local.family === addr.family
      : this.local.equals(addr);
  }
}
