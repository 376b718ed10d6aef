// SPDX-License-Identifier: Apache-2.0
// Test-side application logic for the simulator: a deterministic writer and a hashing reader over core sockets.
import { createHash, type Hash } from 'node:crypto';
import { IpAddress, type TcpListener, type TcpSocket } from '../src/index.js';
import { fillPattern } from '../src/testing/prng.js';
import type { Simulator } from '../src/testing/simulator.js';

/** Writes `total` pattern bytes into sock as buffer space allows, then (optionally) closes. */
export class Writer {
  written = 0;
  private readonly chunk = new Uint8Array(64 * 1024);
  readonly hash: Hash = createHash('sha256');
  closed = false;
  constructor(
    readonly sock: TcpSocket,
    readonly total: number,
    readonly seed: number,
    readonly closeWhenDone = true,
  ) {}
  step(): void {
    while (this.written < this.total && this.sock.sendFree > 0) {
      const n = Math.min(this.chunk.length, this.total - this.written, this.sock.sendFree);
      fillPattern(this.seed, this.written, this.chunk, 0, n);
      const k = this.sock.send(this.chunk, 0, n);
      this.hash.update(this.chunk.subarray(0, k));
      this.written += k;
      if (k < n) break;
    }
    if (this.written >= this.total && this.closeWhenDone && !this.closed) {
      this.closed = true;
      this.sock.close();
    }
  }
}

/** Reads everything from sock (at most `rate` bytes per step when set) into a hash; closes after EOF. */
export class Reader {
  received = 0;
  private readonly buf = new Uint8Array(64 * 1024);
  readonly hash: Hash = createHash('sha256');
  closed = false;
  maxBuffered = 0;
  constructor(
    readonly sock: TcpSocket,
    readonly rate = Number.POSITIVE_INFINITY,
    readonly closeOnEof = true,
  ) {}
  step(): void {
    this.maxBuffered = Math.max(this.maxBuffered, this.sock.recvAvailable);
    let budget = this.rate;
    for (;;) {
      const n = this.sock.recv(this.buf, 0, Math.min(this.buf.length, budget));
      if (n <= 0) break;
      this.hash.update(this.buf.subarray(0, n));
      this.received += n;
      budget -= n;
    }
    if (this.sock.rxEnded && this.sock.recvAvailable === 0 && this.closeOnEof && !this.closed) {
      this.closed = true;
      this.sock.close();
    }
  }
  get eof(): boolean {
    return this.sock.rxEnded && this.sock.recvAvailable === 0;
  }
}

/** Opens a connection a -> b:port and returns both ends once established (or throws). */
export function connectPair(
  sim: Simulator,
  port = 80,
  family: 4 | 6 = 4,
): { client: TcpSocket; server: TcpSocket; listener: TcpListener } {
  const listener = sim.b.tcpListen(port);
  if (typeof listener === 'string') throw new Error(`listen: ${listener}`);
  const dst = IpAddress.from(family === 4 ? '100.100.0.2' : '200::2');
  const client = sim.a.tcpConnect(dst, port, sim.now);
  if (typeof client === 'string') throw new Error(`connect: ${client}`);
  let server: TcpSocket | undefined;
  const ok = sim.run(
    () => client.state === 'established' && server !== undefined,
    sim.now + 60_000,
    () => {
      server ??= listener.accept();
    },
  );
  if (!ok || !server) throw new Error(`handshake did not complete: client ${client.state}`);
  return { client, server, listener };
}

export function digest(h: Hash): string {
  return h.digest('hex');
}
