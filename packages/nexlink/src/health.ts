// SPDX-License-Identifier: Apache-2.0
// /healthz (alive), /readyz (informers and the VPC view synced) and /metrics. Plain node:http: three
// read-only routes need no framework.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NexlinkMetrics } from './metrics.js';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(opts: {
  host: string;
  port: number;
  ready: () => string[];
  metrics: NexlinkMetrics;
}): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string) =>
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void text(405, 'method not allowed\n');
    if (path === '/healthz') return void text(200, 'ok\n');
    if (path === '/readyz') {
      const pending = opts.ready();
      return void (pending.length ? text(503, `not ready: ${pending.join(', ')}\n`) : text(200, 'ready\n'));
    }
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(body),
        (err: unknown) => text(500, `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    text(404, 'not found: try /healthz, /readyz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
