// SPDX-License-Identifier: Apache-2.0
// Probes for orchestrators (the Helm chart, the image test): `/healthz` says the process serves requests,
// `/readyz` also asks the database, so a replica whose SQLite file or PostgreSQL connection is gone is
// taken out of a Service without being restarted. Both sit outside authentication and rate limiting.
import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

export async function healthRoutes(app: FastifyInstance, opts: { db: Kysely<Database> }): Promise<void> {
  app.get(HEALTH_PATH, async () => ({ status: 'ok' }));
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
