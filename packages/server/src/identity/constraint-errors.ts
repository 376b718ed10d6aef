// SPDX-License-Identifier: Apache-2.0
// Recognises constraint violations from either engine (better-sqlite3 codes, PostgreSQL SQLSTATEs), so the
// identity stores can turn them into "already exists" / "still in use" answers. Kept inside identity, which
// imports nothing from the rest of the server.

/** PostgreSQL SQLSTATE 23505 unique_violation (Appendix A, "Class 23 — Integrity Constraint Violation"). */
const PG_UNIQUE_VIOLATION = '23505';
/** PostgreSQL SQLSTATE 23503 foreign_key_violation. */
const PG_FOREIGN_KEY_VIOLATION = '23503';

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** A UNIQUE or PRIMARY KEY constraint rejected the write. */
export function isUniqueViolation(err: unknown): boolean {
  const code = codeOf(err);
  return (
    code === PG_UNIQUE_VIOLATION ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** A row in another table still references the one being deleted. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = codeOf(err);
  return code === PG_FOREIGN_KEY_VIOLATION || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
