// SPDX-License-Identifier: Apache-2.0
// `--health-addr`: /healthz (the process is alive and its event loop turns), /readyz (see readiness.ts,
// 503 with the pending conditions until ready) and /metrics (Prometheus text format). Plain node:http:
// three read-only routes do not need a framework.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NexdError } from '../errors.js';
import type { NexdMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface HealthServer {
  /** The bound port (useful when asked for port 0 in tests). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  host: string;
  port: number;
  readiness: Readiness;
  metrics: NexdMetrics;
}): Promise<HealthServer> {
  const { readiness, metrics } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz':
        if (readiness.ready) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
        else
          res
            .writeHead(503, { 'content-type': 'text/plain' })
            .end(`not ready: ${readiness.pending.join(', ')}\n`);
        return;
      case '/metrics':
        metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
          (err: unknown) =>
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
        );
        return;
      default:
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('not found: try /healthz, /readyz or /metrics\n');
    }
  });
  const listen = (host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: options.port, ipv6Only: false }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  try {
    await listen(options.host).catch((err: NodeJS.ErrnoException) => {
      // `:8080` means every address; on a kernel without IPv6, `::` is not available: use 0.0.0.0.
      if (options.host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
        return listen('0.0.0.0');
      }
      throw err;
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new NexdError(
      'NEX_ERR_BAD_FLAG',
      `--health-addr ${options.host}:${options.port}: cannot listen (${code})`,
    );
  }
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
