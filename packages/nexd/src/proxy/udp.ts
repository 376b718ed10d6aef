// SPDX-License-Identifier: Apache-2.0
// UDP forwarding for one listener (type + port). Each client address (host:port) gets a flow: an
// ephemeral socket on the dialling side towards the rule picked round-robin when the flow was created.
// Replies travel back through the listener to that client. Flows expire after `idleMs` without traffic
// in either direction (60 s by default, as in the original nexd); the caller drives expiry with `sweep(now)`.
import type { Logger } from 'pino';
import type { Clock, DatagramFlow, DatagramListener, DatagramNetwork, Endpoint } from './network.js';
import { type RuleEntry, RuleRing } from './rule-ring.js';
import { formatRule } from './rules.js';

/** How long a flow may stay idle before it is closed, in ms. */
export const UDP_FLOW_IDLE_MS = 60_000;
/** At most this many flows per listener; datagrams that would open more are dropped (and counted). */
export const UDP_MAX_FLOWS = 4096;
/** Datagrams held per flow while its destination is being resolved and its socket opened. */
export const UDP_MAX_PENDING = 16;

type FlowState = 'opening' | 'open' | 'failed' | 'closed';

interface Flow {
  state: FlowState;
  entry: RuleEntry;
  client: Endpoint;
  lastSeen: number;
  socket: DatagramFlow | undefined;
  /** Datagrams received while `state === 'opening'`; bounded by UDP_MAX_PENDING. */
  pending: Buffer[];
}

/**
 * The flows of one listener, keyed by client address and then port, so that finding a datagram's flow
 * builds no key string (`${host}|${port}`) per datagram.
 */
class FlowTable {
  readonly #byHost = new Map<string, Map<number, Flow>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(host: string, port: number): Flow | undefined {
    return this.#byHost.get(host)?.get(port);
  }

  /** Adds `flow` under its client endpoint; the caller has checked that the endpoint has none yet. */
  add(flow: Flow): void {
    const { host, port } = flow.client;
    let ports = this.#byHost.get(host);
    if (!ports) {
      ports = new Map();
      this.#byHost.set(host, ports);
    }
    ports.set(port, flow);
    this.#size++;
  }

  /** Removes `flow` if it is still the one held for its client endpoint. */
  delete(flow: Flow): void {
    const { host, port } = flow.client;
    const ports = this.#byHost.get(host);
    if (ports?.get(port) !== flow) return;
    ports.delete(port);
    this.#size--;
    if (ports.size === 0) this.#byHost.delete(host);
  }

  /** Every flow; deleting while iterating is allowed (Map iteration semantics). */
  *values(): IterableIterator<Flow> {
    for (const ports of this.#byHost.values()) yield* ports.values();
  }
}

export interface UdpListenerOptions {
  clock: Clock;
  idleMs: number;
  maxFlows: number;
}

export class UdpListener {
  /** The rules on this port, picked round-robin per new flow. */
  readonly ring = new RuleRing();
  readonly #flows = new FlowTable();
  #listener: DatagramListener | undefined;
  #tableFullLogged = false;

  constructor(
    readonly port: number,
    private readonly listenSide: DatagramNetwork,
    private readonly dialSide: DatagramNetwork,
    private readonly logger: Logger,
    private readonly options: UdpListenerOptions,
  ) {}

  get flowCount(): number {
    return this.#flows.size;
  }

  async open(): Promise<void> {
    this.#listener = await this.listenSide.bind(this.port, (data, from) => this.#onDatagram(data, from));
  }

