// SPDX-License-Identifier: Apache-2.0
// The identity provider end to end through Fastify inject(): one suite, run against SQLite and against a
// real PostgreSQL. Time is a test clock moved by hand; nothing sleeps.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  jwtVerify,
  SignJWT,
} from 'jose';
import { type Kysely, Migrator, sql } from 'kysely';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { identityView, openDatabase } from '../src/db/open.js';
import {
  IDENTITY_CHANNELS,
  IdentityError,
  IdentityService,
  type IdentityServiceOptions,
  type IdentityTables,
  identityMigrations,
  identityRoutes,
  type LoginEvent,
  type RefreshReuseEvent,
} from '../src/identity/index.js';
import { type LoginThrottle, MemoryLoginThrottle } from '../src/identity/rate-limit.js';
import { DatabaseLoginThrottle } from '../src/identity/rate-limit-db.js';
import { postgresAvailable, startPostgres, type TestPostgres } from './helpers/postgres.js';

const ISSUER = 'https://nexodus.test:8443';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Cheap scrypt for the suite (hash format and the default cost are covered in identity-units.test.ts). */
const TEST_SCRYPT = { N: 2 ** 12, r: 8, p: 1 };
const PASSWORD = 'correct horse battery';

/** A clock the tests move by hand. */
class TestClock {
  ms = Date.parse('2026-03-01T12:00:00.000Z');
  readonly now = (): Date => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

interface Backend {
  name: string;
  /** Starts the database server, if any (called in the suite's before hook). */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /**
   * A fresh empty namespace for identity's tables (SQLite: a file; PostgreSQL: a schema, 20x cheaper than
   * CREATE DATABASE); the same location opened twice gives two handles on one database.
   */
  freshLocation(): Promise<string>;
  /** A whole fresh database, for the core migrations which expect the default schema. */
  freshDatabase(): Promise<string>;
  open(location: string): Promise<Kysely<IdentityTables>>;
}

/** The PostgreSQL schema a location URL selects through `options=-c search_path=...`, if any. */
function schemaOf(location: string): string | undefined {
  return /search_path%3D(\w+)/.exec(location)?.[1];
}

async function migrate(db: Kysely<IdentityTables>, location: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => identityMigrations },
    migrationTableSchema: schemaOf(location),
  });
  const r = await migrator.migrateToLatest();
  if (r.error) throw r.error;
}

interface Fixture {
  db: Kysely<IdentityTables>;
  clock: TestClock;
  identity: IdentityService;
  app: FastifyInstance;
  location: string;
}

function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

