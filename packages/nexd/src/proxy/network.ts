// SPDX-License-Identifier: Apache-2.0
// The seams the proxy engine runs over. Each rule has a listening side and a dialling side: ingress
// listens on the tunnel (the userspace netstack) and dials the local network; egress is the mirror.
// `node-network.ts` implements both interfaces with node:net/node:dgram for the local side; the netstack
// package will implement them for the tunnel side. Tests use node:net on loopback for both.
import type { Duplex } from 'node:stream';

/** An address and port, i.e. `{ host: '100.100.0.1', port: 80 }` or `{ host: 'db.ns.svc', port: 5432 }`. */
export interface Endpoint {
  host: string;
  port: number;
}

export interface Closable {
  /** Stops accepting; resolves once the listener is gone (connections it accepted are not touched). */
  close(): Promise<void>;
}

/** A connected byte stream. `net.Socket` satisfies it; `resetAndDestroy` aborts with an RST where supported. */
export type StreamConnection = Duplex & { resetAndDestroy?: () => unknown };

/** A new connection: who connected (`remote`) and which of our addresses it reached (`local`). */
export type OnConnection = (conn: StreamConnection, remote: Endpoint, local: Endpoint) => void;

export interface StreamNetwork {
  /**
   * Listens for connections on `port`. New connections are handed over paused (the proxy resumes them once
   * the other side is dialled). Rejects with a NexdError (NEX_ERR_PROXY_LISTEN) when the port is unusable.
   */
  listen(port: number, onConnection: OnConnection): Promise<Closable>;
  /**
   * Dials `target`, resolving a DNS name first (every call resolves afresh, so a Kubernetes Service keeps
   * working when its address changes). Resolves once established; rejects if resolution or the dial fails.
   */
  connect(target: Endpoint, options?: ConnectOptions): Promise<StreamConnection>;
}

export interface ConnectOptions {
  /** Resolution and connection together must finish within this many ms (default: the network's own). */
  timeoutMs?: number;
}

export interface DatagramListener extends Closable {
  /** Sends one datagram from the bound port to `to`. */
  send(data: Uint8Array, to: Endpoint): void;
}

export interface DatagramFlow extends Closable {
  /** Sends one datagram to the flow's destination. */
  send(data: Uint8Array): void;
}

/**
 * A DatagramFlow over a socket's `send` and `close(callback)`: sends after close are dropped (a reply
 * racing the idle sweep), and a second close resolves at once instead of closing the socket twice.
 */
export function datagramFlow(
  send: (data: Uint8Array) => void,
  close: (done: () => void) => void,
): DatagramFlow {
  let closed = false;
  return {
    send: (data) => {
      if (!closed) send(data);
    },
    close: () =>
      new Promise<void>((done) => {
        if (closed) return done();
        closed = true;
        close(done);
      }),
  };
}

/** What a listener needs of a bound datagram socket: node:dgram's Socket and netstack's UdpSocketHandle. */
export interface BoundDatagramSocket {
  on(event: 'message', listener: (msg: Buffer, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  send(data: Uint8Array, port: number, address: string): void;
  close(callback: () => void): unknown;
}

/**
 * A DatagramListener over a bound socket: every datagram goes to `onMessage` with its sender. Send errors
 * (queue full, ICMP unreachable for a departed client) are per datagram: dropped, never a crash.
 */
export function datagramListener(
  socket: BoundDatagramSocket,
  onMessage: (data: Buffer, from: Endpoint) => void,
): DatagramListener {
  socket.on('message', (msg, rinfo) => onMessage(msg, { host: rinfo.address, port: rinfo.port }));
  socket.on('error', () => {});
  return {
    send: (data, to) => socket.send(data, to.port, to.host),
    close: () => new Promise<void>((done) => socket.close(() => done())),
  };
}

export interface DatagramNetwork {
  /** Binds `port`; `onMessage` gets every datagram with its sender. Rejects with NEX_ERR_PROXY_LISTEN. */
  bind(port: number, onMessage: (data: Buffer, from: Endpoint) => void): Promise<DatagramListener>;
  /**
   * Opens a flow from an ephemeral port to `target` (resolved afresh per call). `onMessage` gets replies;
   * `onError` gets transport errors after the flow is open, i.e. ICMP port unreachable as ECONNREFUSED.
   */
  connect(
    target: Endpoint,
    onMessage: (data: Buffer) => void,
    onError: (err: Error) => void,
  ): Promise<DatagramFlow>;
}

/** One side of the proxy: a stream and a datagram network over the same addresses. */
export interface ProxySide {
  stream: StreamNetwork;
  datagram: DatagramNetwork;
}

/** Milliseconds since an arbitrary origin; injected so that tests can advance time (UDP flow expiry). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };
