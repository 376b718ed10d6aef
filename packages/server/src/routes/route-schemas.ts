// SPDX-License-Identifier: Apache-2.0
// JSON Schema fragments the route plugins share (params, list and response wrappers).
import { errorSchema } from '@nexodus/api';

/**
 * The error body for serialization: the same fields without `required`, because fast-json-stringify writes
 * required fields first and the original's conflict body is `{"id", "error"}` in that order.
 */
const { required: _required, ...errorBodySchema } = errorSchema;

/** Response schemas for a route: the success body plus the error body for every 4xx/5xx. */
export function responses<S>(status: number, schema: S): Record<string, unknown> {
  return { [status]: schema, '4xx': errorBodySchema, '5xx': errorBodySchema };
}

export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

export const arrayOf = <S>(items: S) => ({ type: 'array', items }) as const;

/**
 * The schema for serialization in its property order: fast-json-stringify writes `required` properties
 * first, so objects whose optional fields sit between required ones (the original's struct order) drop it.
 */
export function inOrder<S extends { required?: readonly string[] }>(schema: S): Omit<S, 'required'> {
  const { required: _r, ...rest } = schema;
  return rest;
}
