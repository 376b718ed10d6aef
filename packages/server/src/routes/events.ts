// SPDX-License-Identifier: Apache-2.0
// POST /api/vpcs/{id}/events (also /api/vpc/{id}/events, the reference's spelling): the watch stream.
// `?public_key=` marks that device online while its stream is open.
import { WATCH_CONTENT_TYPE, WATCH_KINDS, type Watch, watchListSchema } from '@nexodus/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readableVpc } from '../access.js';
import { principalOf } from '../auth.js';
import { type ServerContext, writeVpc } from '../context.js';
import { NexError, notFound } from '../errors.js';
import { WatchStream } from '../events/watch.js';
import { idParams } from './route-schemas.js';

interface WatchRoute {
  Params: { id: string };
  Body: Watch[] | undefined;
  Querystring: { public_key?: string };
}

/** Open streams per device id in this process, so a device with two streams stays online until both close. */
const onlineCounts = new WeakMap<ServerContext, Map<string, number>>();

async function setOnline(
  ctx: ServerContext,
  vpcId: string,
  deviceId: string,
  online: boolean,
): Promise<void> {
  await writeVpc(ctx, vpcId, async (trx, revision) => {
    await trx
      .updateTable('devices')
      .set({ online: online ? 1 : 0, online_at: online ? new Date().toISOString() : null, revision })
      .where('id', '=', deviceId)
      .execute();
  });
}

/**
 * Marks every device offline (SQLite only: one process owns the file, so no stream can be open at start).
 * A crash or kill -9 leaves `online` set; this undoes it with a revision so watchers hear of it.
 */
export async function resetOnlineAfterStart(ctx: ServerContext): Promise<void> {
  const rows = await ctx.db.selectFrom('devices').select(['id', 'vpc_id']).where('online', '=', 1).execute();
  for (const r of rows) await setOnline(ctx, r.vpc_id, r.id, false);
}

/** The open watch streams of each app (read by /metrics). */
const openStreams = new WeakMap<ServerContext, ReadonlySet<WatchStream>>();

/** How many watch streams this app has open. */
export function openWatchStreams(ctx: ServerContext): number {
  return openStreams.get(ctx)?.size ?? 0;
}

