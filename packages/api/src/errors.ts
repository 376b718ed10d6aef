// SPDX-License-Identifier: Apache-2.0
// Typed errors of the client. Server answers carry `{"error", "code"}`; transport failures get a client code.

/** Codes the client itself produces (server codes are NEX_ERR_*, see the server's docs/errors.md). */
export type ClientErrorCode =
  | 'NEX_CLIENT_ERR_NETWORK'
  | 'NEX_CLIENT_ERR_BAD_RESPONSE'
  | 'NEX_CLIENT_ERR_ABORTED';

export class ApiError extends Error {
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** `NEX_ERR_*` from the server body, or a `NEX_CLIENT_ERR_*`. */
  readonly code: string;
  /** for 400s: the offending request field */
  readonly field: string | undefined;
  /** for 409s: the id of the existing object */
  readonly id: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { field?: string; id?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.id = extra.id;
  }

  /** Builds the error from a non-2xx response body (JSON `{"error", "code"}` or anything else). */
  static fromResponse(status: number, text: string): ApiError {
    try {
      const b = JSON.parse(text) as {
        error?: unknown;
        code?: unknown;
        field?: unknown;
        id?: unknown;
        error_description?: unknown;
      };
      const message =
        typeof b.error_description === 'string'
          ? b.error_description
          : typeof b.error === 'string'
            ? b.error
            : text;
      const code =
        typeof b.code === 'string'
          ? b.code
          : typeof b.error === 'string' && status < 500
            ? b.error
            : `HTTP_${status}`;
      return new ApiError(status, code, message, {
        ...(typeof b.field === 'string' ? { field: b.field } : {}),
        ...(typeof b.id === 'string' ? { id: b.id } : {}),
      });
    } catch {
      return new ApiError(status, `HTTP_${status}`, text.slice(0, 512) || `HTTP ${status}`);
    }
  }
}
