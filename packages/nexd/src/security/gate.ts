// SPDX-License-Identifier: Apache-2.0
// Enforcement of the device's security group on the tunnel side of the proxy (the netstack networks call
// it): inbound rules decide on connections and datagrams arriving over the tunnel, outbound rules on what
// egress rules dial. Connections admitted are tracked, so a new policy (from the watch stream) closes
// those it no longer allows at once (a RST), without a restart. UDP is decided per datagram, so a change
// applies to the next datagram of every flow.
import diagnostics from 'node:diagnostics_channel';
import { NexdError } from '../errors.js';
import { type Direction, type Flow, SecurityPolicy } from './filter.js';

/** `{ direction, protocol, address, port, groupId }` for every refusal (metrics, debugging). */
export const securityRefusalChannel = diagnostics.channel('nexd:security:refused');

export interface SecurityCounters {
  /** TCP connections refused (inbound: reset after the handshake; outbound: the dial failed). */
  tcpRefused: number;
  /** UDP datagrams dropped (inbound) or not sent (outbound). */
  udpDropped: number;
  /** Open connections closed because a new policy no longer allowed them. */
  closedByPolicyChange: number;
}

interface Tracked {
  direction: Direction;
  flow: Flow;
  close: () => void;
}

export class SecurityGate {
  #policy: SecurityPolicy = SecurityPolicy.allowAll();
  readonly #onRefused: ((direction: Direction, protocol: Flow['protocol']) => void) | undefined;
  readonly #open = new Set<Tracked>();
  readonly counters: SecurityCounters = { tcpRefused: 0, udpDropped: 0, closedByPolicyChange: 0 };

  /** `onRefused` is called once per refusal (metrics: nexd_security_group_refused_total). */
  constructor(options: { onRefused?: (direction: Direction, protocol: Flow['protocol']) => void } = {}) {
    this.#onRefused = options.onRefused;
  }

  get policy(): SecurityPolicy {
    return this.#policy;
  }

  /** Installs a new policy; closes tracked connections it does not allow. Returns how many it closed. */
  setPolicy(policy: SecurityPolicy): number {
    this.#policy = policy;
    let closed = 0;
    for (const t of [...this.#open]) {
      if (policy.allows(t.direction, t.flow)) continue;
      this.#open.delete(t);
      this.counters.closedByPolicyChange++;
      closed++;
      t.close();
    }
    return closed;
  }

  /**
   * Decides on a new TCP connection. Allowed: tracked until `untrack()` is called (on its 'close'), and
   * `close` is how a later policy ends it. Refused: counted; the caller resets or fails it.
   */
  admitStream(direction: Direction, flow: Flow, close: () => void): { untrack(): void } | undefined {
    if (!this.#policy.allows(direction, flow)) {
      this.counters.tcpRefused++;
      this.#refused(direction, flow);
      return undefined;
    }
    const t: Tracked = { direction, flow, close };
    this.#open.add(t);
    return { untrack: () => this.#open.delete(t) };
  }

  /** Decides on one UDP datagram; a refusal is counted. */
  admitDatagram(direction: Direction, flow: Flow): boolean {
    if (this.#policy.allows(direction, flow)) return true;
    this.counters.udpDropped++;
    this.#refused(direction, flow);
    return false;
  }

  get openConnections(): number {
    return this.#open.size;
  }

  #refused(direction: Direction, flow: Flow): void {
    this.#onRefused?.(direction, flow.protocol);
    if (securityRefusalChannel.hasSubscribers) {
      securityRefusalChannel.publish({ direction, ...flow, groupId: this.#policy.groupId });
    }
  }
}

/** The dial error of an egress connection the outbound rules refuse. */
export function outboundRefused(flow: Flow, groupId: string | undefined): NexdError {
  const err = new NexdError(
    'NEX_ERR_SECURITY_GROUP',
    `${flow.protocol} to ${flow.address} port ${flow.port} is not permitted by the outbound rules of security group ${groupId ?? '-'}`,
  );
  return err;
}
