// SPDX-License-Identifier: Apache-2.0
// Typed errors at nexlink's boundaries (configuration, the Nexodus service, a Service's labels). Each has a
// stable code, so that logs, Events and tests branch on `code`, never on message text.

/** Every error code nexlink can report. */
export const NEXLINK_ERROR_CODES = [
  /** A flag or NEXLINK_* variable has a value nexlink cannot use. */
  'NEX_ERR_NEXLINK_CONFIG',
  /** Logging in to the Nexodus service failed (credentials refused, service unreachable). */
  'NEX_ERR_NEXLINK_LOGIN',
  /** A Service asks for an export nexlink cannot make (no ports, a bad label, an unsupported protocol). */
  'NEX_ERR_NEXLINK_EXPORT',
  /** An import cannot be made (a Service of that name exists and nexlink does not manage it). */
  'NEX_ERR_NEXLINK_IMPORT',
] as const;
export type NexlinkErrorCode = (typeof NEXLINK_ERROR_CODES)[number];

export class NexlinkError extends Error {
  readonly code: NexlinkErrorCode;
  constructor(code: NexlinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NexlinkError';
    this.code = code;
  }
}
