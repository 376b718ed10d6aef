// SPDX-License-Identifier: Apache-2.0
// Turns any failure into a sentence for people. Accepts both error body shapes the service has spoken:
// ours (`{"error": message, "code": "NEX_ERR_*", "field"}`), the original Nexodus's
// (`{"error": "not found", "resource": "device"}`, `{"error": "...", "field": "..."}`) and RFC 6749's
// (`{"error", "error_description"}`).
import { ApiError } from '@nexodus/api/errors';

/** What the page shows: a sentence, and the request field it belongs to when the server named one. */
export interface ShownError {
  message: string;
  field?: string;
}

const CODE_WORDS: Record<string, string> = {
  NEX_CLIENT_ERR_NETWORK: 'The service cannot be reached; check your connection and try again.',
  NEX_ERR_RATE_LIMITED: 'Too many requests; wait a moment and try again.',
  NEX_ERR_INTERNAL: 'Something went wrong on the server; try again, and see the server log if it persists.',
};

function sentence(s: string): string {
  const t = s.trim();
  if (t === '') return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Reads a response body of any known shape. */
export function errorFromBody(status: number, text: string): ApiError & { resource?: string } {
  const base = ApiError.fromResponse(status, text) as ApiError & { resource?: string };
  try {
    const b = JSON.parse(text) as { resource?: unknown };
    if (typeof b.resource === 'string') base.resource = b.resource;
  } catch {
    // not JSON: fromResponse kept the text
  }
  return base;
}

export function describeError(err: unknown): ShownError {
  if (err instanceof ApiError) {
    const known = CODE_WORDS[err.code];
    if (known) return { message: known };
    const resource = (err as { resource?: string }).resource;
    if (err.status === 404 && resource) {
      return {
        message: `That ${resource.replace(/[-_]/g, ' ')} does not exist (any more), or is not yours.`,
      };
    }
    if (err.status === 401) return { message: 'Your session has ended; sign in again.' };
    if (err.status === 403 && !err.message) return { message: 'You are not allowed to do that.' };
    const raw = err.message.startsWith('{') ? `the service answered ${err.status}` : err.message;
    const msg = sentence(raw) || `The service answered ${err.status}.`;
    return err.field ? { message: msg, field: err.field } : { message: msg };
  }
  if (err instanceof Error) return { message: sentence(err.message) };
  return { message: 'Something went wrong.' };
}
