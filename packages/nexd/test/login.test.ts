// SPDX-License-Identifier: Apache-2.0
// login() against the real identity service (the server package's app on loopback, in process) with a
// 4 s access-token lifetime: the token keeper refreshes before expiry, stores the new tokens, and API
// calls keep working after the first token expired; a wrong password is NEX_ERR_LOGIN.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildApp,
  type Database,
  IdentityService,
  identityView,
  migrateToLatest,
  openDatabase,
} from '@nexodus/server';
import type { FastifyInstance } from 'fastify';
import type { GlobalConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { login } from '../src/service/login.js';
import { FileStateStore } from '../src/state/file-store.js';
import { tempDir } from './helpers.js';

const PASSWORD = 'nexd-login-test-pw';
const TTL_S = 4;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('login against the identity service', () => {
  let app: FastifyInstance;
  let db: Awaited<ReturnType<typeof openDatabase<Database>>>;
  let url: string;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    dir = await tempDir();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    db = await openDatabase<Database>({ sqlitePath: ':memory:' });
    await migrateToLatest(db);
    const identity = await IdentityService.create({
      db: identityView(db),
      issuer: url,
      accessTokenTtlSeconds: TTL_S,
      // Fast hashing: this test is about tokens, not password storage.
      scrypt: { N: 1024, r: 1, p: 1 },
    });
    await identity.ensureAdmin(PASSWORD);
    app = await buildApp({ db, identity });
    await app.listen({ host: '127.0.0.1', port });
  });

  after(async () => {
    await app?.close();
    await db?.destroy();
    await dir?.remove();
  });

  const config = (stateDir: string, password = PASSWORD): GlobalConfig => ({
    serviceUrl: url,
    username: 'admin',
    password,
    stateDir,
    insecureSkipTlsVerify: false,
    logLevel: 'silent',
    drainSeconds: 1,
  });

  test('the access token is refreshed before it expires, stored, and keeps API calls working', async () => {
    const stateDir = join(dir.path, 'ok');
    const store = new FileStateStore(stateDir);
    const session = await login({ config: config(stateDir), store, logger: createLogger('silent') });
    try {
      assert.equal(session.method, 'password');
      const first = session.keeper!.accessToken!;
      const t0 = Date.now();
      while (session.keeper!.accessToken === first && Date.now() - t0 < TTL_S * 1000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const elapsed = Date.now() - t0;
      assert.notEqual(session.keeper!.accessToken, first, 'refreshed');
      assert.ok(elapsed < TTL_S * 1000, `refreshed before expiry (after ${elapsed} ms)`);
      assert.ok(elapsed >= (TTL_S * 1000) / 4 - 100, `not refreshed in a loop (after ${elapsed} ms)`);
      // The keeper persists what it took (the write follows the swap by a moment).
      const stored = async () =>
        (
          JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as {
            tokens: { accessToken: string };
          }
        ).tokens.accessToken;
      const t1 = Date.now();
      while ((await stored()) !== session.keeper!.accessToken && Date.now() - t1 < 2000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await stored(), session.keeper!.accessToken);
      // Past the first token's lifetime the client still authenticates (with the refreshed token).
      while (Date.now() - t0 < TTL_S * 1000 + 500) await new Promise((r) => setTimeout(r, 100));
      const me = await session.client.getMe();
      assert.equal(me.username, 'admin');
    } finally {
      await session.close();
    }
  });

  test('a wrong password is NEX_ERR_LOGIN naming the flags; nothing is stored', async () => {
    const stateDir = join(dir.path, 'bad');
    await assert.rejects(
      login({
        config: config(stateDir, 'wrong-password'),
        store: new FileStateStore(stateDir),
        logger: createLogger('silent'),
      }),
      (err: Error & { code?: string }) =>
        err.code === 'NEX_ERR_LOGIN' && /--username\/--password/.test(err.message),
    );
    await assert.rejects(readFile(join(stateDir, 'state.json')), { code: 'ENOENT' });
  });
});
