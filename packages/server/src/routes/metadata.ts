// SPDX-License-Identifier: Apache-2.0
// /api/devices/{id}/metadata[/{key}]: opaque JSON values per device and key, with revisions (watchable).
import { deviceMetadataSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { readableDevice, writableDevice } from '../access.js';
import { principalOf } from '../auth.js';
import { type ServerContext, writeVpc } from '../context.js';
import { NexError, notFound } from '../errors.js';
import { addTombstone } from '../events/revisions.js';
import { byText } from '../order.js';
import { metadataView } from '../views.js';
import { arrayOf, idParams, responses } from './route-schemas.js';

/** Longest metadata key; keys are path segments such as `nexlink` or `tcp:80`. */
export const METADATA_KEY_MAX = 256;
/** Largest JSON value stored per key. */
export const METADATA_VALUE_MAX_BYTES = 64 * 1024;

const keyParams = {
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 64 },
    key: { type: 'string', minLength: 1, maxLength: METADATA_KEY_MAX },
  },
  required: ['id', 'key'],
} as const;

export async function metadataRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;

  app.get<{ Params: { id: string } }>(
    '/api/devices/:id/metadata',
    { schema: { params: idParams, response: responses(200, arrayOf(deviceMetadataSchema)) } },
    async (req) => {
      const d = await readableDevice(ctx, principalOf(req), req.params.id);
      const rows = await ctx.db
        .selectFrom('device_metadata')
        .selectAll()
        .where('device_id', '=', d.id)
        .execute();
      return rows.sort(byText((r) => r.key)).map(metadataView);
    },
  );

  app.get<{ Params: { id: string; key: string } }>(
    '/api/devices/:id/metadata/:key',
    { schema: { params: keyParams, response: responses(200, deviceMetadataSchema) } },
    async (req) => {
      const d = await readableDevice(ctx, principalOf(req), req.params.id);
      const row = await ctx.db
        .selectFrom('device_metadata')
        .selectAll()
        .where('device_id', '=', d.id)
        .where('key', '=', req.params.key)
        .executeTakeFirst();
      if (!row) throw notFound('device metadata');
      return metadataView(row);
    },
  );

  // The body is the value itself: any JSON (object, array, string, number, boolean, null).
  app.put<{ Params: { id: string; key: string }; Body: unknown }>(
    '/api/devices/:id/metadata/:key',
    { schema: { params: keyParams, response: responses(200, deviceMetadataSchema) } },
    async (req) => {
      const d = await writableDevice(ctx, principalOf(req), req.params.id);
      if (req.body === undefined) {
        throw new NexError('NEX_ERR_VALIDATION', 'body: expected a JSON value', { field: 'body' });
      }
      const value = JSON.stringify(req.body);
      if (Buffer.byteLength(value) > METADATA_VALUE_MAX_BYTES) {
        throw new NexError(
          'NEX_ERR_BODY_TOO_LARGE',
          `metadata values are limited to ${METADATA_VALUE_MAX_BYTES} bytes`,
        );
      }
      const key = req.params.key;
      return writeVpc(ctx, d.vpc_id, async (trx, revision) => {
        const now = new Date().toISOString();
        const row = await trx
          .insertInto('device_metadata')
          .values({
            device_id: d.id,
            key,
            vpc_id: d.vpc_id,
            value,
            revision,
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.columns(['device_id', 'key']).doUpdateSet({ value, revision, updated_at: now }),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        return metadataView(row);
      });
    },
  );

  app.delete<{ Params: { id: string; key: string } }>(
    '/api/devices/:id/metadata/:key',
    { schema: { params: keyParams, response: responses(200, deviceMetadataSchema) } },
    async (req) => {
      const d = await writableDevice(ctx, principalOf(req), req.params.id);
      const exists = await ctx.db
        .selectFrom('device_metadata')
        .select('key')
        .where('device_id', '=', d.id)
        .where('key', '=', req.params.key)
        .executeTakeFirst();
      if (!exists) throw notFound('device metadata');
      return writeVpc(ctx, d.vpc_id, async (trx, revision) => {
        const row = await trx
          .deleteFrom('device_metadata')
          .where('device_id', '=', d.id)
          .where('key', '=', req.params.key)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw notFound('device metadata');
        const view = { ...metadataView(row), revision };
        await addTombstone(trx, d.vpc_id, 'device-metadata', `${d.id}/${row.key}`, revision, view);
        return view;
      });
    },
  );

  // The original's DeleteDeviceMetadata: every key of the device, 204. Each key is deleted at a revision of its
  // own (a tombstone per revision), so watchers see every delete, as for DELETE .../metadata/{key}.
  app.delete<{ Params: { id: string } }>(
    '/api/devices/:id/metadata',
    { schema: { params: idParams } },
    async (req, reply) => {
      const d = await writableDevice(ctx, principalOf(req), req.params.id);
      const keys = await ctx.db
        .selectFrom('device_metadata')
        .select('key')
        .where('device_id', '=', d.id)
        .execute();
      for (const { key } of keys) {
        await writeVpc(ctx, d.vpc_id, async (trx, revision) => {
          const row = await trx
            .deleteFrom('device_metadata')
            .where('device_id', '=', d.id)
            .where('key', '=', key)
            .returningAll()
            .executeTakeFirst();
          // Deleted meanwhile by another request: that one left the tombstone.
          if (!row) return;
          const view = { ...metadataView(row), revision };
          await addTombstone(trx, d.vpc_id, 'device-metadata', `${d.id}/${row.key}`, revision, view);
        });
      }
      return reply.code(204).send();
    },
  );
}
