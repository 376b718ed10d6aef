// SPDX-License-Identifier: Apache-2.0
// A dgram.Socket-shaped UDP endpoint: send(data, port, address[, cb]), 'message' (msg, rinfo), close().
import { EventEmitter } from 'node:events';
import type { UdpEventSink, UdpSocket } from '../udp/socket.js';
import { IpAddress } from '../wire/ip-address.js';
import { NetStackError } from './errors.js';

export interface UdpHost {
  udpSend(s: UdpSocket, data: Uint8Array, dst: IpAddress, port: number): string | undefined;
  udpClose(s: UdpSocket): void;
  scheduleFlush(): void;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export class UdpSocketHandle extends EventEmitter implements UdpEventSink {
  constructor(
    private readonly host: UdpHost,
    readonly core: UdpSocket,
  ) {
    super();
    core.sink = this;
  }

  address(): { address: string; port: number } {
    return { address: this.core.local?.toString() ?? '::', port: this.core.port };
  }

  /** Sends one datagram; errors go to cb or, without cb, to 'error' (as dgram does). */
  send(data: Uint8Array | string, port: number, address: string, cb?: (err: Error | null) => void): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let err: Error | null = null;
    const dst = IpAddress.parse(address);
    if (!dst) {
      err = new NetStackError(
        'EADDRNOTAVAIL',
        `send EADDRNOTAVAIL ${address}: expected an IP address`,
        'send',
      );
    } else {
      const r = this.host.udpSend(this.core, buf, dst, port);
      if (r === 'too-big') {
        err = new NetStackError(
          'EMSGSIZE',
          `send EMSGSIZE: ${buf.length} bytes exceed the UDP maximum (65507 over IPv4, 65527 over IPv6)`,
          'send',
        );
      } else if (r === 'closed') {
        err = new NetStackError('ERR_SOCKET_CLOSED', 'send on a closed UDP socket', 'send');
      } else if (r === 'queue-full') {
        err = new NetStackError('ENOBUFS', 'send ENOBUFS: transmit queue full, retry later', 'send');
      } else if (r !== undefined) {
        err = new NetStackError('EADDRNOTAVAIL', `send EADDRNOTAVAIL ${address}:${port}`, 'send');
      }
      this.host.scheduleFlush();
    }
    if (cb) queueMicrotask(() => cb(err));
    else if (err) queueMicrotask(() => this.emit('error', err));
  }

  udpReadable(): void {
    for (;;) {
      const d = this.core.recv();
      if (!d) break;
      const rinfo: RemoteInfo = {
        address: d.address.toString(),
        family: d.address.family === 4 ? 'IPv4' : 'IPv6',
        port: d.port,
        size: d.data.length,
      };
      this.emit('message', Buffer.from(d.data.buffer, d.data.byteOffset, d.data.length), rinfo);
    }
  }

  close(cb?: () => void): void {
    this.host.udpClose(this.core);
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
  }
}
