// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { databaseKind, openDatabase } from '../src/db/open.js';
import {
  POSTGRES_SKIP_REASON,
  postgresAvailable,
  startPostgres,
  type TestPostgres,
} from './helpers/postgres.js';

describe('openDatabase', () => {
  it('sqlite: foreign keys on, kind sqlite', async () => {
    const db = await openDatabase<Record<string, never>>({ sqlitePath: ':memory:' });
    try {
      const r = await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(db);
      assert.equal(r.rows[0]?.foreign_keys, 1);
      assert.equal(databaseKind(db), 'sqlite');
    } finally {
      await db.destroy();
    }
  });

  it('rejects a non-postgres URL with a clear error', async () => {
    await assert.rejects(openDatabase({ url: 'mysql://x' }), /expected postgres:\/\//);
  });

  describe('postgres', { skip: postgresAvailable() ? false : POSTGRES_SKIP_REASON }, () => {
    let pgs: TestPostgres;
    before(async () => {
      pgs = await startPostgres();
    });
    after(async () => {
      await pgs?.stop();
    });
    it('connects and reads int8 as number', async () => {
      const db = await openDatabase<Record<string, never>>({ url: await pgs.createDatabase() });
      try {
        const r = await sql<{ n: number }>`SELECT 9007199254740991::int8 AS n`.execute(db);
        assert.equal(r.rows[0]?.n, 9007199254740991);
        assert.equal(databaseKind(db), 'postgres');
      } finally {
        await db.destroy();
      }
    });
  });
});
