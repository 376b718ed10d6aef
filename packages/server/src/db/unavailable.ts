// SPDX-License-Identifier: Apache-2.0
// Recognises "the database is not there right now" failures of either engine, so the API answers 503 with
// Retry-After (the client should retry) instead of 500 (a bug). Connection errors, PostgreSQL's
// connection-exception class and shutdown states, SQLite's busy/locked/I/O states.

/** Seconds a client is told to wait (Retry-After) when the database is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

/** Socket errors of the PostgreSQL client while connecting or mid-query. */
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
/**
 * SQLSTATEs: class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now),
 * 53300 (too many connections), 40001/40P01 are NOT here: a serialization failure is retried by the caller.
 */
const PG_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const PG_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|driver has already been destroyed/i;
/** SQLite result codes (better-sqlite3 `code`), extended codes start with these. */
const SQLITE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_FULL'];

export function databaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const x = e as { code?: unknown; message?: unknown; cause?: unknown };
    const code = typeof x.code === 'string' ? x.code : '';
    if (NET_CODES.has(code) || PG_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (SQLITE_PREFIXES.some((p) => code.startsWith(p))) return true;
    if (typeof x.message === 'string' && PG_MESSAGES.test(x.message)) return true;
    // AggregateError (a connect that tried several addresses) carries the real ones in `errors`.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((inner) => databaseUnavailable(inner))) return true;
    e = x.cause;
  }
  return false;
}
