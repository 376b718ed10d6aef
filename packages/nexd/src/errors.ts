// SPDX-License-Identifier: Apache-2.0
// Typed errors at nexd's boundaries (CLI, state store, control socket). Each carries a stable code so
// that callers (nexctl, tests, logs) can branch on `code` rather than on message text.

/** Every error code nexd can report. Keep this list in sync with the subclasses below. */
export const NEXD_ERROR_CODES = [
  'NEX_ERR_BAD_FLAG',
  'NEX_ERR_PROXY_RULE',
  'NEX_ERR_PROXY_RULE_EXISTS',
  'NEX_ERR_PROXY_RULE_NOT_FOUND',
  'NEX_ERR_PROXY_LISTEN',
  'NEX_ERR_STATE_CORRUPT',
  'NEX_ERR_STATE_IO',
  'NEX_ERR_STATE_FORBIDDEN',
  'NEX_ERR_STATE_UNAVAILABLE',
  'NEX_ERR_STATE_DELETED',
  'NEX_ERR_KEYS',
  'NEX_ERR_WG_CONFIG',
  'NEX_ERR_CONTROL',
  'NEX_ERR_DATA_PLANE_UNAVAILABLE',
  'NEX_ERR_LOGIN',
  'NEX_ERR_SERVICE_UNREACHABLE',
  'NEX_ERR_TLS',
  'NEX_ERR_REGISTRATION',
  'NEX_ERR_AGENT_PRIVILEGES',
  'NEX_ERR_AGENT_NO_TUN',
  'NEX_ERR_AGENT_LINK',
  'NEX_ERR_SECURITY_GROUP',
] as const;
export type NexdErrorCode = (typeof NEXD_ERROR_CODES)[number];

export class NexdError extends Error {
  readonly code: NexdErrorCode;
  constructor(code: NexdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NexdError';
    this.code = code;
  }
}

/** A command-line flag, argument or NEXD_* variable has a value nexd cannot use. */
export class BadFlagError extends NexdError {
  /** The flag or variable at fault, e.g. `--listen-port` or `NEXD_LISTEN_PORT`. */
  readonly flag: string;
  constructor(flag: string, message: string) {
    super('NEX_ERR_BAD_FLAG', message);
    this.name = 'BadFlagError';
    this.flag = flag;
  }
}

/** The state file or Secret cannot be parsed; it is left untouched for the operator to inspect. */
export class StateCorruptError extends NexdError {
  readonly location: string;
  constructor(location: string, detail: string) {
    super(
      'NEX_ERR_STATE_CORRUPT',
      `state at ${location} is corrupt (${detail}); nexd will not overwrite it: ` +
        'fix it, or move it aside to start with a fresh identity',
    );
    this.name = 'StateCorruptError';
    this.location = location;
  }
}

/** A wg-quick style file has a bad line. `line` is 1-based. */
export class WgConfigError extends NexdError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, detail: string) {
    super('NEX_ERR_WG_CONFIG', `${file}:${line}: ${detail}`);
    this.name = 'WgConfigError';
    this.file = file;
    this.line = line;
  }
}

/** Key material is missing, malformed or inconsistent. */
export class KeyError extends NexdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NEX_ERR_KEYS', message, options);
    this.name = 'KeyError';
  }
}

/** Renders any thrown value as one line, for CLI error output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
