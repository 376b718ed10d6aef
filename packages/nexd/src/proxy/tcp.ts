// SPDX-License-Identifier: Apache-2.0
// TCP forwarding for one listener (type + port): accept, pick the next rule round-robin, dial its
// destination, then copy bytes both ways with backpressure and half-close.
// Flow per connection: 1. accept (paused)  2. dial  3a. failed: the next target of the port if there is one
// left (back to 2), else RST the client, log once  3b. splice.
import type { Logger } from 'pino';
import type { Closable, Endpoint, StreamConnection, StreamNetwork } from './network.js';
import { proxyProtocolHeader } from './proxy-protocol.js';
import { type RuleEntry, RuleRing } from './rule-ring.js';
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

/**
 * On a port with several targets: a dial that does not connect within this long moves on to the next target
 * (a device that went away answers no SYN; the client is still waiting, paused, and never sees the miss).
 */
export const FAILOVER_DIAL_TIMEOUT_MS = 3000;
/** How often each target of a port with several is checked with a TCP connect, and how long one may take. */
export const HEALTH_CHECK_INTERVAL_MS = 1000;
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

export class TcpListener {
  /** The rules on this port, picked round-robin per accepted connection. */
  readonly ring = new RuleRing();
  #closable: Closable | undefined;
  #checks: NodeJS.Timeout | undefined;
  /** Targets with a health check in flight, so that a slow one is not dialled twice at once. */
  readonly #checking = new Set<RuleEntry>();

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
    this.#checks = setInterval(() => this.#checkTargets(), HEALTH_CHECK_INTERVAL_MS);
    this.#checks.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#checks);
    const c = this.#closable;
    this.#closable = undefined;
    await c?.close();
  }

  /**
   * Adds a rule to this port. One joining a port that serves already starts down and is checked at once:
   * it takes connections only after a TCP connect through it succeeded (a device that has just come back
   * may not have a WireGuard session yet, and a client would wait for it), as a load balancer's new backend.
   */
  join(entry: RuleEntry): void {
    const serving = this.ring.entries.length > 0;
    this.ring.entries.push(entry);
    if (!serving) return;
    entry.down = true;
    this.#checkTargets([entry]);
  }

  /** One TCP connect per target, closed at once: up when it connects, down when it fails or times out. */
  #checkTargets(entries: readonly RuleEntry[] = this.ring.entries): void {
    if (!this.ring.balanced) return;
    for (const entry of entries) {
      if (this.#checking.has(entry)) continue;
      this.#checking.add(entry);
      this.dialSide.connect(entry.rule.destination, { timeoutMs: HEALTH_CHECK_TIMEOUT_MS }).then(
        (sock) => {
          this.#checking.delete(entry);
          sock.on('error', () => {});
          sock.destroy();
          this.#setDown(entry, false, 'health check connected');
        },
        (err: unknown) => {
          this.#checking.delete(entry);
          this.#setDown(entry, true, `health check failed: ${errorCode(err)}`);
        },
      );
    }
  }

  #setDown(entry: RuleEntry, down: boolean, why: string): void {
    if (!!entry.down === down || !this.ring.entries.includes(entry)) return;
    entry.down = down;
    const msg = down ? 'proxy target down: skipped while another is up' : 'proxy target up';
    this.logger[down ? 'warn' : 'info']({ rule: `${entry.rule.type} ${entry.text}`, why }, msg);
  }

  #accept(client: StreamConnection, remote: Endpoint, local: Endpoint): void {
    const entry = this.ring.pick();
    if (!entry) {
      abort(client);
      return;
    }
    entry.stats.connections++;
    entry.stats.active++;
    const conn = new ProxiedConnection(client, entry.stats, () => {
      conn.stats.active--;
      this.tracker.delete(conn);
    });
    this.tracker.add(conn);
    this.#dial(conn, entry, remote, local, new Set());
  }

  /** Dials `entry`; on a failure with another target left, marks it down and tries the next one. */
  #dial(conn: ProxiedConnection, entry: RuleEntry, remote: Endpoint, local: Endpoint, tried: Set<RuleEntry>) {
    const { rule } = entry;
    tried.add(entry);
    // The header is built now, while the client's addresses are at hand; it goes out first once dialled.
    conn.header = rule.proxyProtocol ? proxyProtocolHeader(rule.proxyProtocol, remote, local) : undefined;
    const alternatives = this.ring.entries.length > tried.size;
    const options = alternatives ? { timeoutMs: FAILOVER_DIAL_TIMEOUT_MS } : undefined;
    this.dialSide.connect(rule.destination, options).then(
      (up) => conn.dialled(up),
      (err: unknown) => {
        entry.stats.dialFailures++;
        const next = conn.state === 'dialing' ? this.ring.pick(tried) : undefined;
        // One line per failed dial (never per packet): which rule, which client, why, and what next.
        this.logger.warn(
          {
            rule: `${rule.type} ${formatRule(rule)}`,
            client: `${remote.host}:${remote.port}`,
            err: errorCode(err),
            ...(next ? { next: next.text } : {}),
          },
          next
            ? `proxy dial to ${rule.destination.host}:${rule.destination.port} failed; trying the next target`
            : `proxy dial to ${rule.destination.host}:${rule.destination.port} failed; closing the client connection`,
        );
        if (this.ring.balanced) this.#setDown(entry, true, `dial failed: ${errorCode(err)}`);
        if (!next) {
          conn.dialFailed();
          return;
        }
        conn.moveTo(next.stats);
        this.#dial(conn, next, remote, local, tried);
      },
    );
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** dialing: client accepted (paused), upstream being dialled; spliced: bytes flow both ways; closed: done. */
type ConnectionState = 'dialing' | 'spliced' | 'closed';

/** One proxied TCP connection. All state changes go through setState(); `onClosed` runs exactly once. */
class ProxiedConnection implements TrackedConnection {
  state: ConnectionState = 'dialing';
  #upstream: StreamConnection | undefined;
  #sidesClosed = 0;

  /** A PROXY protocol header to send upstream before the client's bytes (rule option). */
  header: Uint8Array | undefined;

  constructor(
    private readonly client: StreamConnection,
    /** The counters of the rule being dialled or spliced (moveTo() when the dial goes to another rule). */
    public stats: RuleStats,
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

  /** The dial moves on to another rule: the connection counts there from now on. */
  moveTo(stats: RuleStats): void {
    this.stats.active--;
    this.stats = stats;
    stats.connections++;
    stats.active++;
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
