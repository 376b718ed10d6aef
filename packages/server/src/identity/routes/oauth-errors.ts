// SPDX-License-Identifier: Apache-2.0
// RFC 6749 §5.2 error rendering for the OAuth2 endpoints (token, device authorization): every failure,
// including body validation and parser errors, answers `{"error": ..., "error_description": ...}`.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { databaseUnavailable, UNAVAILABLE_RETRY_AFTER_S } from '../../db/unavailable.js';
import { OAuthError } from '../errors.js';

export const oauthErrorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    error_description: { type: 'string' },
  },
  required: ['error'],
} as const;

/** RFC 6749 §5.1: token responses must not be cached. */
export function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export function oauthErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  noStore(reply);
  if (err instanceof OAuthError) {
    if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
    // RFC 6749 §5.2: a 401 invalid_client names the scheme the client may authenticate with.
    if (err.error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="nexodus"');
    reply.code(err.statusCode).send({ error: err.error, error_description: err.message });
    return;
  }
  if (err.validation) {
    reply.code(400).send({ error: 'invalid_request', error_description: `${err.message}` });
    return;
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    // Parser errors: unsupported media type, body too large, malformed JSON.
    reply.code(status).send({ error: 'invalid_request', error_description: err.message });
    return;
  }
  if (databaseUnavailable(err)) {
    reply.code(503).header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
    reply.send({
      error: 'temporarily_unavailable',
      error_description: 'the database is unavailable; retry later',
    });
    return;
  }
  req.log.error({ err }, 'identity: token endpoint failed');
  reply.code(500).send({ error: 'server_error', error_description: 'internal error; see the server log' });
}
