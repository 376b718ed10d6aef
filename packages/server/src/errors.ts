// SPDX-License-Identifier: Apache-2.0
// The server's error catalogue: every error a client can see has a stable NEX_ERR_* code and an HTTP status,
// like Fastify's FST_ERR_*. test/errors.test.ts checks that every code is documented in docs/errors.md.

export const ERRORS = {
  NEX_ERR_BAD_REQUEST: { status: 400, doc: 'the request is malformed (i.e. invalid JSON)' },
  NEX_ERR_VALIDATION: { status: 400, doc: 'a field failed validation; `field` names it' },
  NEX_ERR_CONTROL_CHARACTER: {
    status: 400,
    doc: 'a string holds a NUL byte or a lone surrogate, or a name holds a control character; `field` names it',
  },
  NEX_ERR_TOO_DEEP: { status: 400, doc: 'a JSON body is nested too deeply; `field` names where' },
  NEX_ERR_BAD_CIDR: { status: 400, doc: 'a CIDR or address is not valid for its purpose' },
  NEX_ERR_DEFAULT_VPC: { status: 400, doc: 'the default VPC or organization cannot be deleted' },
  NEX_ERR_POOL_EXHAUSTED: { status: 400, doc: "the VPC's address pool has no free address left" },
  NEX_ERR_UNAUTHENTICATED: { status: 401, doc: 'no, an expired or an unknown bearer token' },
  NEX_ERR_REG_KEY_USED: {
    status: 401,
    doc: 'a single-use registration key was already used by another device',
  },
  NEX_ERR_FORBIDDEN: { status: 403, doc: 'the credential is valid but may not perform this operation' },
  NEX_ERR_NOT_FOUND: { status: 404, doc: 'no such object, or it belongs to someone else' },
  NEX_ERR_CONFLICT: { status: 409, doc: 'the object already exists; `id` names the existing one' },
  NEX_ERR_ADDRESS_IN_USE: { status: 409, doc: 'the requested tunnel address is assigned to another device' },
  NEX_ERR_BODY_TOO_LARGE: { status: 413, doc: 'the request body exceeds the size limit' },
  NEX_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'the request body is not application/json' },
  NEX_ERR_RATE_LIMITED: { status: 429, doc: 'too many requests; retry after the Retry-After header' },
  NEX_ERR_UNAVAILABLE: {
    status: 503,
    doc: 'the database is unreachable; retry after the Retry-After header',
  },
  NEX_ERR_INTERNAL: { status: 500, doc: 'an unexpected server error; the log has details' },
} as const;

export type NexErrorCode = keyof typeof ERRORS;

/** An error a client sees as `{"error": message, "code": code, ...}` with the catalogue's HTTP status. */
export class NexError extends Error {
  readonly code: NexErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly id: string | undefined;

  constructor(code: NexErrorCode, message: string, extra: { field?: string; id?: string } = {}) {
    super(message);
    this.name = 'NexError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.field = extra.field;
    this.id = extra.id;
  }

  toBody(): { error: string; code: string; field?: string; id?: string } {
    const body: { error: string; code: string; field?: string; id?: string } = {
      error: this.message,
      code: this.code,
    };
    if (this.field !== undefined) body.field = this.field;
    if (this.id !== undefined) body.id = this.id;
    return body;
  }
}

export const notFound = (what: string): NexError => new NexError('NEX_ERR_NOT_FOUND', `${what} not found`);
