// SPDX-License-Identifier: Apache-2.0
// TCP forwarding for one listener (type + port): accept, pick the next rule round-robin, dial its
// destination, then copy bytes both ways with backpressure and half-close.
// Flow per connection: 1. accept (paused)  2. dial  3a. failed: RST the client, log once  3b. splice.
import type { Logger } from 'pino';
import type { Closable, Endpoint, StreamConnection, StreamNetwork } from './network.js';
import { proxyProtocolHeader } from './proxy-protocol.js';
import { RuleRing } from './rule-ring.js';
import { formatRule } from './rules.js';
import type { RuleStats } from './stats.js';

/** Closes `conn` abortively: an RST where the transport can send one, otherwise a plain destroy. */
export function abort(conn: StreamConnection): void {
  if (conn.destroyed) return;
  if (typeof conn.resetAndDestroy === 'function') conn.resetAndDestroy();
  else conn.destroy();
}

/** Copies `from` into `to`, pausing `from` while `to` is full, and forwards end-of-stream (half-close). */
function pump(from: StreamConnection, to: StreamConnection, count: (n: number) => void): void {
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

/** Tracks a proxied pair so that shutdown can wait for it and, past the deadline, abort it. */
export interface TrackedConnection {
  abort(): void;
}

export interface ConnectionTracker {
  add(c: TrackedConnection): void;
  delete(c: TrackedConnection): void;
}

/** The open proxied connections, with a promise for the moment the last one is gone (drain on shutdown). */
export class ConnectionSet implements ConnectionTracker {
  readonly #open = new Set<TrackedConnection>();
  #onEmpty: (() => void) | undefined;

  get size(): number {
    return this.#open.size;
  }

  add(c: TrackedConnection): void {
    this.#open.add(c);
  }

  delete(c: TrackedConnection): void {
    if (this.#open.delete(c) && this.#open.size === 0) this.#onEmpty?.();
  }

  /** Resolves once no connection is open (at once if none is). One waiter at a time: the engine's close. */
  drained(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onEmpty = () => {
        this.#onEmpty = undefined;
        resolve();
      };
    });
  }

  /** Aborts every open connection; returns how many there were. */
  abortAll(): number {
    const open = [...this.#open];
    for (const c of open) c.abort();
    return open.length;
  }
}

export class TcpListener {
  /** The rules on this port, picked round-robin per accepted connection. */
  readonly ring = new RuleRing();
  #closable: Closable | undefined;

  constructor(
    readonly port: number,
    private readonly listenSide: StreamNetwork,
    private readonly dialSide: StreamNetwork,
    private readonly logger: Logger,
    private readonly tracker: ConnectionTracker,
  ) {}

  async open(): Promise<void> {
    this.#closable = await this.listenSide.listen(this.port, (conn, remote, local) =>
      this.#accept(conn, remote, local),
    );
  }

  async close(): Promise<void> {
    const c = this.#closable;
    this.#closable = undefined;
    await c?.close();
  }

  #accept(client: StreamConnection, remote: Endpoint, local: Endpoint): void {
    const entry = this.ring.pick();
    if (!entry) {
      abort(client);
      return;
    }
    const { stats, rule } = entry;
    stats.connections++;
    stats.active++;
    // The header is built now, while the client's addresses are at hand; it goes out first once dialled.
    const header = rule.proxyProtocol ? proxyProtocolHeader(rule.proxyProtocol, remote, local) : undefined;
    const conn = new ProxiedConnection(client, stats, header, () => {
      stats.active--;
      this.tracker.delete(conn);
    });
    this.tracker.add(conn);
    this.dialSide.connect(rule.destination).then(
      (up) => conn.dialled(up),
      (err: unknown) => {
        stats.dialFailures++;
        // One line per failed connection (never per packet): which rule, which client, why.
        this.logger.warn(
          {
            rule: `${rule.type} ${formatRule(rule)}`,
            client: `${remote.host}:${remote.port}`,
            err: (err as NodeJS.ErrnoException).code ?? String(err),
          },
          `proxy dial to ${rule.destination.host}:${rule.destination.port} failed; closing the client connection`,
        );
        conn.dialFailed();
      },
    );
  }
}

/** dialing: client accepted (paused), upstream being dialled; spliced: bytes flow both ways; closed: done. */
type ConnectionState = 'dialing' | 'spliced' | 'closed';

/** One proxied TCP connection. All state changes go through setState(); `onClosed` runs exactly once. */
class ProxiedConnection implements TrackedConnection {
  state: ConnectionState = 'dialing';
  #upstream: StreamConnection | undefined;
  #sidesClosed = 0;

  constructor(
    private readonly client: StreamConnection,
    private readonly stats: RuleStats,
    /** A PROXY protocol header to send upstream before the client's bytes (rule option). */
    private readonly header: Uint8Array | undefined,
    private readonly onClosed: () => void,
  ) {
    // Errors before the dial completes (client reset while we dial) must not become unhandled 'error's.
    client.on('error', () => {});
    client.once('close', () => {
      if (this.state === 'dialing') this.#setState('closed');
    });
  }

  #setState(next: ConnectionState): void {
    if (this.state === 'closed') return;
    this.state = next;
    if (next === 'closed') this.onClosed();
  }

  abort(): void {
    abort(this.client);
    if (this.#upstream) abort(this.#upstream);
  }

  /** Call when the dial succeeded. */
  dialled(up: StreamConnection): void {
    up.on('error', () => {});
    switch (this.state) {
      case 'dialing':
        this.#upstream = up;
        this.#setState('spliced');
        this.#splice(up);
        return;
      case 'closed':
        // The client went away while we dialled.
        abort(up);
        return;
      case 'spliced':
        throw new Error('dialled() called twice');
      default: {
        const never: never = this.state;
        throw new Error(`unreachable connection state ${String(never)}`);
      }
    }
  }

  /** Call when the dial failed: the client gets an RST at once. */
  dialFailed(): void {
    abort(this.client);
    this.#setState('closed');
  }

  #splice(up: StreamConnection): void {
    const { client, stats } = this;
    if (this.header) up.write(this.header);
    pump(client, up, (n) => {
      stats.bytesToDestination += n;
    });
    pump(up, client, (n) => {
      stats.bytesFromDestination += n;
    });
    const onClose = (other: StreamConnection) => (hadError: boolean) => {
      // A side that died without a clean FIN takes the other down with an RST, so the peer sees the failure.
      if (hadError || !other.writableEnded) abort(other);
      if (++this.#sidesClosed === 2) this.#setState('closed');
    };
    client.once('error', () => abort(up));
    up.once('error', () => abort(client));
    client.once('close', onClose(up));
    up.once('close', onClose(client));
    client.resume();
    up.resume();
  }
}