export async function eventRoutes(
  app: FastifyInstance,
  opts: { ctx: ServerContext; bookmarkMs: number },
): Promise<void> {
  const { ctx } = opts;
  let counts = onlineCounts.get(ctx);
  if (!counts) onlineCounts.set(ctx, (counts = new Map()));
  const online = counts;
  const streams = new Set<WatchStream>();
  openStreams.set(ctx, streams);
  // preClose, not onClose: close() waits for in-flight requests, and a watch stream never finishes by itself.
  // Then wait for the offline marks, so a graceful stop leaves no device marked online (the database is
  // closed after the app).
  const finishing = new Set<Promise<void>>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.close();
    await Promise.allSettled([...finishing]);
  });

  const handler = async (req: FastifyRequest<WatchRoute>, reply: FastifyReply) => {
    const p = principalOf(req);
    const vpc = await readableVpc(ctx, p, req.params.id);
    const watches: Watch[] = req.body ?? [];
    const kinds = new Set(watches.map((w) => w.kind));
    if (kinds.size !== watches.length) {
      throw new NexError('NEX_ERR_VALIDATION', 'body: each kind may be watched once per stream', {
        field: 'kind',
      });
    }
    let onlineDevice: string | undefined;
    const pk = req.query.public_key;
    if (pk) {
      const d = await ctx.db
        .selectFrom('devices')
        .select(['id', 'vpc_id'])
        .where('public_key', '=', pk)
        .executeTakeFirst();
      if (!d || d.vpc_id !== vpc.id) throw notFound('device');
      if (p.kind === 'device' && p.deviceId !== d.id) {
        throw new NexError('NEX_ERR_FORBIDDEN', 'a device token may only mark its own device online');
      }
      onlineDevice = d.id;
    }

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': WATCH_CONTENT_TYPE,
      'cache-control': 'no-store',
      // Tell reverse proxies (nginx) not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    const stream = new WatchStream(
      ctx,
      vpc.id,
      watches,
      res,
      { bookmarkMs: opts.bookmarkMs, ownDeviceId: p.kind === 'device' ? p.deviceId : undefined },
      (err) => req.log.warn({ err, vpcId: vpc.id }, 'watch stream failed'),
    );
    streams.add(stream);
    if (onlineDevice) {
      const n = online.get(onlineDevice) ?? 0;
      online.set(onlineDevice, n + 1);
      if (n === 0)
        await setOnline(ctx, vpc.id, onlineDevice, true).catch((err) =>
          req.log.warn({ err }, 'marking device online failed'),
        );
    }
    const finished: Promise<void> = stream.done.then(async () => {
      streams.delete(stream);
      if (!onlineDevice) return;
      const n = (online.get(onlineDevice) ?? 1) - 1;
      if (n > 0) {
        online.set(onlineDevice, n);
        return;
      }
      online.delete(onlineDevice);
      // A deleted device is simply not updated; a deleted VPC has no revision counter left, so the write
      // fails and there is nothing to mark. Any other failure leaves the device shown online: log it.
      await setOnline(ctx, vpc.id, onlineDevice, false).catch(async (err) => {
        const vpcLeft = await ctx.db
          .selectFrom('vpcs')
          .select('id')
          .where('id', '=', vpc.id)
          .executeTakeFirst()
          .catch(() => vpc);
        if (vpcLeft) req.log.warn({ err, deviceId: onlineDevice }, 'marking device offline failed');
      });
    });
    finishing.add(finished);
    void finished.finally(() => finishing.delete(finished));
    await stream.start();
  };

  const schema = {
    params: idParams,
    body: watchListSchema,
    querystring: { type: 'object', properties: { public_key: { type: 'string', maxLength: 64 } } },
  };
  // A body-less POST (even with Content-Type: application/json) watches everything from the beginning;
  // set before validation so the schema sees the default.
  const preValidation = async (req: FastifyRequest<WatchRoute>) => {
    if (req.body === undefined || req.body === null)
      req.body = WATCH_KINDS.map((kind) => ({ kind, gt_revision: 0 }));
  };
  app.post<WatchRoute>('/api/vpcs/:id/events', { schema, preValidation }, handler);
  app.post<WatchRoute>('/api/vpc/:id/events', { schema, preValidation }, handler);

  // The original's POST /api/events: one stream, the VPC named per kind in `options` (`vpc-id`, or `vpc_id`).
  // A stream here follows one VPC, so every kind must name the same one; without any, the token's VPC (a
  // device or reg-key token's, a user's default VPC).
  app.post<WatchRoute>(
    '/api/events',
    {
      schema: { body: watchListSchema, querystring: schema.querystring },
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) {
          throw new NexError(
            'NEX_ERR_VALIDATION',
            'body: expected a list of watches, i.e. [{"kind":"device"}]',
            {
              field: 'body',
            },
          );
        }
      },
    },
    async (req, reply) => {
      const named = new Set<string>();
      for (const w of req.body ?? []) {
        const o = (w.options ?? {}) as Record<string, unknown>;
        const id = o['vpc-id'] ?? o.vpc_id;
        if (id !== undefined) {
          if (typeof id !== 'string') {
            throw new NexError('NEX_ERR_VALIDATION', 'options.vpc-id: expected a VPC id', {
              field: 'options',
            });
          }
          named.add(id);
        }
        // Our watches take no other options: drop them, the VPC stream validates its own body.
        delete (w as { options?: unknown }).options;
      }
      if (named.size > 1) {
        throw new NexError(
          'NEX_ERR_VALIDATION',
          'options.vpc-id: one stream follows one VPC; open one per VPC',
          {
            field: 'options',
          },
        );
      }
      const p = principalOf(req);
      const vpcId = [...named][0] ?? (p.kind === 'user' ? p.userId : p.vpcId);
      (req.params as { id: string }) = { id: vpcId };
      return handler(req, reply);
    },
  );
}
