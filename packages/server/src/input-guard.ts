// SPDX-License-Identifier: Apache-2.0
// One check of every request's parsed input (JSON or form body, query string, path parameters) before any
// route sees it, so both database engines get the same answer:
// - NUL anywhere (PostgreSQL text cannot hold it and fails with 500; SQLite would store it) is a 400;
// - other control characters in name-like fields (hostnames, names, metadata keys) are a 400;
// - lone UTF-16 surrogates (`"\ud800"` is valid JSON) are a 400: no UTF-8 column can store them, so
//   they would read back as U+FFFD (found by test/write-properties.test.ts);
// - JSON nested deeper than MAX_JSON_DEPTH is a 400 (deep values overflow the stack in JSON.stringify and
//   in response serialization).
// The walk is iterative, so the check itself cannot overflow the stack.
import type { FastifyRequest } from 'fastify';
import { NexError } from './errors.js';

/** Deepest nesting of arrays/objects accepted in a body (metadata values included); nexd uses under 5. */
export const MAX_JSON_DEPTH = 32;

/** Field names (at any depth) and path parameters holding names: no control characters at all. */
const NAME_FIELDS = new Set([
  'hostname',
  'os',
  'name',
  'username',
  'group_name',
  'key',
  'prefix',
  'public_key',
]);

const CONTROL_RE = /[\u0000-\u001f\u007f]/;
/** A surrogate code unit that is not half of a pair (with the u flag, pairs match as one astral code point). */
const LONE_SURROGATE_RE = /\p{Cs}/u;

/** Where in the input a value was found, i.e. `body.endpoints[0].address` or `query.key`. */
function pathOf(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  // Body fields are named as the validation errors name them (`hostname`, not `body.hostname`).
  return base === 'body' ? key : `${base}.${key}`;
}

function checkString(s: string, where: string, nameLike: boolean): void {
  if (s.includes('\u0000')) {
    throw new NexError(
      'NEX_ERR_CONTROL_CHARACTER',
      `${where}: contains a NUL byte (\\u0000); text fields cannot hold it, remove it`,
      { field: where },
    );
  }
  if (LONE_SURROGATE_RE.test(s)) {
    throw new NexError(
      'NEX_ERR_CONTROL_CHARACTER',
      `${where}: contains a lone UTF-16 surrogate (not well-formed Unicode); send UTF-8 text`,
      { field: where },
    );
  }
  if (nameLike && CONTROL_RE.test(s)) {
    throw new NexError(
      'NEX_ERR_CONTROL_CHARACTER',
      `${where}: contains a control character; a name is printable text`,
      { field: where },
    );
  }
}

/** Throws NEX_ERR_CONTROL_CHARACTER or NEX_ERR_TOO_DEEP for the first offending value of `root`. */
export function checkInput(root: unknown, base: string): void {
  const stack: Array<{ v: unknown; where: string; depth: number; nameLike: boolean }> = [
    { v: root, where: base, depth: 0, nameLike: false },
  ];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { v, where, depth, nameLike } = item;
    if (typeof v === 'string') {
      checkString(v, where, nameLike);
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw new NexError(
        'NEX_ERR_TOO_DEEP',
        `${where}: nested deeper than ${MAX_JSON_DEPTH} levels; flatten the value`,
        { field: where },
      );
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        stack.push({ v: v[i], where: pathOf(where, i), depth: depth + 1, nameLike });
      }
      continue;
    }
    for (const [k, child] of Object.entries(v)) {
      // Object keys are names too (metadata keys, query parameter names).
      checkString(k, pathOf(where, k), true);
      // Name rules apply to a body's own fields and to every query/path parameter, not to names that
      // happen to appear inside a metadata value.
      const childIsName = NAME_FIELDS.has(k) && (depth === 0 || base !== 'body');
      stack.push({ v: child, where: pathOf(where, k), depth: depth + 1, nameLike: childIsName });
    }
  }
}

/** The preValidation hook: body, query string and path parameters. */
export async function inputGuard(req: FastifyRequest): Promise<void> {
  checkInput(req.params, 'params');
  checkInput(req.query, 'query');
  if (typeof req.body === 'string') checkString(req.body, 'body', false);
  else if (req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body))
    checkInput(req.body, 'body');
}
