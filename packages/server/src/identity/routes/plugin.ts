// SPDX-License-Identifier: Apache-2.0
// The identity Fastify plugin: registers every identity route. Register it without fastify-plugin
// wrapping (`app.register(identityRoutes, { identity })`) so its parsers and error handlers stay inside.
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import type { IdentityService } from '../service.js';
import { adminUserRoutes } from './admin-users.js';
import { authorizeRoutes } from './authorize.js';
import { deviceRoutes } from './device.js';
import { deviceStartRoutes, discoveryRoutes } from './discovery.js';
import { tokenRoutes } from './token.js';

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export async function identityRoutes(
  app: FastifyInstance,
  opts: { identity: IdentityService },
): Promise<void> {
  // OAuth2 requests are form-encoded (RFC 6749 §4.3.2); the parent may already parse them.
  if (!app.hasContentTypeParser(FORM_CONTENT_TYPE)) await app.register(formbody);
  const pluginOpts = { identity: opts.identity };
  // The OIDC routes live under the issuer's path (i.e. https://host/realms/nexodus -> /realms/nexodus/...), so
  // an issuer with a path is served as discovery announces it; clients that follow the original login flow
  // find them through /device/login/start, which (like the admin API) stays at the root.
  const prefix = new URL(opts.identity.issuer).pathname.replace(/\/+$/, '');
  const oidcOpts = prefix ? { ...pluginOpts, prefix } : pluginOpts;
  await app.register(discoveryRoutes, oidcOpts);
  await app.register(tokenRoutes, oidcOpts);
  await app.register(deviceRoutes, oidcOpts);
  await app.register(deviceStartRoutes, pluginOpts);
  await app.register(adminUserRoutes, pluginOpts);
  await app.register(authorizeRoutes, pluginOpts);
}
