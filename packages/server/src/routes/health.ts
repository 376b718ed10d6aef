// SPDX-License-Identifier: Apache-2.0
// /private/live and /private/ready (the original's probes, unauthenticated): live while the process serves
// requests; ready while the database answers, so a replica that lost its database leaves the Service.
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ServerContext } from '../context.js';
import { UNAVAILABLE_RETRY_AFTER_S } from '../db/unavailable.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/** A database that does not answer within this is "not ready". */
const READY_TIMEOUT_MS = 2000;

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, error: { type: 'string' }, code: { type: 'string' } },
  required: ['status'],
} as const;

export async function healthRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const live = async () => ({ status: 'UP' });
  const ready = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`select 1`.execute(opts.ctx.db),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('the database did not answer in time')),
            READY_TIMEOUT_MS,
          );
        }),
      ]);
      return { status: 'UP' };
    } catch (err) {
      return reply
        .code(503)
        .header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S))
        .send({ status: 'DOWN', error: `database: ${(err as Error).message}`, code: 'NEX_ERR_UNAVAILABLE' });
    } finally {
      clearTimeout(timer);
    }
  };
  const schema = { response: { 200: statusSchema, 503: statusSchema } };
  // The original documents POST; probes (and people) use GET: both answer.
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/private/live', schema, handler: live });
    app.route({ method, url: '/private/ready', schema, handler: ready });
  }
  // The conventional names, which the Helm chart's and the image's probes use.
  app.route({ method: 'GET', url: HEALTH_PATH, schema, handler: live });
  app.route({ method: 'GET', url: READY_PATH, schema, handler: ready });
}
