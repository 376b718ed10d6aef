// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics at GET /metrics (unauthenticated, like the /private probes: scrape it from inside the
// cluster): requests and their latency per route (the route pattern, never the raw URL, so ids do not blow up
// the label set), open watch streams, the PostgreSQL pool, and the process defaults of prom-client.
// One registry per app, so several apps in one process (tests) do not collide.
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerContext } from './context.js';
import { databasePoolStats } from './db/open.js';
import { openWatchStreams } from './routes/events.js';

/** Latency buckets (seconds): API calls take milliseconds; a watch stream's request lasts until it closes. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export async function metricsRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nexodus_server_' });
  const requests = new Counter({
    name: 'nexodus_server_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'nexodus_server_http_request_duration_seconds',
    help: 'Time from request to response, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'nexodus_server_watch_streams_open',
    help: 'Watch streams (POST /api/vpcs/{id}/events) open now',
    registers: [registry],
    collect() {
      this.set(openWatchStreams(opts.ctx));
    },
  });
  const pool = new Gauge({
    name: 'nexodus_server_db_pool_connections',
    help: 'PostgreSQL pool connections by state (total, idle, waiting clients); absent on SQLite',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = databasePoolStats(opts.ctx.db);
      if (!s) return;
      pool.set({ state: 'total' }, s.total);
      pool.set({ state: 'idle' }, s.idle);
      pool.set({ state: 'waiting' }, s.waiting);
    },
  });

  // A hook on the root instance sees every route, the plugins' included.
  app.addHook('onResponse', async (req, reply) => {
    // Unmatched URLs share one label: a scanner must not create a series per path.
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