  /** Stops receiving and closes every flow. */
  async close(): Promise<void> {
    const l = this.#listener;
    this.#listener = undefined;
    const closing: Promise<void>[] = [];
    for (const flow of this.#flows.values()) closing.push(this.#closeFlow(flow));
    if (l) closing.push(l.close());
    await Promise.all(closing);
  }

  /** Closes flows idle for at least `idleMs` at time `now`; returns how many it closed. */
  sweep(now: number): number {
    let n = 0;
    for (const flow of this.#flows.values()) {
      if (now - flow.lastSeen >= this.options.idleMs) {
        void this.#closeFlow(flow);
        n++;
      }
    }
    return n;
  }

  #closeFlow(flow: Flow): Promise<void> {
    this.#flows.delete(flow);
    if (flow.state === 'closed') return Promise.resolve();
    if (flow.state !== 'failed') flow.entry.stats.active--;
    flow.state = 'closed';
    flow.pending.length = 0;
    return flow.socket ? flow.socket.close() : Promise.resolve();
  }

  #onDatagram(data: Buffer, from: Endpoint): void {
    const now = this.options.clock.now();
    let flow = this.#flows.get(from.host, from.port);
    if (!flow) {
      const entry = this.ring.pick();
      if (!entry) return;
      if (this.#flows.size >= this.options.maxFlows) {
        entry.stats.datagramsDropped++;
        if (!this.#tableFullLogged) {
          this.#tableFullLogged = true;
          this.logger.warn(
            { port: this.port, maxFlows: this.options.maxFlows },
            'UDP flow table full; dropping new flows',
          );
        }
        return;
      }
      this.#tableFullLogged = false;
      flow = { state: 'opening', entry, client: from, lastSeen: now, socket: undefined, pending: [] };
      this.#flows.add(flow);
      entry.stats.connections++;
      entry.stats.active++;
      this.#openFlow(flow);
    }
    flow.lastSeen = now;
    const stats = flow.entry.stats;
    switch (flow.state) {
      case 'open':
        stats.bytesToDestination += data.length;
        flow.socket!.send(data);
        return;
      case 'opening':
        if (flow.pending.length < UDP_MAX_PENDING) flow.pending.push(data);
        else stats.datagramsDropped++;
        return;
      case 'failed':
      case 'closed':
        // A failed flow stays in the table until it idles out, so its client's retries are dropped
        // quietly instead of re-dialling (and re-logging) once per datagram.
        stats.datagramsDropped++;
        return;
      default: {
        const never: never = flow.state;
        throw new Error(`unreachable flow state ${String(never)}`);
      }
    }
  }

  #openFlow(flow: Flow): void {
    const { entry } = flow;
    const rule = entry.rule;
    const logFailure = (err: unknown, phase: string): void => {
      this.logger.warn(
        {
          rule: `${rule.type} ${formatRule(rule)}`,
          client: `${flow.client.host}:${flow.client.port}`,
          err: (err as NodeJS.ErrnoException).code ?? String(err),
        },
        `proxy UDP ${phase} to ${rule.destination.host}:${rule.destination.port} failed; dropping this flow's datagrams`,
      );
    };
    let errorLogged = false;
    this.dialSide
      .connect(
        rule.destination,
        (reply) => {
          if (flow.state !== 'open' || !this.#listener) return;
          flow.lastSeen = this.options.clock.now();
          entry.stats.bytesFromDestination += reply.length;
          this.#listener.send(reply, flow.client);
        },
        (err) => {
          // ICMP errors arrive per datagram; log the first one of a flow only.
          if (errorLogged) return;
          errorLogged = true;
          logFailure(err, 'send');
        },
      )
      .then(
        (socket) => {
          if (flow.state !== 'opening' || this.#flows.get(flow.client.host, flow.client.port) !== flow) {
            void socket.close();
            return;
          }
          flow.socket = socket;
          flow.state = 'open';
          for (const d of flow.pending) {
            entry.stats.bytesToDestination += d.length;
            socket.send(d);
          }
          flow.pending.length = 0;
        },
        (err: unknown) => {
          if (flow.state !== 'opening') return;
          entry.stats.dialFailures++;
          entry.stats.datagramsDropped += flow.pending.length;
          entry.stats.active--;
          flow.pending.length = 0;
          flow.state = 'failed';
          errorLogged = true;
          logFailure(err, 'flow set-up');
        },
      );
  }
}
