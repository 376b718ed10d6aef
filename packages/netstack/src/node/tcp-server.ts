// SPDX-License-Identifier: Apache-2.0
// A net.Server-shaped listener: 'connection' events with TcpSocketStream, close().
import { EventEmitter } from 'node:events';
import type { TcpListener, TcpListenerSink } from '../tcp/listener.js';
import type { TcpSocketStream } from './tcp-stream.js';

export interface ServerHost {
  acceptStream(l: TcpListener): TcpSocketStream | undefined;
  unlisten(l: TcpListener): void;
}

export class TcpServer extends EventEmitter implements TcpListenerSink {
  listening = true;
  constructor(
    private readonly host: ServerHost,
    readonly listener: TcpListener,
  ) {
    super();
    listener.sink = this;
  }

  address(): { address: string; port: number } {
    return { address: this.listener.local?.toString() ?? '::', port: this.listener.port };
  }

  tcpAcceptable(): void {
    for (;;) {
      const s = this.host.acceptStream(this.listener);
      if (!s) break;
      this.emit('connection', s);
    }
  }

  /** Stops accepting; established connections stay open (as net.Server#close). */
  close(cb?: () => void): this {
    if (this.listening) {
      this.listening = false;
      this.host.unlisten(this.listener);
      queueMicrotask(() => this.emit('close'));
    }
    if (cb) queueMicrotask(cb);
    return this;
  }
}