function suite(backend: Backend, skip: string | false): void {
  describe(`identity on ${backend.name}`, { skip }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    before(async () => {
      await backend.start?.();
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c();
      await backend.stop?.();
    });

    async function service(
      db: Kysely<IdentityTables>,
      clock: TestClock,
      extra: Partial<IdentityServiceOptions> = {},
    ): Promise<IdentityService> {
      return IdentityService.create({ db, issuer: ISSUER, now: clock.now, scrypt: TEST_SCRYPT, ...extra });
    }

    async function fixture(extra: Partial<IdentityServiceOptions> = {}): Promise<Fixture> {
      const location = await backend.freshLocation();
      const db = await backend.open(location);
      cleanups.push(() => db.destroy());
      await migrate(db, location);
      const clock = new TestClock();
      const identity = await service(db, clock, extra);
      const app = Fastify();
      await app.register(identityRoutes, { identity });
      await app.ready();
      cleanups.push(() => app.close());
      return { db, clock, identity, app, location };
    }

    function login(
      f: Fixture,
      username: string,
      password: string,
      extra: Record<string, string> = {},
      ip = '10.1.1.1',
    ) {
      return f.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        remoteAddress: ip,
        ...form({ grant_type: 'password', client_id: 'nexodus-cli', username, password, ...extra }),
      });
    }

    function tokenRequest(f: Fixture, fields: Record<string, string>) {
      return f.app.inject({ method: 'POST', url: '/oauth2/token', ...form(fields) });
    }

    async function accessToken(f: Fixture, username: string, password = PASSWORD): Promise<string> {
      const res = await login(f, username, password);
      assert.equal(res.statusCode, 200, res.body);
      return res.json().access_token;
    }

    describe('discovery', () => {
      it('serves the OpenID configuration with every endpoint under the issuer', async () => {
        const f = await fixture();
        const res = await f.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
        assert.equal(res.statusCode, 200);
        const doc = res.json();
        assert.equal(doc.issuer, ISSUER);
        assert.equal(doc.token_endpoint, `${ISSUER}/oauth2/token`);
        assert.equal(doc.device_authorization_endpoint, `${ISSUER}/oauth2/device_authorization`);
        assert.equal(doc.jwks_uri, `${ISSUER}/.well-known/jwks.json`);
        assert.deepEqual(doc.grant_types_supported, [
          'password',
          'refresh_token',
          DEVICE_GRANT,
          'authorization_code',
        ]);
        assert.equal(doc.authorization_endpoint, `${ISSUER}/oauth2/authorize`);
        assert.deepEqual(doc.id_token_signing_alg_values_supported, ['ES256']);
        assert.ok(doc.scopes_supported.includes('openid'));
      });

      it('JWKS has one public P-256 key and never the private part', async () => {
        const f = await fixture();
        const res = await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        assert.equal(res.statusCode, 200);
        const { keys } = res.json();
        assert.equal(keys.length, 1);
        assert.equal(keys[0].kty, 'EC');
        assert.equal(keys[0].crv, 'P-256');
        assert.equal(keys[0].alg, 'ES256');
        assert.equal(keys[0].use, 'sig');
        assert.equal(typeof keys[0].kid, 'string');
        assert.equal(keys[0].d, undefined);
      });

      it('DeviceStart answers GET and POST (also with an empty JSON body) with issuer and server time', async () => {
        const f = await fixture();
        for (const req of [
          { method: 'GET' as const },
          { method: 'POST' as const, headers: { 'content-type': 'application/json' }, payload: '' },
          { method: 'POST' as const },
        ]) {
          const res = await f.app.inject({ url: '/device/login/start', ...req });
          assert.equal(res.statusCode, 200, res.body);
          assert.deepEqual(res.json(), {
            issuer: ISSUER,
            client_id: 'nexodus-cli',
            device_authorization_endpoint: `${ISSUER}/oauth2/device_authorization`,
            server_time: f.clock.now().toISOString(),
          });
        }
      });

      it('rejects bad configuration: issuer, lifetimes, scrypt cost', async () => {
        const f = await fixture();
        const bad: Array<Partial<IdentityServiceOptions>> = [
          { issuer: 'ftp://x' },
          { issuer: 'not a url' },
          { issuer: 'https://x/?q=1' },
          { accessTokenTtlSeconds: 0 },
          { deviceCodeTtlSeconds: 1.5 },
          { scrypt: { N: 1000, r: 8, p: 1 } },
        ];
        for (const extra of bad) {
          await assert.rejects(
            IdentityService.create({ db: f.db, issuer: ISSUER, ...extra }),
            (e: unknown) => e instanceof IdentityError && e.code === 'IDENTITY_ERR_BAD_CONFIG',
            JSON.stringify(extra),
          );
        }
        const trailing = await IdentityService.create({ db: f.db, issuer: `${ISSUER}/` });
        assert.equal(trailing.issuer, ISSUER, 'a trailing slash is dropped so iss matches exactly');
      });
    });

    describe('password grant', () => {
      it('issues a JWT that verifies against the served JWKS and carries the claims', async () => {
        const f = await fixture();
        const alice = await f.identity.createUser('alice', PASSWORD);
        const res = await login(f, 'alice', PASSWORD);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['cache-control'], 'no-store');
        const body = res.json();
        assert.equal(body.token_type, 'Bearer');
        assert.equal(body.expires_in, 900);
        assert.match(body.refresh_token, /^nxrt_[A-Za-z0-9_-]{43}$/);
        assert.equal(body.id_token, undefined, 'no id_token without the openid scope');

        const jwks = (
          await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
        ).json() as JSONWebKeySet;
        const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), {
          issuer: ISSUER,
          audience: 'nexodus',
          currentDate: f.clock.now(),
        });
        assert.equal(protectedHeader.alg, 'ES256');
        assert.equal(protectedHeader.typ, 'at+jwt');
        assert.equal(payload.sub, alice.id);
        assert.equal(payload.preferred_username, 'alice');
        assert.equal(payload.iat, Math.floor(f.clock.ms / 1000));
        assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900);
        assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);

        assert.deepEqual(await f.identity.verifyAccessToken(body.access_token), {
          kind: 'user',
          userId: alice.id,
          username: 'alice',
          admin: false,
        });
      });

      it('accepts JSON bodies, case-insensitive usernames, and adds an id_token for scope openid', async () => {
        const f = await fixture();
        await f.identity.createUser('Carol', PASSWORD);
        const res = await f.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          payload: {
            grant_type: 'password',
            username: 'CAROL',
            password: PASSWORD,
            scope: 'openid bogus profile',
          },
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        assert.equal(body.scope, 'openid profile', 'unknown scopes are dropped from the grant');
        const id = decodeJwt(body.id_token);
        assert.equal(id.aud, 'nexodus-cli');
        assert.equal(id.preferred_username, 'carol');
        assert.equal(
          await f.identity.verifyAccessToken(body.id_token),
          undefined,
          'an id_token is not an access token',
        );
      });

      it('wrong password and unknown user get the same invalid_grant answer', async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const wrong = await login(f, 'alice', 'not the password');
        const unknown = await login(f, 'mallory', 'not the password');
        assert.equal(wrong.statusCode, 400);
        assert.deepEqual(wrong.json(), {
          error: 'invalid_grant',
          error_description: 'the username or password is wrong',
        });
        assert.equal(unknown.statusCode, wrong.statusCode);
        assert.equal(unknown.body, wrong.body);
      });

      it('accepts the client_id as HTTP Basic (public client, empty secret) and refuses secrets', async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const basic = (v: string) => ({ authorization: `Basic ${Buffer.from(v).toString('base64')}` });
        const body = new URLSearchParams({
          grant_type: 'password',
          username: 'alice',
          password: PASSWORD,
        }).toString();
        const send = (headers: Record<string, string>, payload = body) =>
          f.app.inject({
            method: 'POST',
            url: '/oauth2/token',
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
            payload,
          });
        assert.equal((await send(basic('nexodus-cli:'))).statusCode, 200);
        const secret = await send(basic('nexodus-cli:s3cret'));
        assert.equal(secret.statusCode, 401);
        assert.equal(secret.json().error, 'invalid_client');
        assert.match(String(secret.headers['www-authenticate']), /^Basic/);
        const mismatch = await send(basic('nexodus-cli:'), `${body}&client_id=other`);
        assert.equal(mismatch.statusCode, 400);
        assert.equal(mismatch.json().error, 'invalid_request');
        assert.equal((await send({ authorization: 'Bearer xyz' })).json().error, 'invalid_client');
      });

      it('malformed requests get RFC 6749 errors, never a crash', async () => {
        const f = await fixture();
        const cases: Array<[InjectOptions, number, string]> = [
          [
            { method: 'POST', url: '/oauth2/token', ...form({ grant_type: 'password', username: 'a' }) },
            400,
            'invalid_request',
          ],
          [{ method: 'POST', url: '/oauth2/token', ...form({ username: 'a' }) }, 400, 'invalid_request'],
          [
            { method: 'POST', url: '/oauth2/token', ...form({ grant_type: 'implicit' }) },
            400,
            'unsupported_grant_type',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              ...form({ grant_type: 'password', client_id: 'evil', username: 'a', password: 'b' }),
            },
            401,
            'invalid_client',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              headers: { 'content-type': 'application/json' },
              payload: '{"grant_type":',
            },
            400,
            'invalid_request',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              payload: { grant_type: 'password', username: ['x'], password: {} },
            },
            400,
            'invalid_request',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              headers: { 'content-type': 'application/xml' },
              payload: '<x/>',
            },
            415,
            'invalid_request',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              ...form({ grant_type: 'password', username: 'a', password: 'x'.repeat(20_000) }),
            },
            413,
            'invalid_request',
          ],
          [
            { method: 'POST', url: '/oauth2/token', ...form({ grant_type: DEVICE_GRANT, device_code: 'x' }) },
            400,
            'invalid_request',
          ],
        ];
        for (const [req, status, error] of cases) {
          const res = await f.app.inject(req);
          assert.equal(res.statusCode, status, `${JSON.stringify(req)} -> ${res.body}`);
          assert.equal(res.json().error, error);
          assert.equal(typeof res.json().error_description, 'string');
        }
      });
    });

    describe('access tokens', () => {
      it('expire after the TTL (moved clock), also on the admin API', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        const token = await accessToken(f, 'admin');
        f.clock.advance(899);
        assert.equal((await f.identity.verifyAccessToken(token))?.username, 'admin');
        f.clock.advance(7); // past exp plus the 5 s skew tolerance
        assert.equal(await f.identity.verifyAccessToken(token), undefined);
        const res = await f.app.inject({
          method: 'GET',
          url: '/api/admin/users',
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.statusCode, 401);
      });

      it('rejects tampered tokens, foreign keys and garbage without throwing', async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const token = await accessToken(f, 'alice');
        const [h, p, s] = token.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`;
        const other = await fixture(); // another database = another signing key
        await other.identity.createUser('alice', PASSWORD);
        const foreign = await accessToken(other, 'alice');
        // alg=none and an HMAC token naming our kid: the algorithm allow-list refuses both.
        const kid = decodeProtectedHeader(token).kid;
        const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url')}.${p}.`;
        const hmac = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
          .sign(new TextEncoder().encode('a-secret-anyone-could-pick-32-bytes!'));
        for (const bad of [
          forged,
          foreign,
          none,
          hmac,
          '',
          'abc',
          'a.b.c',
          `${token}x`,
          'x'.repeat(100_000),
        ]) {
          assert.equal(await f.identity.verifyAccessToken(bad), undefined, bad.slice(0, 40));
        }
      });

      it("a deleted user's token stops working at once", async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const token = await accessToken(f, 'alice');
        assert.equal(await f.identity.deleteUser('alice'), true);
        assert.equal(await f.identity.verifyAccessToken(token), undefined);
      });
    });

    describe('refresh tokens', () => {
      it('rotate on use; reusing a rotated token revokes the whole family but not other logins', async () => {
        const f = await fixture();
        const alice = await f.identity.createUser('alice', PASSWORD);
        const first = (await login(f, 'alice', PASSWORD)).json();
        const otherLogin = (await login(f, 'alice', PASSWORD)).json();

        f.clock.advance(60);
        const r1 = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
          client_id: 'nexodus-cli',
        });
        assert.equal(r1.statusCode, 200, r1.body);
        const second = r1.json();
        assert.notEqual(second.refresh_token, first.refresh_token);
        assert.equal((await f.identity.verifyAccessToken(second.access_token))?.userId, alice.id);
        assert.equal(decodeJwt(second.access_token).iat, Math.floor(f.clock.ms / 1000));

        // The old token again: reuse -> invalid_grant, and the token rotated from it dies too.
        const reuse = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
        });
        assert.equal(reuse.statusCode, 400);
        assert.equal(reuse.json().error, 'invalid_grant');
        assert.match(reuse.json().error_description, /already used/);
        const child = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: second.refresh_token,
        });
        assert.equal(child.statusCode, 400);
        assert.match(child.json().error_description, /revoked/);

        const unrelated = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: otherLogin.refresh_token,
        });
        assert.equal(unrelated.statusCode, 200, 'a separate login keeps working');
      });

      it('expire after their lifetime, and unknown tokens are invalid_grant', async () => {
        const f = await fixture({ refreshTokenTtlSeconds: 3600 });
        await f.identity.createUser('alice', PASSWORD);
        const t = (await login(f, 'alice', PASSWORD)).json();
        const unknown = await tokenRequest(f, { grant_type: 'refresh_token', refresh_token: 'nxrt_nope' });
        assert.equal(unknown.json().error, 'invalid_grant');
        f.clock.advance(3601);
        const res = await tokenRequest(f, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
        assert.equal(res.statusCode, 400);
        assert.match(res.json().error_description, /expired/);
      });

      it('two concurrent uses of one token: at most one succeeds', async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const t = (await login(f, 'alice', PASSWORD)).json();
        const results = await Promise.all(
          [1, 2].map(() => tokenRequest(f, { grant_type: 'refresh_token', refresh_token: t.refresh_token })),
        );
        assert.equal(
          results.filter((r) => r.statusCode === 200).length,
          1,
          results.map((r) => r.body).join('\n'),
        );
      });
    });

    describe('device authorization grant', () => {
      async function startDevice(f: Fixture) {
        const res = await f.app.inject({
          method: 'POST',
          url: '/oauth2/device_authorization',
          ...form({ client_id: 'nexodus-cli', scope: 'openid' }),
        });
        assert.equal(res.statusCode, 200, res.body);
        return res.json() as {
          device_code: string;
          user_code: string;
          verification_uri: string;
          verification_uri_complete: string;
          expires_in: number;
          interval: number;
        };
      }
      const poll = (f: Fixture, deviceCode: string) =>
        tokenRequest(f, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: 'nexodus-cli' });
      const submit = (f: Fixture, fields: Record<string, string>, ip = '10.2.2.2') =>
        f.app.inject({ method: 'POST', url: '/device', remoteAddress: ip, ...form(fields) });

      it('end to end: authorize, pending, slow_down, approve on the page, tokens once', async () => {
        const f = await fixture();
        const bob = await f.identity.createUser('bob', PASSWORD);
        const auth = await startDevice(f);
        assert.match(auth.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
        assert.equal(auth.verification_uri, `${ISSUER}/device`);
        assert.equal(auth.verification_uri_complete, `${ISSUER}/device?user_code=${auth.user_code}`);
        assert.equal(auth.expires_in, 600);
        assert.equal(auth.interval, 5);

        let res = await poll(f, auth.device_code);
        assert.equal(res.json().error, 'authorization_pending');
        res = await poll(f, auth.device_code); // at once: too fast
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().error, 'slow_down');
        f.clock.advance(6); // the interval is now 10 s: 6 s is still too fast
        assert.equal((await poll(f, auth.device_code)).json().error, 'slow_down');
        f.clock.advance(15);
        assert.equal((await poll(f, auth.device_code)).json().error, 'authorization_pending');

        const page = await f.app.inject({ method: 'GET', url: `/device?user_code=${auth.user_code}` });
        assert.equal(page.statusCode, 200);
        assert.match(String(page.headers['content-type']), /^text\/html/);
        assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
        assert.ok(page.body.includes(`value="${auth.user_code}"`), 'the code is pre-filled');

        const wrong = await submit(f, {
          user_code: auth.user_code,
          username: 'bob',
          password: 'wrong password',
          action: 'approve',
        });
        assert.equal(wrong.statusCode, 401);
        assert.match(wrong.body, /username or password is wrong/);

        const typedLoosely = auth.user_code.toLowerCase().replace('-', ' ');
        const ok = await submit(f, {
          user_code: typedLoosely,
          username: 'bob',
          password: PASSWORD,
          action: 'approve',
        });
        assert.equal(ok.statusCode, 200, ok.body);
        assert.match(ok.body, /Device approved/);

        f.clock.advance(20);
        res = await poll(f, auth.device_code);
        assert.equal(res.statusCode, 200, res.body);
        const tokens = res.json();
        assert.equal((await f.identity.verifyAccessToken(tokens.access_token))?.userId, bob.id);
        assert.equal(decodeJwt(tokens.id_token).sub, bob.id);

        f.clock.advance(20);
        res = await poll(f, auth.device_code);
        assert.equal(res.json().error, 'invalid_grant', 'a device code yields tokens only once');

        const again = await submit(f, {
          user_code: auth.user_code,
          username: 'bob',
          password: PASSWORD,
          action: 'approve',
        });
        assert.equal(again.statusCode, 409);
      });

      it('denied on the page -> access_denied', async () => {
        const f = await fixture();
        await f.identity.createUser('bob', PASSWORD);
        const auth = await startDevice(f);
        const res = await submit(f, {
          user_code: auth.user_code,
          username: 'bob',
          password: PASSWORD,
          action: 'deny',
        });
        assert.equal(res.statusCode, 200);
        assert.match(res.body, /Request denied/);
        const p = await poll(f, auth.device_code);
        assert.equal(p.statusCode, 400);
        assert.equal(p.json().error, 'access_denied');
      });

      it('expired code -> expired_token, and the page refuses it', async () => {
        const f = await fixture();
        await f.identity.createUser('bob', PASSWORD);
        const auth = await startDevice(f);
        f.clock.advance(601);
        assert.equal((await poll(f, auth.device_code)).json().error, 'expired_token');
        const res = await submit(f, {
          user_code: auth.user_code,
          username: 'bob',
          password: PASSWORD,
          action: 'approve',
        });
        assert.equal(res.statusCode, 400);
        assert.match(res.body, /expired/);
      });

      it('bad codes and bad requests are refused clearly', async () => {
        const f = await fixture();
        await f.identity.createUser('bob', PASSWORD);
        assert.equal((await poll(f, 'nxdc_unknown')).json().error, 'invalid_grant');
        const noClient = await f.app.inject({
          method: 'POST',
          url: '/oauth2/device_authorization',
          ...form({}),
        });
        assert.equal(noClient.statusCode, 400);
        assert.equal(noClient.json().error, 'invalid_request');
        const badClient = await f.app.inject({
          method: 'POST',
          url: '/oauth2/device_authorization',
          ...form({ client_id: 'x' }),
        });
        assert.equal(badClient.statusCode, 401);
        assert.equal(badClient.json().error, 'invalid_client');
        const malformed = await submit(f, {
          user_code: 'AEIO-U123',
          username: 'bob',
          password: PASSWORD,
          action: 'approve',
        });
        assert.equal(malformed.statusCode, 400);
        assert.match(malformed.body, /not a valid code/);
        const unknown = await submit(f, {
          user_code: 'BCDF-GHJK',
          username: 'bob',
          password: PASSWORD,
          action: 'approve',
        });
        assert.equal(unknown.statusCode, 400);
        assert.match(unknown.body, /No login request has that code/);
        const incomplete = await submit(f, { user_code: 'BCDF-GHJK' });
        assert.equal(incomplete.statusCode, 400);
        assert.match(incomplete.body, /incomplete or malformed/);
      });

      it('the page escapes everything it echoes', async () => {
        const f = await fixture();
        const evil = '"><script>alert(1)</script>';
        const get = await f.app.inject({
          method: 'GET',
          url: `/device?user_code=${encodeURIComponent(evil)}`,
        });
        assert.equal(get.statusCode, 200);
        assert.ok(!get.body.includes('<script>'), get.body);
        assert.ok(get.body.includes('&quot;&gt;&lt;script&gt;'));
        const post = await submit(f, {
          user_code: evil,
          username: evil,
          password: 'whatever1',
          action: 'approve',
        });
        assert.equal(post.statusCode, 401);
        assert.ok(!post.body.includes('<script>'));
      });
    });

    describe('login throttle conformance (memory and database stores)', () => {
      const stores: Array<[string, (db: Kysely<IdentityTables>) => LoginThrottle]> = [
        [
          'memory',
          () => new MemoryLoginThrottle({ perAccountSource: 2, perAddress: 30, windowSeconds: 100 }),
        ],
        [
          'database',
          (db) => new DatabaseLoginThrottle(db, { perAccountSource: 2, perAddress: 30, windowSeconds: 100 }),
        ],
      ];
      for (const [name, make] of stores) {
        it(`${name}: backoff per account and source, windows per address, the longer wait wins, success forgives`, async () => {
          const f = await fixture();
          const t = make(f.db);
          await t.recordFailure('alice', '1.1.1.1', 0);
          for (let i = 0; i < 28; i++) await t.recordFailure(`user${i}`, '1.1.1.1', 10_000);
          assert.deepEqual(await t.check('carol', '1.1.1.1', 10_000), { allowed: true });
          await t.recordFailure('carol', '1.1.1.1', 20_000); // address at 30: window 0..100 s
          assert.deepEqual(await t.check('dave', '1.1.1.1', 30_000), {
            allowed: false,
            retryAfterSeconds: 70,
          });
          assert.deepEqual(await t.check('dave', '2.2.2.2', 30_000), { allowed: true });
          // dave from 2.2.2.2: two free failures, then 1 s, 2 s, 4 s ... after the last failure.
          await t.recordFailure('dave', '2.2.2.2', 50_000);
          assert.deepEqual(await t.check('dave', '2.2.2.2', 50_000), { allowed: true }, 'one is free');
          await t.recordFailure('dave', '2.2.2.2', 50_000);
          assert.deepEqual(await t.check('dave', '2.2.2.2', 50_500), {
            allowed: false,
            retryAfterSeconds: 1,
          });
          assert.deepEqual(await t.check('dave', '2.2.2.2', 51_000), { allowed: true });
          await t.recordFailure('dave', '2.2.2.2', 51_000);
          assert.deepEqual(await t.check('dave', '2.2.2.2', 51_000), {
            allowed: false,
            retryAfterSeconds: 2,
          });
          await t.recordFailure('dave', '2.2.2.2', 53_000);
          assert.deepEqual(await t.check('dave', '2.2.2.2', 53_000), {
            allowed: false,
            retryAfterSeconds: 4,
          });
          assert.deepEqual(
            await t.check('dave', '4.4.4.4', 53_000),
            { allowed: true },
            'the owner from another address is not locked out',
          );
          for (let i = 0; i < 20; i++) await t.recordFailure('dave', '2.2.2.2', 60_000);
          assert.deepEqual(
            await t.check('dave', '2.2.2.2', 60_000),
            { allowed: false, retryAfterSeconds: 50 },
            'the backoff is capped at half the window',
          );
          assert.deepEqual(
            await t.check('dave', '2.2.2.2', 160_000),
            { allowed: true },
            'quiet for a window',
          );
          await t.recordFailure('dave', '2.2.2.2', 160_000); // forgotten: one failure again
          assert.deepEqual(await t.check('dave', '2.2.2.2', 160_001), { allowed: true });
          await t.recordFailure('erin', '5.5.5.5', 150_000);
          await t.recordFailure('erin', '5.5.5.5', 150_000);
          assert.equal((await t.check('erin', '5.5.5.5', 150_000)).allowed, false);
          await t.recordSuccess('erin', '5.5.5.5');
          assert.deepEqual(await t.check('erin', '5.5.5.5', 150_000), { allowed: true });
          assert.equal(
            (await t.check('x', '5.5.5.5', 150_000)).allowed,
            true,
            'the address (2 of 30) was not forgiven but is under',
          );
          await t.purge(1_000_000);
          assert.deepEqual(await t.check('dave', '1.1.1.1', 1_000_000), { allowed: true });
        });
      }

      it('database store: two services (replicas) on one database enforce one limit', async () => {
        const f = await fixture({
          loginRateLimit: { perAccountSource: 2, perAddress: 100, windowSeconds: 60 },
        });
        const db2 = await backend.open(f.location);
        cleanups.push(() => db2.destroy());
        const replica = await service(db2, f.clock, {
          loginRateLimit: { perAccountSource: 2, perAddress: 100, windowSeconds: 60 },
        });
        await f.identity.createUser('alice', PASSWORD);
        const attempt = (s: IdentityService, password: string) =>
          s.checkPassword('alice', password, '10.7.7.7').then((r) => (r.ok ? 'ok' : r.reason));
        assert.equal(await attempt(f.identity, 'wrong-password-1'), 'bad-credentials');
        assert.equal(await attempt(replica, 'wrong-password-2'), 'bad-credentials');
        assert.equal(await attempt(f.identity, PASSWORD), 'rate-limited');
        assert.equal(await attempt(replica, PASSWORD), 'rate-limited');
        f.clock.advance(1);
        assert.equal(await attempt(replica, PASSWORD), 'ok');
      });
    });

    describe('login rate limiting', () => {
      it('publishes login outcomes and refresh-token reuse on diagnostics channels', async () => {
        const f = await fixture({
          loginRateLimit: { perAccountSource: 1, perAddress: 100, windowSeconds: 60 },
        });
        await f.identity.createUser('alice', PASSWORD);
        const logins: LoginEvent[] = [];
        const reuses: RefreshReuseEvent[] = [];
        const onLogin = (m: unknown) => logins.push(m as LoginEvent);
        const onReuse = (m: unknown) => reuses.push(m as RefreshReuseEvent);
        subscribe(IDENTITY_CHANNELS.login, onLogin);
        subscribe(IDENTITY_CHANNELS.refreshReuse, onReuse);
        try {
          const t = (await login(f, 'Alice', PASSWORD, {}, '10.3.3.3')).json();
          await login(f, 'alice', 'wrong-password', {}, '10.3.3.3');
          await login(f, 'alice', PASSWORD, {}, '10.3.3.3');
          const own = (e: LoginEvent) => e.address === '10.3.3.3';
          assert.deepEqual(
            logins.filter(own).map((e) => [e.username, e.outcome]),
            [
              ['alice', 'success'],
              ['alice', 'bad-credentials'],
              ['alice', 'rate-limited'],
            ],
          );
          assert.ok(
            logins.every((e) => !JSON.stringify(e).includes(PASSWORD)),
            'never the password',
          );
          await tokenRequest(f, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
          await tokenRequest(f, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
          assert.equal(reuses.length, 1);
          assert.equal(reuses[0].userId, (await f.identity.listUsers())[0].id);
        } finally {
          unsubscribe(IDENTITY_CHANNELS.login, onLogin);
          unsubscribe(IDENTITY_CHANNELS.refreshReuse, onReuse);
        }
      });
      it('per account and source: backoff doubles after the free failures (429 + Retry-After, the page too); the owner from another address is never locked out', async () => {
        const f = await fixture({
          loginRateLimit: { perAccountSource: 3, perAddress: 1000, windowSeconds: 60 },
        });
        await f.identity.createUser('alice', PASSWORD);
        // The attacker at 10.0.0.1 guesses; before the fix ten guesses locked the account for everyone.
        for (let i = 0; i < 10; i++) {
          const r = await login(f, 'alice', `wrong-${i}-password`, {}, '10.0.0.1');
          if (r.statusCode === 429) {
            f.clock.advance(Number(r.headers['retry-after']));
            i--;
            continue;
          }
          assert.equal(r.statusCode, 400);
          assert.equal(
            (await login(f, 'alice', PASSWORD, {}, `10.0.1.${i + 1}`)).statusCode,
            200,
            `the owner from another address after ${i + 1} guesses`,
          );
        }
        const limited = await login(f, 'alice', PASSWORD, {}, '10.0.0.1');
        assert.equal(limited.statusCode, 429);
        assert.equal(limited.json().error, 'rate_limited');
        assert.equal(limited.headers['retry-after'], '30', '2^7 s, capped at half the 60 s window');
        const page = await f.app.inject({
          method: 'POST',
          url: '/device',
          remoteAddress: '10.0.0.1',
          ...form({ user_code: 'BCDF-GHJK', username: 'ALICE', password: PASSWORD, action: 'approve' }),
        });
        assert.equal(page.statusCode, 429, 'the verification page shares the limit');
        assert.equal(
          (await login(f, 'bob', 'whatever-password', {}, '10.0.0.1')).statusCode,
          400,
          'other accounts from that address are not limited',
        );
        f.clock.advance(30);
        assert.equal((await login(f, 'alice', PASSWORD, {}, '10.0.0.1')).statusCode, 200);
      });

      it('per source address: failures across usernames -> 429 for that address only', async () => {
        const f = await fixture({
          loginRateLimit: { perAccountSource: 1000, perAddress: 4, windowSeconds: 120 },
        });
        await f.identity.createUser('alice', PASSWORD);
        for (let i = 0; i < 4; i++)
          assert.equal((await login(f, `user${i}`, 'bad-password', {}, '10.9.9.9')).statusCode, 400);
        const limited = await login(f, 'alice', PASSWORD, {}, '10.9.9.9');
        assert.equal(limited.statusCode, 429);
        assert.equal(limited.headers['retry-after'], '120');
        assert.equal(
          (await login(f, 'alice', PASSWORD, {}, '10.9.9.10')).statusCode,
          200,
          'another address is fine',
        );
        f.clock.advance(121);
        assert.equal((await login(f, 'alice', PASSWORD, {}, '10.9.9.9')).statusCode, 200);
      });
    });

    describe('login flood', () => {
      it('password checks beyond the bound get 503 + Retry-After at once (token endpoint and page)', async () => {
        const f = await fixture({
          scrypt: { N: 2 ** 15, r: 8, p: 1 },
          passwordChecks: { maxActive: 1, maxQueued: 1 },
        });
        await f.identity.createUser('alice', PASSWORD);
        const requests = [
          ...[1, 2, 3, 4].map((i) => login(f, 'alice', PASSWORD, {}, `10.5.0.${i}`)),
          ...[5, 6].map((i) =>
            f.app.inject({
              method: 'POST',
              url: '/device',
              remoteAddress: `10.5.0.${i}`,
              ...form({ user_code: 'BCDF-GHJK', username: 'alice', password: PASSWORD, action: 'approve' }),
            }),
          ),
        ];
        const results = await Promise.all(requests);
        const busy = results.filter((r) => r.statusCode === 503);
        const passed = results.filter((r) => r.statusCode !== 503);
        assert.ok(busy.length >= 1, `some were turned away: ${results.map((r) => r.statusCode)}`);
        assert.ok(passed.length >= 2, 'the running and the queued check went through');
        for (const r of busy) {
          assert.equal(r.headers['retry-after'], '1');
          if (String(r.headers['content-type']).startsWith('application/json')) {
            assert.equal(r.json().error, 'temporarily_unavailable');
          } else {
            assert.match(r.body, /server is busy/);
          }
        }
        for (const r of passed) assert.ok([200, 400].includes(r.statusCode), r.body);
        assert.equal(
          (await login(f, 'alice', PASSWORD)).statusCode,
          200,
          'once the flood is over, logins work',
        );
      });
    });

    describe('admin user API', () => {
      it('admin adds, lists and deletes users; 401 without a token, 403 for non-admins', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        const admin = { authorization: `Bearer ${await accessToken(f, 'admin')}` };

        const created = await f.app.inject({
          method: 'POST',
          url: '/api/admin/users',
          headers: admin,
          payload: { username: 'bob', password: PASSWORD },
        });
        assert.equal(created.statusCode, 201, created.body);
        assert.equal(created.json().username, 'bob');
        assert.equal(created.json().admin, false);
        assert.equal(created.json().password_hash, undefined);

        const list = await f.app.inject({ method: 'GET', url: '/api/admin/users', headers: admin });
        assert.equal(list.statusCode, 200);
        assert.deepEqual(
          list.json().map((u: { username: string; admin: boolean }) => [u.username, u.admin]),
          [
            ['admin', true],
            ['bob', false],
          ],
        );

        const bob = { authorization: `Bearer ${await accessToken(f, 'bob')}` };
        const forbidden = await f.app.inject({ method: 'GET', url: '/api/admin/users', headers: bob });
        assert.equal(forbidden.statusCode, 403);
        assert.equal(forbidden.json().code, 'IDENTITY_ERR_FORBIDDEN');
        const anonymous = await f.app.inject({ method: 'DELETE', url: '/api/admin/users/bob' });
        assert.equal(anonymous.statusCode, 401);
        assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
        const garbage = await f.app.inject({
          method: 'GET',
          url: '/api/admin/users',
          headers: { authorization: 'Bearer abc.def.ghi' },
        });
        assert.equal(garbage.statusCode, 401);

        const del = await f.app.inject({ method: 'DELETE', url: '/api/admin/users/bob', headers: admin });
        assert.equal(del.statusCode, 204);
        const again = await f.app.inject({ method: 'DELETE', url: '/api/admin/users/bob', headers: admin });
        assert.equal(again.statusCode, 404);
        assert.equal(again.json().code, 'IDENTITY_ERR_USER_NOT_FOUND');
        assert.equal(
          (await f.app.inject({ method: 'GET', url: '/api/admin/users', headers: bob })).statusCode,
          401,
          "bob's token died with bob",
        );
      });

      it('validation and policy errors carry codes and name the field', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        const headers = { authorization: `Bearer ${await accessToken(f, 'admin')}` };
        const post = (payload: unknown) =>
          f.app.inject({ method: 'POST', url: '/api/admin/users', headers, payload: payload as object });
        let res = await post({ username: 'bob' });
        assert.equal(res.statusCode, 400);
        assert.deepEqual([res.json().code, res.json().field], ['IDENTITY_ERR_BAD_REQUEST', 'password']);
        res = await post({ username: 'bob', password: PASSWORD, admin: 'maybe' });
        assert.deepEqual([res.statusCode, res.json().field], [400, 'admin']);
        res = await post({ username: 'bob', password: 'short' });
        assert.deepEqual([res.statusCode, res.json().code], [400, 'IDENTITY_ERR_WEAK_PASSWORD']);
        res = await post({ username: 'bad name', password: PASSWORD });
        assert.deepEqual([res.statusCode, res.json().code], [400, 'IDENTITY_ERR_BAD_USERNAME']);
        res = await post({ username: 'ADMIN', password: PASSWORD });
        assert.deepEqual([res.statusCode, res.json().code], [409, 'IDENTITY_ERR_USER_EXISTS']);
        res = await f.app.inject({ method: 'DELETE', url: '/api/admin/users/admin', headers });
        assert.deepEqual([res.statusCode, res.json().code], [409, 'IDENTITY_ERR_LAST_ADMIN']);
        res = await f.app.inject({
          method: 'POST',
          url: '/api/admin/users',
          headers: { ...headers, 'content-type': 'application/json' },
          payload: '{"username":',
        });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().code, 'IDENTITY_ERR_BAD_REQUEST');
      });
    });

    describe('fuzzing', () => {
      it('random bodies on every identity endpoint get a 4xx with a parseable body, never a 5xx', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        const admin = { authorization: `Bearer ${await accessToken(f, 'admin')}` };
        const value = fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.constantFrom(
            'password',
            'refresh_token',
            DEVICE_GRANT,
            'nexodus-cli',
            'admin',
            'approve',
            'BCDF-GHJK',
          ),
          fc.integer(),
          fc.boolean(),
          fc.constant(null),
          fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        );
        const field = fc.constantFrom(
          'grant_type',
          'client_id',
          'username',
          'password',
          'refresh_token',
          'device_code',
          'scope',
          'user_code',
          'action',
          'admin',
          '__proto__',
          'constructor',
        );
        const body = fc.dictionary(field, value, { maxKeys: 6 });
        const target = fc.constantFrom(
          { url: '/oauth2/token', headers: {} },
          { url: '/oauth2/device_authorization', headers: {} },
          { url: '/device', headers: {} },
          { url: '/api/admin/users', headers: admin },
        );
        await fc.assert(
          fc.asyncProperty(target, body, fc.boolean(), async (t, b, asForm) => {
            const payload = asForm
              ? new URLSearchParams(
                  Object.entries(b).map(([k, v]): [string, string] => [k, String(v)]),
                ).toString()
              : JSON.stringify(b);
            const res = await f.app.inject({
              method: 'POST',
              url: t.url,
              remoteAddress: '10.66.0.1',
              headers: {
                ...t.headers,
                'content-type': asForm ? 'application/x-www-form-urlencoded' : 'application/json',
              },
              payload,
            });
            assert.ok(res.statusCode < 500, `${t.url} ${payload} -> ${res.statusCode} ${res.body}`);
            if (t.url !== '/device' && res.statusCode >= 400) {
              const parsed = res.json();
              assert.equal(typeof parsed.error, 'string', res.body);
            }
          }),
          { numRuns: 150, seed: 20260301 },
        );
        assert.equal(
          (await f.identity.listUsers()).filter((u) => u.admin).length,
          1,
          'no fuzz input created another admin',
        );
      });
    });

    describe('inside the full server app (buildApp)', () => {
      it('tokens work on the core API; parsers and error formats of both sides coexist', async () => {
        const location = await backend.freshDatabase();
        const db = await openDatabase({
          ...(backend.name === 'sqlite' ? { sqlitePath: location } : { url: location }),
        });
        cleanups.push(() => db.destroy());
        await migrateToLatest(db);
        const clock = new TestClock();
        const identity = await service(identityView(db), clock);
        const app = await buildApp({ db, identity });
        await app.ready();
        cleanups.push(() => app.close());
        await identity.ensureAdmin(PASSWORD);
        const alice = await identity.createUser('alice', PASSWORD);

        const login = await app.inject({
          method: 'POST',
          url: '/oauth2/token',
          ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
        });
        assert.equal(login.statusCode, 200, login.body);
        const auth = { authorization: `Bearer ${login.json().access_token}` };
        const me = await app.inject({ method: 'GET', url: '/api/users/me', headers: auth });
        assert.equal(me.statusCode, 200, me.body);
        assert.equal(me.json().id, alice.id);

        const badJson = await app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: { 'content-type': 'application/json' },
          payload: '{"grant_type":',
        });
        assert.equal(badJson.statusCode, 400);
        assert.equal(badJson.json().error, 'invalid_request', 'OAuth error shape, not the core one');

        const start = await app.inject({
          method: 'POST',
          url: '/device/login/start',
          headers: { 'content-type': 'application/json' },
          payload: '',
        });
        assert.equal(start.statusCode, 200, start.body);
        assert.equal(start.json().issuer, ISSUER);

        const dev = await app.inject({
          method: 'POST',
          url: '/oauth2/device_authorization',
          ...form({ client_id: 'nexodus-cli' }),
        });
        const page = await app.inject({
          method: 'POST',
          url: '/device',
          ...form({
            user_code: dev.json().user_code,
            username: 'alice',
            password: PASSWORD,
            action: 'approve',
          }),
        });
        assert.equal(page.statusCode, 200, page.body);
        assert.match(page.body, /Device approved/);

        const anonymous = await app.inject({ method: 'GET', url: '/api/admin/users' });
        assert.equal(anonymous.statusCode, 401);
        assert.equal(anonymous.json().code, 'IDENTITY_ERR_UNAUTHENTICATED');
        const adminToken = (
          await app.inject({
            method: 'POST',
            url: '/oauth2/token',
            payload: { grant_type: 'password', username: 'admin', password: PASSWORD },
          })
        ).json().access_token;
        const list = await app.inject({
          method: 'GET',
          url: '/api/admin/users',
          headers: { authorization: `Bearer ${adminToken}` },
        });
        assert.deepEqual(
          list.json().map((u: { username: string }) => u.username),
          ['admin', 'alice'],
        );

        // Deleting a user who owns core objects (created on first request) cascades; the token dies.
        const del = await app.inject({
          method: 'DELETE',
          url: '/api/admin/users/alice',
          headers: { authorization: `Bearer ${adminToken}` },
        });
        assert.equal(del.statusCode, 204, del.body);
        assert.equal(
          (await app.inject({ method: 'GET', url: '/api/users/me', headers: auth })).statusCode,
          401,
        );
      });
    });

    describe('IdentityService', () => {
      it('refuses to start on a database without the identity tables, saying what to do', async () => {
        const db = await backend.open(await backend.freshLocation());
        cleanups.push(() => db.destroy());
        await assert.rejects(IdentityService.create({ db, issuer: ISSUER }), (e: unknown) => {
          assert.ok(e instanceof IdentityError);
          assert.equal(e.code, 'IDENTITY_ERR_BAD_CONFIG');
          assert.match(e.message, /run the migrations/);
          return true;
        });
      });

      it('deleteUser: another admin may go, a user still referenced by other tables may not', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        await f.identity.createUser('root2', PASSWORD, { admin: true });
        assert.equal(await f.identity.deleteUser('ADMIN'), true, 'two admins: one may be deleted');
        await assert.rejects(
          f.identity.deleteUser('root2'),
          (e: unknown) => e instanceof IdentityError && e.code === 'IDENTITY_ERR_LAST_ADMIN',
        );

        // A table of another component that references users(id) without ON DELETE CASCADE.
        await f.db.schema
          .createTable('nexid_test_owned')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
          .execute();
        const erin = await f.identity.createUser('erin', PASSWORD);
        await sql`insert into nexid_test_owned (id, owner_id) values (${'x1'}, ${erin.id})`.execute(f.db);
        await assert.rejects(f.identity.deleteUser('erin'), (e: unknown) => {
          assert.ok(e instanceof IdentityError, String(e));
          assert.equal(e.code, 'IDENTITY_ERR_USER_IN_USE');
          return true;
        });
        assert.ok(await f.identity.getUser(erin.id), 'the user is still there');
      });
      it('createUser validates usernames and passwords with typed errors', async () => {
        const f = await fixture();
        const code = (c: string) => (e: unknown) => {
          assert.ok(e instanceof IdentityError, String(e));
          assert.equal(e.code, c);
          assert.match(e.message, /expected/);
          return true;
        };
        for (const name of ['', 'bad name', '-leading', 'a/b', 'x'.repeat(65), 'tab\tname']) {
          await assert.rejects(
            f.identity.createUser(name, PASSWORD),
            code('IDENTITY_ERR_BAD_USERNAME'),
            JSON.stringify(name),
          );
        }
        for (const pw of ['', 'short', 'aaaaaaaaaaaa', 'dave.smith', 'x'.repeat(1025)]) {
          await assert.rejects(
            f.identity.createUser('dave.smith', pw),
            code('IDENTITY_ERR_WEAK_PASSWORD'),
            JSON.stringify(pw),
          );
        }
        const dave = await f.identity.createUser('Dave.Smith', PASSWORD);
        assert.equal(dave.username, 'dave.smith');
        await assert.rejects(f.identity.createUser('DAVE.smith', PASSWORD), (e: unknown) => {
          assert.ok(e instanceof IdentityError);
          assert.equal(e.code, 'IDENTITY_ERR_USER_EXISTS');
          assert.equal(e.statusCode, 409);
          return true;
        });
        assert.deepEqual(await f.identity.getUser(dave.id), {
          id: dave.id,
          username: 'dave.smith',
          admin: false,
          created_at: f.clock.now().toISOString(),
        });
        assert.equal(await f.identity.getUser('00000000-0000-4000-8000-000000000000'), undefined);
        assert.equal(await f.identity.deleteUser('nobody'), false);
      });

      it('ensureAdmin with the environment password: created once, never prints a password', async () => {
        const f = await fixture();
        assert.deepEqual(await f.identity.ensureAdmin('env-admin-password'), { created: true });
        assert.deepEqual(await f.identity.ensureAdmin('another-password'), { created: false });
        assert.equal((await login(f, 'admin', 'env-admin-password')).statusCode, 200);
        assert.equal(
          (await login(f, 'admin', 'another-password')).statusCode,
          400,
          'a later start does not change it',
        );
        const users = await f.identity.listUsers();
        assert.deepEqual(
          users.map((u) => [u.username, u.admin]),
          [['admin', true]],
        );
      });

      it('ensureAdmin without a password generates one, returned only on creation', async () => {
        const f = await fixture();
        const first = await f.identity.ensureAdmin(undefined);
        assert.equal(first.created, true);
        assert.match(first.generatedPassword ?? '', /^[A-Za-z0-9_-]{24}$/);
        assert.deepEqual(await f.identity.ensureAdmin(undefined), { created: false });
        assert.equal((await login(f, 'admin', first.generatedPassword!)).statusCode, 200);
      });

      it('setPassword replaces the password and revokes refresh tokens', async () => {
        const f = await fixture();
        await f.identity.createUser('alice', PASSWORD);
        const before = (await login(f, 'alice', PASSWORD)).json();
        assert.equal(before.scope, undefined, 'no scope asked, none returned');
        await assert.rejects(f.identity.setPassword('alice', 'short'), /expected 8-1024 characters/);
        assert.equal(await f.identity.setPassword('nobody', 'a-new-password'), false);
        assert.equal(await f.identity.setPassword('ALICE', 'a-new-password'), true);
        assert.equal((await login(f, 'alice', PASSWORD)).statusCode, 400);
        assert.equal((await login(f, 'alice', 'a-new-password')).statusCode, 200);
        const refresh = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: before.refresh_token,
        });
        assert.equal(refresh.json().error, 'invalid_grant');
      });

      it('ensureAdmin refuses a weak NEXODUS_ADMIN_PASSWORD and treats an empty one as unset', async () => {
        const f = await fixture();
        await assert.rejects(f.identity.ensureAdmin('admin'), /NEXODUS_ADMIN_PASSWORD is not acceptable/);
        const r = await f.identity.ensureAdmin('');
        assert.equal(r.created, true);
        assert.equal(typeof r.generatedPassword, 'string');
      });

      it('deleting a user ends its refresh tokens and its approved-but-unfetched device login', async () => {
        const f = await fixture();
        await f.identity.ensureAdmin(PASSWORD);
        await f.identity.createUser('alice', PASSWORD);
        const t = (await login(f, 'alice', PASSWORD)).json();
        const dev = (
          await f.app.inject({
            method: 'POST',
            url: '/oauth2/device_authorization',
            ...form({ client_id: 'nexodus-cli' }),
          })
        ).json();
        const page = await f.app.inject({
          method: 'POST',
          url: '/device',
          ...form({ user_code: dev.user_code, username: 'alice', password: PASSWORD, action: 'approve' }),
        });
        assert.equal(page.statusCode, 200);
        assert.equal(await f.identity.deleteUser('alice'), true);
        const refresh = await tokenRequest(f, {
          grant_type: 'refresh_token',
          refresh_token: t.refresh_token,
        });
        assert.equal(refresh.json().error, 'invalid_grant');
        const poll = await tokenRequest(f, {
          grant_type: DEVICE_GRANT,
          device_code: dev.device_code,
          client_id: 'nexodus-cli',
        });
        assert.equal(poll.json().error, 'invalid_grant');
      });

      it('housekeeping deletes expired refresh tokens, device requests and throttle windows', async () => {
        const f = await fixture({ refreshTokenTtlSeconds: 60 });
        await f.identity.createUser('alice', PASSWORD);
        await login(f, 'alice', PASSWORD); // runs housekeeping (nothing expired yet) and stores a refresh token
        await login(f, 'alice', 'wrong-password');
        await f.app.inject({
          method: 'POST',
          url: '/oauth2/device_authorization',
          ...form({ client_id: 'nexodus-cli' }),
        });
        const count = async (
          table: 'identity_refresh_tokens' | 'identity_device_grants' | 'identity_login_failures',
        ) =>
          Number(
            (
              await f.db
                .selectFrom(table)
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        assert.deepEqual(
          [
            await count('identity_refresh_tokens'),
            await count('identity_device_grants'),
            await count('identity_login_failures'),
          ],
          [1, 1, 2],
        );
        f.clock.advance(2 * 3600); // past every lifetime, the 1 h grace of device requests and the 10 min purge period
        await login(f, 'alice', PASSWORD); // purges, then stores one new refresh token
        assert.deepEqual(
          [
            await count('identity_refresh_tokens'),
            await count('identity_device_grants'),
            await count('identity_login_failures'),
          ],
          [1, 0, 0],
        );
      });

      it('a corrupt signing key row stops the start with IDENTITY_ERR_CORRUPT_STATE', async () => {
        const f = await fixture();
        await f.db.updateTable('identity_signing_keys').set({ private_jwk: '{"kty":"EC"' }).execute();
        const db2 = await backend.open(f.location);
        cleanups.push(() => db2.destroy());
        await assert.rejects(service(db2, f.clock), (e: unknown) => {
          assert.ok(e instanceof IdentityError);
          assert.equal(e.code, 'IDENTITY_ERR_CORRUPT_STATE');
          assert.match(e.message, /delete the row/);
          return true;
        });
      });

      it('two services on one database share the signing key; tokens of one verify on the other', async () => {
        const f = await fixture();
        const db2 = await backend.open(f.location);
        cleanups.push(() => db2.destroy());
        const second = await service(db2, f.clock);
        assert.deepEqual(second.jwks(), f.identity.jwks());
        const alice = await f.identity.createUser('alice', PASSWORD);
        const token = await accessToken(f, 'alice');
        assert.equal((await second.verifyAccessToken(token))?.userId, alice.id);
      });

      it('two services starting at once on an empty database still accept each other’s tokens', async () => {
        const location = await backend.freshLocation();
        const [dbA, dbB] = [await backend.open(location), await backend.open(location)];
        cleanups.push(
          () => dbA.destroy(),
          () => dbB.destroy(),
        );
        await migrate(dbA, location);
        const clock = new TestClock();
        const [a, b] = await Promise.all([service(dbA, clock), service(dbB, clock)]);
        const admins = await Promise.all([a.ensureAdmin(undefined), b.ensureAdmin(undefined)]);
        assert.deepEqual(
          admins.map((r) => r.created).sort(),
          [false, true],
          'exactly one replica creates admin and prints its password',
        );
        assert.equal(admins.filter((r) => r.generatedPassword !== undefined).length, 1);
        const user = await a.createUser('alice', PASSWORD);
        for (const [from, to] of [
          [a, b],
          [b, a],
        ] as const) {
          const t = await from.passwordGrant({
            username: 'alice',
            password: PASSWORD,
            clientId: 'nexodus-cli',
            address: '10.0.0.1',
          });
          assert.equal((await to.verifyAccessToken(t.access_token))?.userId, user.id);
          assert.ok(to.jwks().keys.some((k) => k.kid === decodeProtectedHeader(t.access_token).kid));
        }
      });
    });
  });
}

