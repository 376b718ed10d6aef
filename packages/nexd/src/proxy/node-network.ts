// SPDX-License-Identifier: Apache-2.0
// node:net / node:dgram implementations of the proxy seams: the local side of every rule (and, in tests,
// a stand-in for the tunnel side). DNS names are resolved on every connect, never cached here.
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { NexdError } from '../errors.js';
import { dialStream } from './dial.js';
import {
  type Closable,
  type ConnectOptions,
  type DatagramFlow,
  type DatagramListener,
  type DatagramNetwork,
  datagramFlow,
  datagramListener,
  type Endpoint,
  type OnConnection,
  type StreamConnection,
  type StreamNetwork,
} from './network.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to one address. Literal addresses must be returned unchanged. */
export type Resolver = (host: string) => Promise<ResolvedAddress>;

/** The system resolver (getaddrinfo, so /etc/hosts and the pod's resolv.conf search list apply). */
export const systemResolver: Resolver = async (host) => {
  const family = net.isIP(host);
  if (family !== 0) return { address: host, family: family as 4 | 6 };
  const r = await lookup(host);
  return { address: r.address, family: r.family === 6 ? 6 : 4 };
};

export interface NodeNetworkOptions {
  /**
   * Address listeners bind to, or addresses to try in order. The default, `::` then `0.0.0.0`, accepts
   * IPv4 and IPv6 and still works where the kernel has IPv6 switched off. Tests use `127.0.0.1`.
   */
  listenHost?: string | readonly string[];
  resolve?: Resolver;
  /** A dial that has not completed after this long fails (default 10 s). */
  connectTimeoutMs?: number;
  /** SO_RCVBUF/SO_SNDBUF for UDP sockets, in bytes (default: the kernel's). */
  udpBufferBytes?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_LISTEN_HOSTS = ['::', '0.0.0.0'] as const;
/** Errors that mean "this address family or address is not available here": try the next address. */
const FALLBACK_ERRORS = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL']);

function listenHosts(option: string | readonly string[] | undefined): readonly string[] {
  if (option === undefined) return DEFAULT_LISTEN_HOSTS;
  return typeof option === 'string' ? [option] : option;
}

/** Tries `attempt` on each host in turn, moving on only for FALLBACK_ERRORS. */
async function firstHost<T>(hosts: readonly string[], attempt: (host: string) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const host of hosts) {
    try {
      return await attempt(host);
    } catch (err) {
      last = err;
      const code = ((err as NexdError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (!code || !FALLBACK_ERRORS.has(code)) throw err;
    }
  }
  throw last;
}

function listenError(protocol: string, port: number, host: string, err: unknown): NexdError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  const hint =
    code === 'EADDRINUSE'
      ? 'another process (or another rule type) already uses it'
      : code === 'EACCES'
        ? 'ports below 1024 need CAP_NET_BIND_SERVICE'
        : 'check the port and address';
  return new NexdError(
    'NEX_ERR_PROXY_LISTEN',
    `cannot listen on ${protocol} ${host} port ${port}: ${code} (${hint})`,
    {
      cause: err,
    },
  );
}

export class NodeStreamNetwork implements StreamNetwork {
  readonly #listenHosts: readonly string[];
  readonly #resolve: Resolver;
  readonly #connectTimeoutMs: number;

  constructor(options: NodeNetworkOptions = {}) {
    this.#listenHosts = listenHosts(options.listenHost);
    this.#resolve = options.resolve ?? systemResolver;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  listen(port: number, onConnection: OnConnection): Promise<Closable> {
    return firstHost(this.#listenHosts, (host) => this.#listenOn(host, port, onConnection));
  }

  #listenOn(host: string, port: number, onConnection: OnConnection): Promise<Closable> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a client's FIN must only half-close the proxied connection, as in the original nexd.
      const server = net.createServer(
        { allowHalfOpen: true, pauseOnConnect: true, noDelay: true },
        (socket) => {
          onConnection(
            socket,
            { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
            { host: socket.localAddress ?? '', port: socket.localPort ?? 0 },
          );
        },
      );
      server.once('error', (err) => reject(listenError('tcp', port, host, err)));
      server.listen({ port, host, ipv6Only: false }, () => {
        server.removeAllListeners('error');
        // Accept errors (EMFILE and the like) must not crash the daemon; the server keeps listening.
        server.on('error', () => {});
        resolve({
          close: () =>
            new Promise<void>((done) => {
              // server.close() stops accepting at once; its callback waits for accepted sockets, which
              // belong to the proxy, so do not wait for it.
              server.close();
              setImmediate(done);
            }),
        });
      });
    });
  }

  /** Resolves and connects; both together must finish within connectTimeoutMs. */
  connect(target: Endpoint, options?: ConnectOptions): Promise<StreamConnection> {
    return dialStream(target, {
      resolve: this.#resolve,
      timeoutMs: options?.timeoutMs ?? this.#connectTimeoutMs,
      open: (host, port) => net.connect({ host, port, allowHalfOpen: true, noDelay: true }),
    });
  }
}

export class NodeDatagramNetwork implements DatagramNetwork {
  readonly #listenHosts: readonly string[];
  readonly #resolve: Resolver;
  readonly #bufferBytes: number | undefined;

  constructor(options: NodeNetworkOptions = {}) {
    this.#listenHosts = listenHosts(options.listenHost);
    this.#resolve = options.resolve ?? systemResolver;
    this.#bufferBytes = options.udpBufferBytes;
  }

  #applyBuffers(socket: dgram.Socket): void {
    if (this.#bufferBytes === undefined) return;
    socket.setRecvBufferSize(this.#bufferBytes);
    socket.setSendBufferSize(this.#bufferBytes);
  }

  bind(port: number, onMessage: (data: Buffer, from: Endpoint) => void): Promise<DatagramListener> {
    return firstHost(this.#listenHosts, (host) => this.#bindOn(host, port, onMessage));
  }

  #bindOn(
    host: string,
    port: number,
    onMessage: (data: Buffer, from: Endpoint) => void,
  ): Promise<DatagramListener> {
    const type = net.isIPv6(host) ? 'udp6' : 'udp4';
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type, ipv6Only: false });
      socket.once('error', (err) => reject(listenError('udp', port, host, err)));
      socket.bind({ port, address: host }, () => {
        socket.removeAllListeners('error');
        this.#applyBuffers(socket);
        resolve(datagramListener(socket, onMessage));
      });
    });
  }

  async connect(
    target: Endpoint,
    onMessage: (data: Buffer) => void,
    onError: (err: Error) => void,
  ): Promise<DatagramFlow> {
    const { address, family } = await this.#resolve(target.host);
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(target.port, address, () => {
        socket.removeListener('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    this.#applyBuffers(socket);
    socket.on('message', (msg) => onMessage(msg));
    socket.on('error', onError);
    return datagramFlow(
      (data) => socket.send(data),
      (done) => socket.close(() => done()),
    );
  }
}
