// SPDX-License-Identifier: Apache-2.0
// The Node adapter of the STUN responder: one UDP socket per family on its own port (3478 by default,
// RFC 8489 section 9). Every datagram goes through answerBinding; errors of the socket are counted, never
// thrown, so random bytes or a flood at the port cannot take the process down.
import dgram from 'node:dgram';
import { answerBinding } from './responder.js';

export const STUN_DEFAULT_PORT = 3478;

export interface StunServerOptions {
  /** UDP port; 0 = an ephemeral one (tests). */
  port: number;
  /** IPv4 bind address, default 0.0.0.0. */
  host?: string;
  /** Also listen on [::] (same port); default true, silently IPv4-only where IPv6 is absent. */
  ipv6?: boolean;
  software?: string;
}

export interface StunServerCounters {
  answered: number;
  malformed: number;
  ignored: number;
  socketErrors: number;
}

export class StunServer {
  readonly counters: StunServerCounters = { answered: 0, malformed: 0, ignored: 0, socketErrors: 0 };

  private constructor(
    private readonly sockets: dgram.Socket[],
    readonly port: number,
  ) {}

  static async listen(opts: StunServerOptions): Promise<StunServer> {
    const s4 = dgram.createSocket({ type: 'udp4' });
    await bind(s4, opts.port, opts.host ?? '0.0.0.0');
    const port = s4.address().port;
    const sockets = [s4];
    if (opts.ipv6 !== false) {
      const s6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
      try {
        await bind(s6, port, '::');
        sockets.push(s6);
      } catch {
        s6.close();
      }
    }
    const server = new StunServer(sockets, port);
    for (const s of sockets) server.serve(s, opts.software);
    return server;
  }

  private serve(sock: dgram.Socket, software: string | undefined): void {
    sock.on('error', () => {
      this.counters.socketErrors++;
    });
    sock.on('message', (msg, rinfo) => {
      const v = answerBinding(msg, { address: rinfo.address, port: rinfo.port }, software);
      if (v.kind === 'drop') {
        if (v.reason === 'malformed') this.counters.malformed++;
        else this.counters.ignored++;
        return;
      }
      this.counters.answered++;
      sock.send(v.response, rinfo.port, rinfo.address, (err) => {
        if (err) this.counters.socketErrors++;
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function bind(sock: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}
