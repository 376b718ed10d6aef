// SPDX-License-Identifier: Apache-2.0
// Serves the web UI's build (packages/ui/dist) at `/`: its files by exact path (no wildcard route, so
// `/api`, `/device`, `/.well-known`, `/oauth2` and the JSON 404 stay untouched) and index.html for each of
// the UI's own client-side routes, listed here explicitly for the same reason.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The UI's client-side routes (packages/ui/src/routes.tsx); each answers index.html. */
export const UI_ROUTES = [
  '/',
  '/callback',
  '/signed-out',
  '/devices',
  '/devices/:id',
  '/vpcs',
  '/organizations',
  '/invitations',
  '/reg-keys',
  '/security-groups',
  '/users',
] as const;

/**
 * The UI build's policy: scripts, styles and connections only from this origin, no framing. The API is
 * same-origin, so `connect-src 'self'` covers it and the watch stream.
 */
export const UI_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** packages/ui/dist/web next to this package (monorepo and image layout), or NEXODUS_UI_DIR. */
export function defaultUiDir(): string {
  return (
    process.env.NEXODUS_UI_DIR ??
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui', 'dist', 'web')
  );
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nexodus</title></head>
<body><h1>Nexodus</h1><p>The web UI is not built. Run <code>npm run build</code> (or <code>npm start</code>)
and restart the server. The API is at <code>/api</code>.</p></body></html>
`;

export async function uiRoutes(app: FastifyInstance, opts: { dir: string }): Promise<void> {
  const built = existsSync(join(opts.dir, 'index.html'));
  if (built) {
    await app.register(fastifyStatic, {
      root: opts.dir,
      wildcard: false,
      index: false,
      // Hashed asset names never change content; index.html is served per route below with no-cache.
      maxAge: '365d',
      immutable: true,
      setHeaders: (reply) => {
        reply.headers(UI_HEADERS);
      },
    });
  }
  const sendIndex = (reply: FastifyReply) => {
    reply.headers(UI_HEADERS).header('cache-control', 'no-cache');
    if (!built) return reply.code(200).type('text/html; charset=utf-8').send(NOT_BUILT);
    // cacheControl: false keeps our no-cache: index.html names the current asset hashes.
    return reply.sendFile('index.html', { cacheControl: false });
  };
  for (const path of UI_ROUTES) {
    // `/` and `/index.html` may also exist as a static file route; ours wins by being explicit.
    app.get(path, { exposeHeadRoute: true }, (_req, reply) => sendIndex(reply));
  }
}
