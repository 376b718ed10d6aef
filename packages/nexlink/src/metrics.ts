// SPDX-License-Identifier: Apache-2.0
// nexlink's Prometheus metrics (served on /metrics), in one registry of its own.
import { Counter, Gauge, Registry } from 'prom-client';

export class NexlinkMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'nexlink_reconcile_total',
    help: 'Reconciles by kind (export, imports, device) and result (ok, error)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly exports = new Gauge({
    name: 'nexlink_exports',
    help: 'Services this nexlink exports',
    registers: [this.registry],
  });
  readonly imports = new Gauge({
    name: 'nexlink_imports',
    help: 'Names this nexlink imports',
    registers: [this.registry],
  });
  readonly deviceProxies = new Gauge({
    name: 'nexlink_device_proxies',
    help: 'Services with a proxy to a VPC device (nexlink.nexodus.io/device)',
    registers: [this.registry],
  });
  readonly invalidMetadata = new Gauge({
    name: 'nexlink_invalid_metadata',
    help: 'Devices whose nexlink metadata did not parse (ignored)',
    registers: [this.registry],
  });
  readonly refusedExports = new Counter({
    name: 'nexlink_export_refused_total',
    help: 'Exports refused for bad input, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly watchReconnects = new Counter({
    name: 'nexlink_watch_reconnects_total',
    help: 'Reconnects of the Nexodus watch stream and restarts of Kubernetes informers',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
}
