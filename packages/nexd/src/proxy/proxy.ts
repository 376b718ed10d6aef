// SPDX-License-Identifier: Apache-2.0
// The proxy engine: a set of rules grouped into listeners (one per type + protocol + port). Rules can be
// added and removed at runtime; the last rule leaving a port closes that port's listener.
import type { Logger } from 'pino';
import { NexdError } from '../errors.js';
import { type Clock, type ProxySide, systemClock } from './network.js';
import type { RuleEntry } from './rule-ring.js';
import { formatRule, listenerKey, type ProxyRule, ruleKey } from './rules.js';
import { RuleStats, type RuleStatsSnapshot } from './stats.js';
import { ConnectionSet, TcpListener } from './tcp.js';
import { UDP_FLOW_IDLE_MS, UDP_MAX_FLOWS, UdpListener } from './udp.js';

export interface ProxyOptions {
  /** The VPC side (the userspace netstack): ingress rules listen here, egress rules dial here. */
  tunnel: ProxySide;
  /** The local network (node:net/dgram): egress rules listen here, ingress rules dial here. */
  local: ProxySide;
  logger: Logger;
  clock?: Clock;
  /** UDP flow idle timeout in ms (default 60 s). */
  udpIdleMs?: number;
  /** How often UDP flows are swept, in ms (default 5 s); 0 disables the timer (tests call sweepUdpFlows). */
  udpSweepIntervalMs?: number;
  maxUdpFlows?: number;
}

export interface RuleStatus extends RuleStatsSnapshot {
  type: ProxyRule['type'];
  /** The canonical rule text, i.e. `tcp:80:100.100.0.1:80`. */
  rule: string;
  /** On a port with several targets: this one failed its last dial or health check and is skipped. */
  down?: boolean;
}

export interface CloseResult {
  /** Connections still open at the deadline, which were then aborted. */
  aborted: number;
}

const DEFAULT_SWEEP_MS = 5_000;

export class ProxyEngine {
  readonly #options: ProxyOptions;
  readonly #clock: Clock;
  readonly #rules = new Map<string, RuleEntry>();
  readonly #tcp = new Map<string, TcpListener>();
  readonly #udp = new Map<string, UdpListener>();
  readonly #connections = new ConnectionSet();
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Serialises add/remove so that two calls for one port cannot both open (or both close) its listener. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const sweepMs = options.udpSweepIntervalMs ?? DEFAULT_SWEEP_MS;
    if (sweepMs > 0) {
      this.#sweepTimer = setInterval(() => this.sweepUdpFlows(), sweepMs);
      this.#sweepTimer.unref();
    }
  }

  #serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Adds a rule, opening its port if it is the first rule there. Rejects on a duplicate or an unusable port. */
  addRule(rule: ProxyRule): Promise<void> {
    return this.#serialise(async () => {
      if (this.#closed) throw new NexdError('NEX_ERR_PROXY_LISTEN', 'the proxy is shutting down');
      const key = ruleKey(rule);
      if (this.#rules.has(key)) {
        throw new NexdError(
          'NEX_ERR_PROXY_RULE_EXISTS',
          `${rule.type} rule ${formatRule(rule)} already exists`,
        );
      }
      const entry: RuleEntry = { rule, text: formatRule(rule), stats: new RuleStats() };
      const lk = listenerKey(rule);
      const { tunnel, local, logger } = this.#options;
      const [listenSide, dialSide] = rule.type === 'ingress' ? [tunnel, local] : [local, tunnel];
      if (rule.protocol === 'tcp') {
        let l = this.#tcp.get(lk);
        if (!l) {
          l = new TcpListener(rule.listenPort, listenSide.stream, dialSide.stream, logger, this.#connections);
          await l.open();
          this.#tcp.set(lk, l);
        }
        l.join(entry);
      } else {
        let l = this.#udp.get(lk);
        if (!l) {
          l = new UdpListener(rule.listenPort, listenSide.datagram, dialSide.datagram, logger, {
            clock: this.#clock,
            idleMs: this.#options.udpIdleMs ?? UDP_FLOW_IDLE_MS,
            maxFlows: this.#options.maxUdpFlows ?? UDP_MAX_FLOWS,
          });
          await l.open();
          this.#udp.set(lk, l);
        }
        l.ring.entries.push(entry);
      }
      this.#rules.set(key, entry);
      logger.info({ rule: key }, 'proxy rule added');
    });
  }

  /** Removes a rule; open connections of that rule continue. The last rule on a port closes the port. */
  removeRule(rule: ProxyRule): Promise<void> {
    return this.#serialise(async () => {
      const key = ruleKey(rule);
      const entry = this.#rules.get(key);
      if (!entry) {
        throw new NexdError(
          'NEX_ERR_PROXY_RULE_NOT_FOUND',
          `${rule.type} rule ${formatRule(rule)} does not exist`,
        );
      }
      this.#rules.delete(key);
      const lk = listenerKey(rule);
      const listeners: Map<string, TcpListener | UdpListener> =
        rule.protocol === 'tcp' ? this.#tcp : this.#udp;
      const l = listeners.get(lk)!;
      const { entries } = l.ring;
      entries.splice(entries.indexOf(entry), 1);
      if (entries.length === 0) {
        listeners.delete(lk);
        await l.close();
      }
      this.#options.logger.info({ rule: key }, 'proxy rule removed');
    });
  }

  /** The rules in the order they were added. */
  rules(): ProxyRule[] {
    return [...this.#rules.values()].map((e) => e.rule);
  }

  hasRule(rule: ProxyRule): boolean {
    return this.#rules.has(ruleKey(rule));
  }

  status(): RuleStatus[] {
    return [...this.#rules.values()].map((e) => ({
      type: e.rule.type,
      rule: e.text,
      ...e.stats.snapshot(),
      ...(e.down ? { down: true } : {}),
    }));
  }

  /** TCP connections being proxied now. */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** Open UDP flows across all listeners. */
  get udpFlows(): number {
    let n = 0;
    for (const l of this.#udp.values()) n += l.flowCount;
    return n;
  }

  /** Expires idle UDP flows at `now` (default: the clock's now); returns how many were closed. */
  sweepUdpFlows(now: number = this.#clock.now()): number {
    let n = 0;
    for (const l of this.#udp.values()) n += l.sweep(now);
    return n;
  }

  /**
   * Stops accepting on every port at once, then waits up to `drainMs` for open TCP connections to finish;
   * those still open at the deadline are aborted. UDP flows are closed immediately (they have no end).
   */
  close(options: { drainMs?: number } = {}): Promise<CloseResult> {
    return this.#serialise(async () => {
      this.#closed = true;
      if (this.#sweepTimer) clearInterval(this.#sweepTimer);
      await Promise.all([...this.#tcp.values(), ...this.#udp.values()].map((l) => l.close()));
      this.#tcp.clear();
      this.#udp.clear();
      // One timer for the whole drain, cleared as soon as the last connection closes (no polling).
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#connections.drained(),
        new Promise<void>((r) => {
          deadline = setTimeout(r, options.drainMs ?? 0);
        }),
      ]);
      clearTimeout(deadline);
      return { aborted: this.#connections.abortAll() };
    });
  }
}
