// SPDX-License-Identifier: Apache-2.0
// Builds a migrated app on SQLite or on a PostgreSQL database of a shared test server.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Kysely } from 'kysely';
import { type BuildAppOptions, buildApp } from '../../src/app.js';
import { TEST_USER_HEADER } from '../../src/auth.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/schema.js';
import { postgresAvailable, startPostgres, type TestPostgres } from './postgres.js';

export type Engine = 'sqlite' | 'postgres';
export const ENGINES: Engine[] = ['sqlite', 'postgres'];

export interface TestApp {
  app: FastifyInstance;
  db: Kysely<Database>;
  close(): Promise<void>;
}

/** One PostgreSQL server per test file process, started on first use. */
let pgServer: Promise<TestPostgres> | undefined;
export function sharedPostgres(): Promise<TestPostgres> {
  pgServer ??= startPostgres();
  return pgServer;
}
export async function stopSharedPostgres(): Promise<void> {
  if (!pgServer) return;
  const s = await pgServer.catch(() => undefined);
  pgServer = undefined;
  await s?.stop();
}

export function engineSkip(engine: Engine): string | false {
  return engine === 'postgres' && !postgresAvailable() ? 'needs /usr/lib/postgresql/15/bin' : false;
}

export async function openTestDb(
  engine: Engine,
  opts: { sqlitePath?: string; url?: string } = {},
): Promise<Kysely<Database>> {
  const db =
    engine === 'sqlite'
      ? await openDatabase({ sqlitePath: opts.sqlitePath ?? ':memory:' })
      : await openDatabase({ url: opts.url ?? (await (await sharedPostgres()).createDatabase()) });
  await migrateToLatest(db);
  return db;
}

export async function createTestApp(
  engine: Engine,
  extra: Partial<BuildAppOptions> = {},
  db?: Kysely<Database>,
): Promise<TestApp> {
  const database = db ?? (await openTestDb(engine));
  const app = await buildApp({ db: database, testUsers: true, bookmarkMs: 60_000, ...extra });
  await app.ready();
  return {
    app,
    db: database,
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}

export interface TestUser {
  id: string;
  name: string;
  headers: Record<string, string>;
}

export function newUser(name = `u${Math.random().toString(36).slice(2, 8)}`): TestUser {
  const id = randomUUID();
  return { id, name, headers: { [TEST_USER_HEADER]: `${id}:${name}` } };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A fresh random WireGuard-shaped public key (32 random bytes, base64). */
export function wgKey(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return Buffer.from(b).toString('base64');
}

/** inject + JSON parse; `json` is undefined for empty bodies. */
export async function call(
  app: FastifyInstance,
  opts: InjectOptions,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }> {
  const r = await app.inject(opts);
  let json: unknown;
  try {
    json = r.body ? JSON.parse(r.body) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, body: r.body, headers: r.headers };
}
