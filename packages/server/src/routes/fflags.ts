// SPDX-License-Identifier: Apache-2.0
// /api/fflags: the original's feature flags, answered with what this service implements, so that the
// original's clients and UI enable what works here (and only that). `sites` is off by default, as in the
// original (NEXAPI_FFLAG_SITES); turning it on enables the /api/sites routes (service networks are always on).
import { featureFlagsSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { NexError, notFound } from '../errors.js';
import { responses } from './route-schemas.js';

/** The flags a deployment may switch. */
export type SwitchableFlag = 'sites';

/** The default flags, in the original's names. `ca`: no certificate authority here. */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  ca: false,
  devices: true,
  'multi-organization': true,
  'security-groups': true,
  sites: false,
};

/** The flags of one app: the defaults with the deployment's choices applied. */
export function featureFlags(
  overrides: Partial<Record<SwitchableFlag, boolean>> = {},
): Record<string, boolean> {
  return { ...FEATURE_FLAGS, ...overrides };
}

/** 405 `{"error":"operation not allowed","reason":"<flag> support is disabled"}` when `flag` is off. */
export function requireFlag(flags: Readonly<Record<string, boolean>>, flag: SwitchableFlag): void {
  if (!flags[flag]) throw new NexError('NEX_ERR_FEATURE_DISABLED', `${flag} support is disabled`);
}

export async function featureFlagRoutes(
  app: FastifyInstance,
  opts: { flags?: Readonly<Record<string, boolean>> } = {},
): Promise<void> {
  const flags = opts.flags ?? FEATURE_FLAGS;
  app.get('/api/fflags', { schema: { response: responses(200, featureFlagsSchema) } }, async () => flags);

  app.get<{ Params: { name: string } }>(
    '/api/fflags/:name',
    {
      schema: {
        params: {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 64 } },
          required: ['name'],
        },
        response: responses(200, featureFlagsSchema),
      },
    },
    async (req) => {
      const v = flags[req.params.name];
      if (v === undefined || !Object.hasOwn(flags, req.params.name)) throw notFound('flag');
      return { [req.params.name]: v };
    },
  );
}
