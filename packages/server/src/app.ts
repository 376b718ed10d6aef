// SPDX-License-Identifier: Apache-2.0
// The Fastify application: `buildApp(opts)` wires the database, the change bus, authentication and one plugin
// per resource. Tests drive it with `app.inject()`; the CLI listens on HTTPS.

import rateLimit from '@fastify/rate-limit';
import { openApiDocument } from '@nexodus/api';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import type { Kysely } from 'kysely';
import { makeAuthHook } from './auth.js';
import type { ServerContext } from './context.js';
import { databaseKind, databaseUrl } from './db/open.js';
import type { Database } from './db/schema.js';
import { databaseUnavailable, UNAVAILABLE_RETRY_AFTER_S } from './db/unavailable.js';
import { NexError } from './errors.js';
import { ChangeBus } from './events/bus.js';
import { SharedReads } from './events/shared-reads.js';
import {
  DEFAULT_TOMBSTONE_GC_INTERVAL_MS,
  DEFAULT_TOMBSTONE_RETENTION_MS,
  startTombstoneGc,
} from './events/tombstone-gc.js';
import { type IdentityService, identityRoutes } from './identity/index.js';
import { inputGuard } from './input-guard.js';
import { PoolCache } from './ipam.js';
import { metricsRoutes } from './metrics.js';
import { deviceRoutes } from './routes/devices.js';
import { eventRoutes, resetOnlineAfterStart } from './routes/events.js';
import { featureFlagRoutes, featureFlags, type SwitchableFlag } from './routes/fflags.js';
import { healthRoutes } from './routes/health.js';
import { invitationRoutes } from './routes/invitations.js';
import { metadataRoutes } from './routes/metadata.js';
import { organizationRoutes } from './routes/organizations.js';
import { regKeyRoutes } from './routes/reg-keys.js';
import { securityGroupRoutes } from './routes/security-groups.js';
import { serviceNetworkRoutes } from './routes/service-networks.js';
import { siteRoutes } from './routes/sites.js';
import { userRoutes } from './routes/users.js';
import { vpcRoutes } from './routes/vpcs.js';
import { defaultUiDir, uiRoutes } from './ui-hosting.js';

/** Default request body limit: metadata values are at most 64 KiB, everything else is far smaller. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;
/** API requests allowed per principal per minute (100/s: far above what nexd or a UI needs). */
export const DEFAULT_API_RATE_LIMIT = { max: 6000, timeWindowMs: 60_000 };
/** Time a client has to send a whole request. */
const REQUEST_RECEIVE_TIMEOUT_MS = 60_000;
/** Default watch keep-alive interval. */
export const DEFAULT_BOOKMARK_MS = 20_000;

export interface BuildAppOptions {
  /** A migrated database (openDatabase + migrateToLatest). The caller closes it after app.close(). */
  db: Kysely<Database>;
  /** The built-in identity provider (IdentityService.create on the same database); its routes are served too. */
  identity: IdentityService;
  /** Fastify logger option (default: off); pass a pino instance or `{ level }`. */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  bodyLimit?: number;
  bookmarkMs?: number;
  /** Requests per principal (user, device, reg key; else address) and window; `false` turns it off. */
  apiRateLimit?: { max: number; timeWindowMs: number } | false;
  /** The web UI's build to serve at `/` (default: packages/ui/dist/web or NEXODUS_UI_DIR); `false`: none. */
  uiDir?: string | false;
  /** Tombstone clean-up (default: hourly, 7 days' retention); `false` turns it off. */
  tombstoneGc?: { intervalMs: number; retentionMs: number } | false;
  /** Fastify server options for HTTPS (the CLI passes `{ https: { key, cert } }`). */
  https?: { key: Buffer | string; cert: Buffer | string };
  /** Feature flags to switch (default: the original's, `sites` from NEXAPI_FFLAG_SITES=true). */
  fflags?: Partial<Record<SwitchableFlag, boolean>>;
  /** DERP relay URLs announced to devices at `GET /.well-known/nexodus-relays` (see relay.ts). */
  relays?: string[];
}

