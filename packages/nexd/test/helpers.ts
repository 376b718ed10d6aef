// SPDX-License-Identifier: Apache-2.0
// Shared test helpers: loopback echo servers, free ports, a log capture, temp dirs.
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';

export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (protocol === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface TcpEcho {
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** A TCP server that answers every chunk with `${tag}:` + chunk and half-closes when the client does. */
export async function tcpEcho(tag: string): Promise<TcpEcho> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let first = true;
    s.on('data', (d) => {
      if (first) s.write(`${tag}:`);
      first = false;
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

export interface UdpEcho {
  port: number;
  /** Distinct client ports seen, i.e. how many flows the proxy opened towards this server. */
  clients: Set<number>;
  close(): Promise<void>;
}

export async function udpEcho(tag: string): Promise<UdpEcho> {
  const s = dgram.createSocket('udp4');
  const clients = new Set<number>();
  s.on('message', (msg, rinfo) => {
    clients.add(rinfo.port);
    s.send(Buffer.concat([Buffer.from(`${tag}:`), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, clients, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** Sends `data`, half-closes, and collects everything until the server closes. */
export function tcpRoundTrip(port: number, data: string | Buffer, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect({ port, host, allowHalfOpen: true }, () => c.end(data));
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
  });
}

/** Sends one datagram from `socket` and waits for one reply (or rejects after `timeoutMs`). */
export function udpRequest(
  socket: dgram.Socket,
  port: number,
  data: string,
  timeoutMs = 2000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.removeListener('message', onMessage);
      reject(new Error(`no UDP reply within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      resolve(msg.toString());
    };
    socket.once('message', onMessage);
    socket.send(data, port, '127.0.0.1');
  });
}

export async function udpClient(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

export interface LogCapture {
  logger: Logger;
  lines: Record<string, unknown>[];
}

export function captureLogs(): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'nexd-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
