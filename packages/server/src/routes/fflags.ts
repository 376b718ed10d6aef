// SPDX-License-Identifier: Apache-2.0
// /api/fflags: the original's feature flags, answered with what this service implements, so that the
// original's clients and UI enable what works here (and only that).
import { featureFlagsSchema } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import { responses } from './route-schemas.js';

/** The flags, in the original's names. `ca`: no certificate authority; `sites`: no service networks yet. */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  ca: false,
  devices: true,
  'multi-organization': true,
  'security-groups': true,
  sites: false,
};

export async function featureFlagRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/api/fflags',
    { schema: { response: responses(200, featureFlagsSchema) } },
    async () => FEATURE_FLAGS,
  );

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
      const v = FEATURE_FLAGS[req.params.name];
      if (v === undefined || !Object.hasOwn(FEATURE_FLAGS, req.params.name)) throw notFound('flag');
      return { [req.params.name]: v };
    },
  );
}
