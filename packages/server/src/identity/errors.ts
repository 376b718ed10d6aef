// SPDX-License-Identifier: Apache-2.0
// The identity error catalogue: every code with its HTTP status. Codes are stable (clients and the CLI
// match on them); messages say what was wrong and what is expected. README.md documents every code and a
// test checks that the two stay in step.

/** Code -> HTTP status. Add a code here and in README.md, never reuse or rename one. */
export const IDENTITY_ERROR_STATUS = {
  /** A username that does not match the allowed pattern. */
  IDENTITY_ERR_BAD_USERNAME: 400,
  /** A password that the policy rejects (too short, too long, empty, equal to the username). */
  IDENTITY_ERR_WEAK_PASSWORD: 400,
  /** A request body or parameter that failed validation. */
  IDENTITY_ERR_BAD_REQUEST: 400,
  /** No or an invalid/expired bearer token on an endpoint that needs one. */
  IDENTITY_ERR_UNAUTHENTICATED: 401,
  /** A valid token whose user lacks the needed role (admin). */
  IDENTITY_ERR_FORBIDDEN: 403,
  /** The named user does not exist. */
  IDENTITY_ERR_USER_NOT_FOUND: 404,
  /** createUser with a username that is taken. */
  IDENTITY_ERR_USER_EXISTS: 409,
  /** Deleting the only remaining admin would lock everyone out of the admin API. */
  IDENTITY_ERR_LAST_ADMIN: 409,
  /** The user still owns rows in other tables (organizations, devices) that reference it. */
  IDENTITY_ERR_USER_IN_USE: 409,
  /** Too many failed logins for a username or from an address; see Retry-After. */
  IDENTITY_ERR_RATE_LIMITED: 429,
  /** Too many password checks in flight (a login flood); retry after Retry-After seconds. */
  IDENTITY_ERR_BUSY: 503,
  /** An OAuth2 protocol error; the body carries the RFC 6749/8628 `error` value instead. */
  IDENTITY_ERR_OAUTH: 400,
  /** The service was configured wrongly (e.g. an issuer that is not an http(s) URL). */
  IDENTITY_ERR_BAD_CONFIG: 500,
  /** Stored identity state is unusable (e.g. a signing key that cannot be imported). */
  IDENTITY_ERR_CORRUPT_STATE: 500,
} as const;

export type IdentityErrorCode = keyof typeof IDENTITY_ERROR_STATUS;

/** Errors the identity service throws at its boundary (service methods, routes, CLI). */
export class IdentityError extends Error {
  override readonly name: string = 'IdentityError';
  readonly code: IdentityErrorCode;
  /** HTTP status; Fastify's default error handler honours `statusCode`. */
  readonly statusCode: number;
  /** Seconds until a rate-limited caller may retry (only for IDENTITY_ERR_RATE_LIMITED). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: IdentityErrorCode,
    message: string,
    opts: { retryAfterSeconds?: number; cause?: unknown; statusCode?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.statusCode = opts.statusCode ?? IDENTITY_ERROR_STATUS[code];
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/**
 * OAuth2 `error` values: RFC 6749 §5.2 (token endpoint), RFC 8628 §3.5 (device polling),
 * `temporarily_unavailable` (borrowed from RFC 6749 §4.1.2.1, HTTP 503) when password checks are saturated,
 * and `rate_limited` (our extension, with HTTP 429 and Retry-After) for login throttling.
 */
export type OAuthErrorValue =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'authorization_pending'
  | 'slow_down'
  | 'access_denied'
  | 'expired_token'
  | 'temporarily_unavailable'
  | 'rate_limited';

/** RFC 6749 §5.2: invalid_client is 401, throttling 429, overload 503, every other token-endpoint error 400. */
function oauthStatus(error: OAuthErrorValue): number {
  if (error === 'invalid_client') return 401;
  if (error === 'rate_limited') return 429;
  if (error === 'temporarily_unavailable') return 503;
  return 400;
}

function oauthCode(error: OAuthErrorValue): IdentityErrorCode {
  if (error === 'rate_limited') return 'IDENTITY_ERR_RATE_LIMITED';
  if (error === 'temporarily_unavailable') return 'IDENTITY_ERR_BUSY';
  return 'IDENTITY_ERR_OAUTH';
}

/** An OAuth2 protocol error, rendered as `{"error": ..., "error_description": ...}`. */
export class OAuthError extends IdentityError {
  override readonly name: string = 'OAuthError';
  readonly error: OAuthErrorValue;

  constructor(error: OAuthErrorValue, description: string, opts: { retryAfterSeconds?: number } = {}) {
    super(oauthCode(error), description, {
      statusCode: oauthStatus(error),
      ...opts,
    });
    this.error = error;
  }
}
