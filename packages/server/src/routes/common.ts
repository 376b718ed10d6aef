// SPDX-License-Identifier: Apache-2.0
// Schema fragments shared by the route plugins.
import { errorSchema } from '@nexodus/api';

/** Response schemas for a route: the success body plus the error body for every 4xx/5xx. */
export function responses<S>(status: number, schema: S): Record<string, unknown> {
  return { [status]: schema, '4xx': errorSchema, '5xx': errorSchema };
}

export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

export const arrayOf = <S>(items: S) => ({ type: 'array', items }) as const;

/** Sorts by text fields, code-unit order, identical on every engine (SQL ORDER BY depends on collation). */
export const byText =
  <T>(...fields: Array<(t: T) => string>) =>
  (a: T, b: T): number => {
    for (const f of fields) {
      const x = f(a);
      const y = f(b);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
