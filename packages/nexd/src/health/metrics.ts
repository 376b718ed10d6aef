// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics. Per-rule proxy counters are plain numbers on the data path (see proxy/stats.ts) and
// are copied into prom-client only when /metrics is scraped, so the data path never calls prom-client.
import { Counter, Gauge, Registry } from 'prom-client';
import type { EngineDrops, ProxyRuleStatus } from '../control/protocol.js';

export class NexdMetrics {
  readonly registry = new Registry();
  /** WireGuard handshakes completed; the data plane calls `handshakes.inc()`. */
  readonly handshakes: Counter;
  /** Peers currently configured; the peer reconciler calls `peers.set(n)`. */
  readonly peers: Gauge;
  /** Times the VPC watch stream had to be re-established. */
  readonly streamReconnects: Counter;
  /** TCP connections and UDP datagrams the security group refused (labels direction, protocol). */
  readonly securityRefused: Counter<'direction' | 'protocol'>;
  /** Where the engine's drop counters come from; the daemon sets it once the data plane is up. */
  engineDrops: () => EngineDrops | undefined = () => undefined;

  constructor(proxyStatus: () => ProxyRuleStatus[]) {
    const registers = [this.registry];
    const labelNames = ['type', 'rule'] as const;
    const perRule = (pick: (s: ProxyRuleStatus) => number) =>
      function (this: Counter<'type' | 'rule'> | Gauge<'type' | 'rule'>) {
        this.reset();
        for (const s of proxyStatus()) {
          const v = pick(s);
          if ('set' in this) this.set({ type: s.type, rule: s.rule }, v);
          else this.inc({ type: s.type, rule: s.rule }, v);
        }
      };
    new Counter({
      name: 'nexd_proxy_bytes_to_destination_total',
      help: 'Bytes proxied from clients towards the rule destination',
      labelNames,
      registers,
      collect: perRule((s) => s.bytesToDestination),
    });
    new Counter({
      name: 'nexd_proxy_bytes_from_destination_total',
      help: 'Bytes proxied from the rule destination back to clients',
      labelNames,
      registers,
      collect: perRule((s) => s.bytesFromDestination),
    });
    new Counter({
      name: 'nexd_proxy_connections_total',
      help: 'TCP connections or UDP flows accepted per rule',
      labelNames,
      registers,
      collect: perRule((s) => s.connections),
    });
    new Gauge({
      name: 'nexd_proxy_active_connections',
      help: 'TCP connections or UDP flows open now per rule',
      labelNames,
      registers,
      collect: perRule((s) => s.active),
    });
    new Counter({
      name: 'nexd_proxy_dial_failures_total',
      help: 'Connections or flows whose destination could not be reached',
      labelNames,
      registers,
      collect: perRule((s) => s.dialFailures),
    });
    const byReason = (pick: (d: EngineDrops) => Record<string, number>) => {
      const metrics = this;
      return function (this: Counter<'reason'>) {
        this.reset();
        const d = metrics.engineDrops();
        if (d) for (const [reason, n] of Object.entries(pick(d))) this.inc({ reason }, n);
      };
    };
    new Counter({
      name: 'nexd_wireguard_send_drops_total',
      help: 'Outgoing IP packets and datagrams the WireGuard engine dropped, by reason',
      labelNames: ['reason'] as const,
      registers,
      collect: byReason((d) => d.send),
    });
    new Counter({
      name: 'nexd_wireguard_receive_drops_total',
      help: 'Received datagrams and packets the WireGuard engine dropped, by reason',
      labelNames: ['reason'] as const,
      registers,
      collect: byReason((d) => d.receive),
    });
    new Counter({
      name: 'nexd_netstack_drops_total',
      help: "Packets the proxy's userspace TCP/IP stack dropped, by reason",
      labelNames: ['reason'] as const,
      registers,
      collect: byReason((d) => d.netstack ?? {}),
    });
    this.handshakes = new Counter({
      name: 'nexd_wireguard_handshakes_total',
      help: 'WireGuard handshakes completed',
      registers,
    });
    this.peers = new Gauge({ name: 'nexd_peers', help: 'WireGuard peers configured', registers });
    this.streamReconnects = new Counter({
      name: 'nexd_stream_reconnects_total',
      help: 'Times the VPC watch stream was re-established',
      registers,
    });
    this.securityRefused = new Counter({
      name: 'nexd_security_group_refused_total',
      help: 'TCP connections and UDP datagrams refused by the security group (direction, protocol)',
      labelNames: ['direction', 'protocol'] as const,
      registers,
    });
  }
}
