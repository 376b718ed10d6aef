// SPDX-License-Identifier: Apache-2.0
// Probes for orchestrators (the Helm chart, the image test): `/healthz` says the process serves requests,
// `/readyz` also asks the database, so a replica whose SQLite file or PostgreSQL connection is gone is
// taken out of a Service without being restarted; `/metrics` is the process's own figures (CPU, memory,
// event-loop delay, GC) in the Prometheus text format, for the chart's ServiceMonitor. All three sit outside
// authentication and rate limiting.
import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Database } from '../db/schema.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
export const METRICS_PATH = '/metrics';

export async function healthRoutes(app: FastifyInstance, opts: { db: Kysely<Database> }): Promise<void> {
  // One registry per app (tests build many apps in one process; the default registry would be shared).
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nexodus_server_' });
  app.get(HEALTH_PATH, async () => ({ status: 'ok' }));
  app.get(METRICS_PATH, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  app.get(READY_PATH, async (req, reply) => {
    try {
      await sql`select 1`.execute(opts.db);
      return { status: 'ready' };
    } catch (err) {
      req.log.warn({ err }, 'readiness: the database does not answer');
      // A probe body, not an API error: orchestrators read the status only (no NEX_ERR_* code here).
      return reply.code(503).send({
        status: 'unavailable',
        error: `the database does not answer (${(err as Error).message})`,
      });
    }
  });
}
