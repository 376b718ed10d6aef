// SPDX-License-Identifier: Apache-2.0
// /private/live and /private/ready: probes for Kubernetes (and the original's /private/ready). Live: the
// process serves HTTP. Ready: the database answers a trivial query within READY_TIMEOUT_MS.
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ServerContext } from '../context.js';
import { UNAVAILABLE_RETRY_AFTER_S } from '../db/unavailable.js';

/** How long the readiness query may take before the database counts as unavailable. */
const READY_TIMEOUT_MS = 2000;

const probeSchema = {
  type: 'object',
  properties: { ready: { type: 'boolean' }, live: { type: 'boolean' }, error: { type: 'string' } },
} as const;

export async function healthRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  app.get('/private/live', { schema: { response: { 200: probeSchema } } }, async () => ({ live: true }));
  app.get(
    '/private/ready',
    { schema: { response: { 200: probeSchema, 503: probeSchema } } },
    async (_req, reply) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sql`SELECT 1`.execute(ctx.db),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
              READY_TIMEOUT_MS,
            );
          }),
        ]);
        return { ready: true };
      } catch (err) {
        reply.code(503).header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
        return { ready: false, error: `the database is unavailable: ${(err as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    },
  );
}
