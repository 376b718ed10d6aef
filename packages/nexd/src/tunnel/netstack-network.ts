// SPDX-License-Identifier: Apache-2.0
// The tunnel side of the proxy: StreamNetwork/DatagramNetwork over the userspace netstack, so ingress
// rules listen on this device's VPC addresses and egress rules dial VPC addresses through WireGuard.
// Names are resolved per connection/flow (the resolver is the same as the local side's), then the
// netstack gets an IP literal.
import {
  IpAddress,
  type NetStack,
  type RemoteInfo,
  type TcpSocketStream,
  type UdpSocketHandle,
} from '@nexodus/netstack';
import { NexdError } from '../errors.js';
import { dialStream } from '../proxy/dial.js';
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
} from '../proxy/network.js';
import { type Resolver, systemResolver } from '../proxy/node-network.js';
import { outboundRefused, type SecurityGate } from '../security/gate.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface NetStackNetworkOptions {
  resolve?: Resolver;
  /** A dial through the tunnel that has not completed after this long fails (default 10 s). */
  connectTimeoutMs?: number;
  /** The device's security group (service mode); absent = nothing filtered. */
  gate?: SecurityGate;
}

function listenError(protocol: string, port: number, err: unknown): NexdError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new NexdError(
    'NEX_ERR_PROXY_LISTEN',
    `cannot listen on ${protocol} port ${port} of the VPC addresses: ${code} (another rule uses it?)`,
    { cause: err },
  );
}

export class NetStackStreamNetwork implements StreamNetwork {
  readonly #stack: NetStack;
  readonly #resolve: Resolver;
  readonly #timeoutMs: number;
  readonly #gate: SecurityGate | undefined;

  constructor(stack: NetStack, options: NetStackNetworkOptions = {}) {
    this.#stack = stack;
    this.#resolve = options.resolve ?? systemResolver;
    this.#timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#gate = options.gate;
  }

  async listen(port: number, onConnection: OnConnection): Promise<Closable> {
    let server: ReturnType<NetStack['listen']>;
    try {
      server = this.#stack.listen({ port }, (sock: TcpSocketStream) => {
        // Handed over paused, as node:net's pauseOnConnect: the proxy resumes once the far side is dialled.
        sock.pause();
        // A relay adds no Nagle delay of its own: the original sender already chose how to coalesce.
        sock.setNoDelay(true);
        // A reset from the peer after the proxy let go must not become an uncaught 'error'.
        sock.on('error', () => {});
        if (this.#gate) {
          // Inbound rules: a refused connection is reset (destroy() is an abortive close) before the
          // proxy dials anything for it.
          const flow = { protocol: 'tcp' as const, address: sock.remoteAddress, port };
          const admitted = this.#gate.admitStream('inbound', flow, () => sock.destroy());
          if (!admitted) {
            sock.destroy();
            return;
          }
          sock.once('close', () => admitted.untrack());
        }
        onConnection(
          sock,
          { host: sock.remoteAddress, port: sock.remotePort },
          { host: sock.localAddress, port: sock.localPort },
        );
      });
    } catch (err) {
      throw listenError('tcp', port, err);
    }
    return {
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
        }),
    };
  }

  async connect(target: Endpoint, options?: ConnectOptions): Promise<StreamConnection> {
    const sock = await dialStream(target, {
      resolve: this.#resolve,
      timeoutMs: options?.timeoutMs ?? this.#timeoutMs,
      open: (host, port) => {
        // Outbound rules decide on the resolved address, before a SYN leaves.
        const gate = this.#gate;
        if (gate && !gate.policy.allowsOutbound({ protocol: 'tcp', address: host, port })) {
          gate.admitStream('outbound', { protocol: 'tcp', address: host, port }, () => {});
          throw outboundRefused({ protocol: 'tcp', address: host, port }, gate.policy.groupId);
        }
        return this.#stack.connect({ host, port, noDelay: true });
      },
      via: ' through the tunnel',
    });
    // A reset from the peer after the proxy let go must not become an uncaught 'error'.
    sock.on('error', () => {});
    if (this.#gate) {
      const flow = { protocol: 'tcp' as const, address: sock.remoteAddress, port: sock.remotePort };
      const admitted = this.#gate.admitStream('outbound', flow, () => sock.destroy());
      if (!admitted) {
        // The policy changed during the handshake.
        sock.destroy();
        throw outboundRefused(flow, this.#gate.policy.groupId);
      }
      sock.once('close', () => admitted.untrack());
    }
    return sock;
  }
}

export class NetStackDatagramNetwork implements DatagramNetwork {
  readonly #stack: NetStack;
  readonly #resolve: Resolver;
  readonly #gate: SecurityGate | undefined;

  constructor(stack: NetStack, options: NetStackNetworkOptions = {}) {
    this.#stack = stack;
    this.#resolve = options.resolve ?? systemResolver;
    this.#gate = options.gate;
  }

  async bind(port: number, onMessage: (data: Buffer, from: Endpoint) => void): Promise<DatagramListener> {
    let sock: UdpSocketHandle;
    try {
      sock = this.#stack.createUdpSocket({ port });
    } catch (err) {
      throw listenError('udp', port, err);
    }
    const gate = this.#gate;
    if (!gate) return datagramListener(sock, onMessage);
    // Inbound rules, per datagram: a refused one is dropped and counted, and opens no flow.
    return datagramListener(sock, (data, from) => {
      if (gate.admitDatagram('inbound', { protocol: 'udp', address: from.host, port })) onMessage(data, from);
    });
  }

  async connect(
    target: Endpoint,
    onMessage: (data: Buffer) => void,
    onError: (err: Error) => void,
  ): Promise<DatagramFlow> {
    const resolved = await this.#resolve(target.host);
    // Compare replies against the stack's own spelling of the address (i.e. `200::1`, not `200:0::1`).
    const address = IpAddress.parse(resolved.address)?.toString() ?? resolved.address;
    const sock = this.#stack.createUdpSocket({ port: 0 });
    const port = target.port;
    // A connected flow: only the destination's replies count (as a connected dgram socket filters).
    const gate = this.#gate;
    const flow = { protocol: 'udp' as const, address, port };
    sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.port !== port || rinfo.address !== address) return;
      // A reply is inbound traffic of a flow we opened: it passes while the flow is permitted outbound.
      if (gate && !gate.policy.allowsOutbound(flow)) return;
      onMessage(msg);
    });
    sock.on('error', onError);
    return datagramFlow(
      (data) => {
        // Outbound rules, per datagram, so a new policy applies to the next one of an open flow.
        if (gate && !gate.admitDatagram('outbound', flow)) return;
        sock.send(data, port, address);
      },
      (done) => sock.close(() => done()),
    );
  }
}
