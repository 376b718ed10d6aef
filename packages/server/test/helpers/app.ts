// SPDX-License-Identifier: Apache-2.0
// Builds a migrated app on SQLite or on a PostgreSQL database of a shared test server.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Kysely } from 'kysely';
import { type BuildAppOptions, buildApp } from '../../src/app.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { identityView, openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/schema.js';
import { IdentityService } from '../../src/identity/index.js';
import { POSTGRES_SKIP_REASON, postgresAvailable, startPostgres, type TestPostgres } from './postgres.js';

export type Engine = 'sqlite' | 'postgres';
export const ENGINES: Engine[] = ['sqlite', 'postgres'];

export interface TestApp {
  app: FastifyInstance;
  db: Kysely<Database>;
  identity: IdentityService;
  close(): Promise<void>;
}

/** Cheap scrypt for tests only (production uses identity's default N=2^15). */
const TEST_SCRYPT = { N: 2 ** 10, r: 8, p: 1 };
export const TEST_ISSUER = 'https://nexodus.test';

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
  return engine === 'postgres' && !postgresAvailable() ? POSTGRES_SKIP_REASON : false;
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
  const identity = await IdentityService.create({
    db: identityView(database),
    issuer: TEST_ISSUER,
    scrypt: TEST_SCRYPT,
  });
  const app = await buildApp({ db: database, identity, bookmarkMs: 60_000, ...extra });
  await app.ready();
  return {
    app,
    db: database,
    identity,
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}

export interface TestUser {
  id: string;
  name: string;
  token: string;
  headers: Record<string, string>;
}

let userCounter = 0;

/** Creates a user through identity and logs in with the OAuth2 password grant (a real access token). */
export async function newUser(t: TestApp, name = `user${process.pid}x${++userCounter}`): Promise<TestUser> {
  const password = `pw-${randomUUID()}`;
  const { id } = await t.identity.createUser(name, password);
  const r = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    payload: { grant_type: 'password', username: name, password, client_id: 'nexodus-cli' },
  });
  if (r.statusCode !== 200) throw new Error(`login failed: ${r.statusCode} ${r.body}`);
  const token = (JSON.parse(r.body) as { access_token: string }).access_token;
  return { id, name, token, headers: bearer(token) };
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

/** `call` with a user's bearer token (none when undefined) and a JSON body when `payload` is given. */
export function callAs(
  app: FastifyInstance,
  method: string,
  user: { headers: Record<string, string> } | undefined,
  url: string,
  payload?: unknown,
) {
  return call(app, {
    method: method as 'GET',
    url,
    headers: {
      ...(user ? user.headers : {}),
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}
