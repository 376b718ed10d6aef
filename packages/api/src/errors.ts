// SPDX-License-Identifier: Apache-2.0
// Typed errors of the client. Server answers carry `{"error", "code"}`, or the original Nexodus shapes
// (`{"error":"not found","resource"}`, `{"error":"operation not allowed","reason"}`, `{"error":"path parameter
// invalid","field"}`, `{"id","error":"resource already exists"}`), which map back to the same codes by status;
// transport failures get a client code.

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
  /** for 404s: the kind of object not found (i.e. `device`) */
  readonly resource: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { field?: string; id?: string; resource?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.id = extra.id;
    this.resource = extra.resource;
  }

  /** Builds the error from a non-2xx response body (JSON `{"error", "code"}`, an original shape, or anything). */
  static fromResponse(status: number, text: string): ApiError {
    let b: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      b = parsed as Record<string, unknown>;
    } catch {
      return new ApiError(status, `HTTP_${status}`, text.slice(0, 512) || `HTTP ${status}`);
    }
    const str = (k: string): string | undefined => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
    const error = str('error');
    const field = str('field');
    const id = str('id');
    const resource = str('resource');
    const reason = str('reason');
    let code = str('code');
    let message = str('error_description') ?? error ?? text;
    if (code === undefined) {
      // The original's bodies have no code: recognise them by status and `error`.
      if (status === 404 && error === 'not found') {
        code = 'NEX_ERR_NOT_FOUND';
        message = `${resource ?? 'object'} not found`;
      } else if (status === 403 && error === 'operation not allowed') {
        code = 'NEX_ERR_FORBIDDEN';
        message = reason ? `operation not allowed: ${reason}` : 'operation not allowed';
      } else if (status === 400 && error === 'path parameter invalid') {
        code = 'NEX_ERR_BAD_PATH_PARAM';
        message = `path parameter ${field ?? ''} invalid${reason ? `: ${reason}` : ''}`;
      } else if (status === 409 && error === 'resource already exists') {
        code = 'NEX_ERR_CONFLICT';
        message = `resource already exists${id ? ` (id ${id})` : ''}`;
      } else if (status === 401) {
        code = 'NEX_ERR_UNAUTHENTICATED';
      } else {
        code = error !== undefined && status < 500 ? error : `HTTP_${status}`;
      }
    }
    return new ApiError(status, code, message, {
      ...(field !== undefined ? { field } : {}),
      ...(id !== undefined ? { id } : {}),
      ...(resource !== undefined ? { resource } : {}),
    });
  }
}
