// SPDX-License-Identifier: Apache-2.0
// The original Nexodus clients' login flow against our server, with the flow forced on: the issuer has a path
// of its own (as a Keycloak realm has), so the OIDC routes live only under it and a client can find them only
// by POST /device/login/start and OIDC discovery. Then the password and device grants, whose id_token is
// verified as the original client verifies it, and the API with the access token.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NexodusClient, OAuthClient, verifyIdToken } from '@nexodus/api';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { buildApp } from '../src/app.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { identityView, openDatabase } from '../src/db/open.js';
import type { Database } from '../src/db/schema.js';
import { IdentityService } from '../src/identity/index.js';

const PASSWORD = 'olga-password-1';
const REALM = '/realms/nexodus';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

describe('the original login flow (issuer with a path: only discovery finds the OIDC routes)', {
  timeout: 60_000,
}, () => {
  let app: FastifyInstance;
  let db: Kysely<Database>;
  let base: string;
  let issuer: string;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    issuer = `${base}${REALM}`;
    db = await openDatabase({ sqlitePath: ':memory:' });
    await migrateToLatest(db);
    const identity = await IdentityService.create({
      db: identityView(db),
      issuer,
      scrypt: { N: 2 ** 10, r: 8, p: 1 },
    });
    await identity.createUser('olga', PASSWORD);
    app = await buildApp({ db, identity, bookmarkMs: 60_000 });
    await app.listen({ port, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    await db?.destroy();
  });

  it('POST /device/login/start without a body (Content-Type application/json) names the issuer', async () => {
    const r = await fetch(`${base}/device/login/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 200);
    const body = (await r.json()) as Record<string, string>;
    assert.deepEqual(Object.keys(body), [
      'issuer',
      'client_id',
      'device_authorization_endpoint',
      'server_time',
    ]);
    assert.equal(body.issuer, issuer);
    assert.equal(body.client_id, 'nexodus-cli');
    assert.equal(body.device_authorization_endpoint, `${issuer}/oauth2/device_authorization`);
    assert.ok(Math.abs(Date.parse(body.server_time!) - Date.now()) < 60_000);
    // Discovery lives at the issuer and names it exactly; the root has no OIDC routes in this mode.
    const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    assert.equal(doc.issuer, issuer);
    assert.equal(doc.token_endpoint, `${issuer}/oauth2/token`);
    assert.equal((await fetch(`${base}/oauth2/token`, { method: 'POST' })).status, 404);
    assert.equal((await fetch(`${base}/.well-known/openid-configuration`)).status, 404);
  });

  it('password grant through discovery: an id_token for nexodus-cli that verifies, then the API', async () => {
    const { oauth, apiUrl } = await OAuthClient.discover({ serviceUrl: base });
    assert.equal(apiUrl, base, 'an IP literal is used as given (no api. prefix)');
    assert.equal(oauth.endpoints?.tokenEndpoint, `${issuer}/oauth2/token`);
    const t = await oauth.passwordGrant('olga', PASSWORD);
    assert.ok(t.id_token, 'the openid scope yields an id_token');
    const claims = JSON.parse(Buffer.from(t.id_token.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, 'nexodus-cli');
    // A token from another issuer or for another client is refused, as go-oidc's verifier refuses it.
    await assert.rejects(verifyIdToken(t.id_token, { ...oauth.endpoints!, clientId: 'other-client' }), /aud/);
    await assert.rejects(verifyIdToken(undefined, oauth.endpoints!), /no id_token/);
    const c = new NexodusClient({ baseUrl: apiUrl, token: t.access_token });
    const me = await c.getMe();
    assert.equal(me.username, 'olga');
    const refreshed = await oauth.refresh(t.refresh_token!);
    assert.ok(refreshed.access_token);
    await c.close();
    await oauth.close();
  });

  it('device grant through discovery: approved on the verification page under the issuer path', async () => {
    const { oauth } = await OAuthClient.discover({ serviceUrl: base });
    const auth = await oauth.startDeviceAuthorization();
    assert.ok(auth.verification_uri.startsWith(`${issuer}/device`), auth.verification_uri);
    const page = await (await fetch(auth.verification_uri)).text();
    assert.match(page, new RegExp(`action="${REALM}/device"`), 'the form posts back under the issuer path');
    let approved = false;
    const sleep = async () => {
      if (approved) return;
      approved = true;
      const r = await fetch(`${issuer}/device`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          user_code: auth.user_code,
          username: 'olga',
          password: PASSWORD,
          action: 'approve',
        }),
      });
      assert.equal(r.status, 200);
      await r.text();
    };
    const t = await oauth.pollDeviceToken(auth, { sleep });
    assert.ok(t.id_token, 'the device grant returns an id_token too');
    await oauth.close();
  });

  it('an issuer this machine cannot reach: the same paths at the API URL (its id_token still names it)', async () => {
    // The server announces an issuer by another name (as one that derived it from its listen address);
    // discovery falls back to the API's own origin and keeps the announced issuer for the checks.
    const port = await freePort();
    const otherDb = await openDatabase({ sqlitePath: ':memory:' });
    await migrateToLatest(otherDb);
    const identity = await IdentityService.create({
      db: identityView(otherDb),
      issuer: 'http://127.0.0.1:1',
      scrypt: { N: 2 ** 10, r: 8, p: 1 },
    });
    await identity.createUser('olga', PASSWORD);
    const other = await buildApp({ db: otherDb, identity, bookmarkMs: 60_000 });
    await other.listen({ port, host: '127.0.0.1' });
    try {
      const { oauth } = await OAuthClient.discover({ serviceUrl: `http://127.0.0.1:${port}` });
      assert.equal(oauth.endpoints?.issuer, 'http://127.0.0.1:1');
      assert.equal(oauth.endpoints?.tokenEndpoint, `http://127.0.0.1:${port}/oauth2/token`);
      const t = await oauth.passwordGrant('olga', PASSWORD);
      assert.ok(t.access_token);
      await oauth.close();
    } finally {
      await other.close();
      await otherDb.destroy();
    }
  });
});