function validationField(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return 'body';
  const params = v.params as { missingProperty?: string } | undefined;
  const path = `${v.instancePath ?? ''}${params?.missingProperty ? `/${params.missingProperty}` : ''}`
    .replace(/^\//, '')
    .replace(/\/(\d+)/g, '[$1]')
    .replace(/\//g, '.');
  return path || err.validationContext || 'body';
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const postgres = databaseKind(opts.db) === 'postgres';
  const bus = new ChangeBus();
  const ctx: ServerContext = { db: opts.db, postgres, bus, reads: new SharedReads(), ipam: new PoolCache() };
  const url = databaseUrl(opts.db);
  if (postgres && url) await bus.listen(url);
  else await resetOnlineAfterStart(ctx);

  const loggerOpt =
    opts.logger && typeof opts.logger === 'object' && 'child' in opts.logger
      ? { loggerInstance: opts.logger }
      : { logger: opts.logger ?? false };
  const app = Fastify({
    ...(loggerOpt as object),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ...(opts.https ? { https: opts.https } : {}),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } },
    // A request (headers and body) must arrive within this time (slow-client protection); it does not limit
    // how long a response such as a watch stream lasts.
    requestTimeout: REQUEST_RECEIVE_TIMEOUT_MS,
    // Watch streams never finish by themselves: close() must not wait for them.
    forceCloseConnections: true,
  } as FastifyServerOptions) as unknown as FastifyInstance;
  app.decorate('nexodus', ctx);
  // Every route as registered, for the authorization matrix test (a route without rows there fails it).
  const routeTable: Array<{ method: string; url: string }> = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method !== 'HEAD') routeTable.push({ method, url: r.url });
    }
  });

  // JSON bodies: an empty body counts as "no body" (undefined), so body-less POSTs with a JSON content type work.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        new NexError('NEX_ERR_BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`),
        undefined,
      );
    }
  });

  app.setErrorHandler((err: FastifyError | NexError, req, reply) => {
    if (err instanceof NexError) return reply.code(err.statusCode).send(err.toBody());
    const fe = err as FastifyError;
    if (fe.validation) {
      const field = validationField(fe);
      return reply.code(400).send({
        error: `${field}: ${fe.validation[0]?.message ?? 'invalid'}`,
        code: 'NEX_ERR_VALIDATION',
        field,
      });
    }
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({
          error: `the body exceeds ${opts.bodyLimit ?? DEFAULT_BODY_LIMIT} bytes`,
          code: 'NEX_ERR_BODY_TOO_LARGE',
        });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply
          .code(415)
          .send({ error: 'send the body as application/json', code: 'NEX_ERR_UNSUPPORTED_MEDIA_TYPE' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return reply.code(400).send({ error: fe.message, code: 'NEX_ERR_BAD_REQUEST' });
    }
    if (fe.statusCode === 429)
      return reply.code(429).send({ error: fe.message, code: 'NEX_ERR_RATE_LIMITED' });
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: fe.message, code: 'NEX_ERR_BAD_REQUEST' });
    }
    if (databaseUnavailable(err)) {
      req.log.warn({ err }, 'database unavailable');
      return reply
        .code(503)
        .header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S))
        .send(new NexError('NEX_ERR_UNAVAILABLE', 'the database is unavailable; retry later').toBody());
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal error; see the server log', code: 'NEX_ERR_INTERNAL' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'NEX_ERR_NOT_FOUND' });
  });

  // NUL bytes, control characters in names and deep nesting: one answer on both engines, for every route.
  app.addHook('preValidation', inputGuard);

  app.get('/openapi.json', async () => openApiDocument);
  await app.register(healthRoutes, { ctx });
  // Like OIDC discovery, outside the API: public facts a device needs before (and besides) its API calls.
  app.get('/.well-known/nexodus-relays', async () => ({ relays: opts.relays ?? [] }));
  // Not encapsulated, so its onResponse hook sees every route.
  await metricsRoutes(app, { ctx });

  const identity = opts.identity;
  await app.register(identityRoutes, { identity });
  if (opts.uiDir !== false) await app.register(uiRoutes, { dir: opts.uiDir ?? defaultUiDir() });

  await app.register(async (api) => {
    api.addHook(
      'onRequest',
      makeAuthHook(ctx, (t) => identity.verifyAccessToken(t)),
    );
    const limit = opts.apiRateLimit ?? DEFAULT_API_RATE_LIMIT;
    if (limit) {
      // After authentication (preHandler), so a noisy device or user is limited by identity, not by address.
      await api.register(rateLimit, {
        hook: 'preHandler',
        max: limit.max,
        timeWindow: limit.timeWindowMs,
        keyGenerator: (req) => {
          const p = req.principal;
          if (!p) return `ip:${req.ip}`;
          return p.kind === 'user'
            ? `u:${p.userId}`
            : p.kind === 'device'
              ? `d:${p.deviceId}`
              : `k:${p.regKeyId}`;
        },
        errorResponseBuilder: (_req, c) => ({
          statusCode: 429,
          code: 'NEX_ERR_RATE_LIMITED',
          message: `rate limit of ${c.max} requests per ${c.after} exceeded; retry in ${Math.ceil(c.ttl / 1000)} s`,
        }),
      });
    }
    await api.register(userRoutes, { lookupUser: (id) => identity.getUser(id), ctx });
    await api.register(organizationRoutes, { ctx });
    await api.register(vpcRoutes, { ctx });
    await api.register(deviceRoutes, { ctx });
    await api.register(metadataRoutes, { ctx });
    await api.register(regKeyRoutes, { ctx });
    await api.register(securityGroupRoutes, { ctx });
    const flags = featureFlags(opts.fflags ?? { sites: process.env.NEXAPI_FFLAG_SITES === 'true' });
    await api.register(featureFlagRoutes, { flags });
    await api.register(invitationRoutes, { ctx });
    await api.register(serviceNetworkRoutes, { ctx, flags });
    await api.register(siteRoutes, { ctx, flags });
    await api.register(eventRoutes, { ctx, bookmarkMs: opts.bookmarkMs ?? DEFAULT_BOOKMARK_MS });
  });

  const gc = opts.tombstoneGc ?? {
    intervalMs: DEFAULT_TOMBSTONE_GC_INTERVAL_MS,
    retentionMs: DEFAULT_TOMBSTONE_RETENTION_MS,
  };
  const stopGc = gc
    ? startTombstoneGc(opts.db, {
        ...gc,
        onError: (err) => app.log.warn({ err }, 'tombstone clean-up failed'),
      })
    : () => {};

  app.addHook('onClose', async () => {
    stopGc();
    await bus.close();
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    nexodus: ServerContext;
    /** Method and URL pattern of every route (HEAD left out), in registration order. */
    routeTable: ReadonlyArray<{ method: string; url: string }>;
  }
}
