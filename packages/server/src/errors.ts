// SPDX-License-Identifier: Apache-2.0
// The server's error catalogue: every error a client can see has a stable NEX_ERR_* code and an HTTP status,
// like Fastify's FST_ERR_*. test/errors.test.ts checks that every code is documented in docs/errors.md.
// Bodies: where the original Nexodus service has a body of its own (not found, operation not allowed, path
// parameter invalid, resource already exists) we write exactly that shape, so its clients read our answers;
// everywhere else `{"error": message, "code": NEX_ERR_*, ...}`. Clients tell them apart by status and `error`.

export const ERRORS = {
  NEX_ERR_BAD_REQUEST: { status: 400, doc: 'the request is malformed (i.e. invalid JSON)' },
  NEX_ERR_VALIDATION: { status: 400, doc: 'a field failed validation; `field` names it' },
  NEX_ERR_CONTROL_CHARACTER: {
    status: 400,
    doc: 'a string holds a NUL byte or a lone surrogate, or a name holds a control character; `field` names it',
  },
  NEX_ERR_TOO_DEEP: { status: 400, doc: 'a JSON body is nested too deeply; `field` names where' },
  NEX_ERR_BAD_PATH_PARAM: {
    status: 400,
    doc: 'a path parameter is malformed (i.e. not a UUID); body `{"error":"path parameter invalid","field","reason"}`',
  },
  NEX_ERR_FIELD_NOT_PRESENT: {
    status: 400,
    doc: 'a required field is missing; body `{"error":"field not present","field"}`',
  },
  NEX_ERR_FIELD_INVALID: {
    status: 400,
    doc: 'a field holds a value the operation refuses; body `{"error":"<why>","field"}`',
  },
  NEX_ERR_REFUSED: {
    status: 400,
    doc: 'the operation is refused in the current state; body `{"error":"operation not allowed","reason"}`',
  },
  NEX_ERR_BAD_CIDR: { status: 400, doc: 'a CIDR or address is not valid for its purpose' },
  NEX_ERR_DEFAULT_VPC: { status: 400, doc: 'the default VPC or organization cannot be deleted' },
  NEX_ERR_POOL_EXHAUSTED: { status: 400, doc: "the VPC's address pool has no free address left" },
  NEX_ERR_UNAUTHENTICATED: { status: 401, doc: 'no, an expired or an unknown bearer token' },
  NEX_ERR_REG_KEY_USED: {
    status: 401,
    doc: 'a single-use registration key was already used by another device',
  },
  NEX_ERR_FORBIDDEN: {
    status: 403,
    doc: 'the credential is valid but may not perform this operation; body `{"error":"operation not allowed","reason"}`',
  },
  NEX_ERR_FEATURE_DISABLED: {
    status: 405,
    doc: 'the feature flag of the route is off; body `{"error":"operation not allowed","reason"}`',
  },
  NEX_ERR_NOT_FOUND: {
    status: 404,
    doc: 'no such object, or it belongs to someone else; body `{"error":"not found","resource"}`',
  },
  NEX_ERR_CONFLICT: {
    status: 409,
    doc: 'the object already exists; body `{"id","error":"resource already exists"}`, `id` names the existing one',
  },
  NEX_ERR_WATCH_EXPIRED: {
    status: 410,
    doc: 'a watch resumed from a revision older than the kept tombstones; list again from the start',
  },
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

/** The body of an error answer: the original's shapes for the codes it has, ours (with `code`) otherwise. */
export interface ErrorBody {
  error: string;
  code?: string;
  field?: string;
  reason?: string;
  resource?: string;
  id?: string;
}

export interface NexErrorExtra {
  field?: string;
  id?: string;
  /** NEX_ERR_NOT_FOUND: the kind of object, i.e. `device` (the original's `resource`). */
  resource?: string;
}

/** An error with the catalogue's HTTP status; `toBody()` is what the client sees. */
export class NexError extends Error {
  readonly code: NexErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly id: string | undefined;
  readonly resource: string | undefined;

  constructor(code: NexErrorCode, message: string, extra: NexErrorExtra = {}) {
    super(message);
    this.name = 'NexError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.field = extra.field;
    this.id = extra.id;
    this.resource = extra.resource;
  }

  toBody(): ErrorBody {
    switch (this.code) {
      case 'NEX_ERR_NOT_FOUND':
        // The original writes `resource` only when it knows it (omitempty).
        return this.resource ? { error: 'not found', resource: this.resource } : { error: 'not found' };
      case 'NEX_ERR_FORBIDDEN':
      case 'NEX_ERR_REFUSED':
      case 'NEX_ERR_FEATURE_DISABLED':
        return { error: 'operation not allowed', reason: this.message };
      case 'NEX_ERR_FIELD_NOT_PRESENT':
        return { error: 'field not present', field: this.field ?? '' };
      case 'NEX_ERR_FIELD_INVALID':
        return { error: this.message, field: this.field ?? '' };
      case 'NEX_ERR_BAD_PATH_PARAM': {
        const body: ErrorBody = { error: 'path parameter invalid', field: this.field ?? 'id' };
        if (this.message) body.reason = this.message;
        return body;
      }
      case 'NEX_ERR_CONFLICT':
        if (this.id !== undefined) return { id: this.id, error: 'resource already exists' };
        break;
    }
    const body: ErrorBody = { error: this.message, code: this.code };
    if (this.field !== undefined) body.field = this.field;
    if (this.id !== undefined) body.id = this.id;
    return body;
  }
}

/** 404 for `resource` (i.e. `device`); the body is the original's `{"error":"not found","resource"}`. */
export const notFound = (resource: string): NexError =>
  new NexError('NEX_ERR_NOT_FOUND', `${resource} not found`, { resource });

/** 400 for a missing field (the original's `{"error":"field not present","field"}`). */
export const fieldNotPresent = (field: string): NexError =>
  new NexError('NEX_ERR_FIELD_NOT_PRESENT', `${field} is required`, { field });

/** 400 for a malformed path parameter (the original's `{"error":"path parameter invalid","field"}`). */
export const badPathParam = (field: string, reason?: string): NexError =>
  new NexError('NEX_ERR_BAD_PATH_PARAM', reason ?? '', { field });
