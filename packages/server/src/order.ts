// SPDX-License-Identifier: Apache-2.0
// List order: lists come back sorted as the original service sorts them (devices by hostname, metadata by key,
// organizations by name), in code-unit order so SQLite and PostgreSQL (whose collation varies) agree.

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
