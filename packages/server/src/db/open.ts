// SPDX-License-Identifier: Apache-2.0
// Opens the service database: embedded SQLite (default) or PostgreSQL (several replicas).
// Both run the same Kysely migrations (src/db/migrate.ts); this file only makes the connection.
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { IdentityTables } from '../identity/index.js';
import type { Database } from './schema.js';

/** PostgreSQL type OID of int8/bigint. Revisions and counters fit in 2^53, so they are read as numbers. */
const PG_TYPE_INT8 = 20;
/** How long a SQLite writer waits for the lock before SQLITE_BUSY (another process, e.g. the CLI). */
const SQLITE_BUSY_TIMEOUT_MS = 5000;
/** Default PostgreSQL pool size per process. */
const PG_POOL_MAX = 10;

pg.types.setTypeParser(PG_TYPE_INT8, (v: string) => Number(v));

export type DatabaseKind = 'sqlite' | 'postgres';

export interface OpenDatabaseOptions {
  /** `postgres://user@host:port/db`; when set, PostgreSQL is used. */
  url?: string;
  /** SQLite file path (`:memory:` for a throw-away database). Ignored when `url` is set. */
  sqlitePath?: string;
  /** PostgreSQL pool size (default 10). */
  poolMax?: number;
}

const kinds = new WeakMap<object, { kind: DatabaseKind; url?: string; pool?: pg.Pool }>();

/**
 * Opens (does not migrate) the database. SQLite: WAL journal, foreign keys on, busy timeout,
 * synchronous=NORMAL (durable across process crashes, which is what `kill -9` tests).
 */
export async function openDatabase<DB = Database>(opts: OpenDatabaseOptions): Promise<Kysely<DB>> {
  if (opts.url) {
    if (!/^postgres(ql)?:\/\//.test(opts.url)) {
      throw new Error(`unsupported database URL ${JSON.stringify(opts.url)}: expected postgres://...`);
    }
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolMax ?? PG_POOL_MAX });
    // An idle client that loses its connection emits 'error' on the pool; without a listener node exits.
    pool.on('error', () => {});
    // Fail early with a clear message when the server is unreachable.
    const client = await pool.connect();
    client.release();
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    kinds.set(db, { kind: 'postgres', url: opts.url, pool });
    return db;
  }
  const sqlite = new SQLite(opts.sqlitePath ?? ':memory:');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
  kinds.set(db, { kind: 'sqlite' });
  return db;
}

/** Which engine a database opened by `openDatabase` runs on. */
export function databaseKind(db: object): DatabaseKind {
  return kinds.get(db)?.kind ?? 'sqlite';
}

/** The PostgreSQL connection pool's counts (for /metrics), if the database is PostgreSQL. */
export function databasePoolStats(db: object): { total: number; idle: number; waiting: number } | undefined {
  const pool = kinds.get(db)?.pool;
  return pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } : undefined;
}

/** The PostgreSQL URL a database was opened with (for LISTEN connections), if any. */
export function databaseUrl(db: object): string | undefined {
  return kinds.get(db)?.url;
}

/**
 * The same database seen through identity's table types. Kysely's types are invariant in the table map,
 * so a `Kysely<Database>` (a superset) needs this view to be passed to IdentityService.create.
 */
export function identityView(db: Kysely<Database>): Kysely<IdentityTables> {
  return db as unknown as Kysely<IdentityTables>;
}