// ---- backends ----

const tmp = mkdtempSync(join(tmpdir(), 'nexid-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let sqliteFiles = 0;
suite(
  {
    name: 'sqlite',
    // A file rather than :memory: so that two handles can open the same database.
    freshLocation: async () => join(tmp, `id-${++sqliteFiles}.sqlite`),
    freshDatabase: async () => join(tmp, `id-${++sqliteFiles}.sqlite`),
    open: (path) => openDatabase<IdentityTables>({ sqlitePath: path }),
  },
  false,
);

let pgs: TestPostgres | undefined;
let pgSuiteDb: string | undefined;
let pgSchemas = 0;
suite(
  {
    name: 'postgresql',
    start: async () => {
      pgs = await startPostgres();
      pgSuiteDb = await pgs.createDatabase();
    },
    stop: async () => {
      await pgs?.stop();
    },
    freshLocation: async () => {
      if (!pgSuiteDb) throw new Error('postgres did not start');
      const schema = `nexid_${++pgSchemas}`;
      const admin = new pg.Client({ connectionString: pgSuiteDb });
      await admin.connect();
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
      } finally {
        await admin.end();
      }
      return `${pgSuiteDb}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    },
    freshDatabase: async () => {
      if (!pgs) throw new Error('postgres did not start');
      return pgs.createDatabase();
    },
    open: (url) => openDatabase<IdentityTables>({ url, poolMax: 4 }),
  },
  postgresAvailable() ? false : 'needs PostgreSQL binaries in /usr/lib/postgresql/15/bin',
);
