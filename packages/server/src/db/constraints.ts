// SPDX-License-Identifier: Apache-2.0
// Recognises UNIQUE/PRIMARY KEY violations from either engine, so callers can turn them into 409s or retries.

/** PostgreSQL SQLSTATE unique_violation. */
const PG_UNIQUE_VIOLATION = '23505';

export interface UniqueViolation {
  /** what the engine names: a constraint name (PostgreSQL) or "table.column, ..." (SQLite) */
  target: string;
}

export function uniqueViolation(err: unknown): UniqueViolation | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; constraint?: unknown; message?: unknown; detail?: unknown };
  if (e.code === PG_UNIQUE_VIOLATION) {
    return { target: `${String(e.constraint ?? '')} ${String(e.detail ?? '')}` };
  }
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return { target: String(e.message ?? '') };
  }
  return undefined;
}
