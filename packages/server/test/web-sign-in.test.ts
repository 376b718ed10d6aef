// SPDX-License-Identifier: Apache-2.0
// The web UI's sign-in through inject(): authorization endpoint + sign-in page, PKCE code exchange, the
// session cookie, sign-out, and the refusals (foreign redirect, other clients, cross-site posts, replays).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { identityView } from '../src/db/open.js';
import { IdentityService } from '../src/identity/index.js';
import { call, createTestApp, openTestDb, TEST_ISSUER, type TestApp } from './helpers/app.js';

const REDIRECT = `${TEST_ISSUER}/callback`;
const PASSWORD = 'web sign-in password';

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeQuery(challenge: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    response_type: 'code',
    client_id: 'nexodus-web',
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-123',
    ...extra,
  }).toString();
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('web sign-in: authorization code + PKCE', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite');
    await t.identity.createUser('webuser', PASSWORD);
  });
  after(() => t.close());

  async function signIn(challenge: string, headers: Record<string, string> = {}) {
    const q = Object.fromEntries(new URLSearchParams(authorizeQuery(challenge)));
    return call(t.app, {
      method: 'POST',
      url: '/oauth2/authorize',
      headers: { ...FORM, ...headers },
      payload: form({ ...q, username: 'webuser', password: PASSWORD }),
    });
  }

  async function exchange(code: string, verifier: string) {
    return call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'authorization_code',
        client_id: 'nexodus-web',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }),
    });
  }

  it('GET without a session shows the sign-in page with the request in hidden fields, scripts forbidden', async () => {
    const { challenge } = pkce();
    const r = await call(t.app, { method: 'GET', url: `/oauth2/authorize?${authorizeQuery(challenge)}` });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.match(r.body, new RegExp(`name="code_challenge" value="${challenge}"`));
    assert.match(r.body, /name="password" type="password"/);
    assert.equal(r.headers['set-cookie'], undefined);
  });

  it('an unknown client or a foreign redirect_uri is refused on the page, never redirected to', async () => {
    const { challenge } = pkce();
    const cases: Array<Record<string, string>> = [
      { client_id: 'nexodus-cli' },
      { redirect_uri: 'https://evil.example/callback' },
      { redirect_uri: `${TEST_ISSUER}/somewhere-else` },
      { redirect_uri: 'not a url' },
    ];
    for (const extra of cases) {
      const r = await call(t.app, {
        method: 'GET',
        url: `/oauth2/authorize?${authorizeQuery(challenge, extra)}`,
      });
      assert.equal(r.status, 400, JSON.stringify(extra));
      assert.equal(r.headers.location, undefined);
      assert.match(r.body, /role="alert"/);
    }
  });

  it('a plain challenge method or a malformed challenge goes back to the client as error=invalid_request', async () => {
    const r = await call(t.app, {
      method: 'GET',
      url: `/oauth2/authorize?${authorizeQuery('short', { code_challenge_method: 'plain' })}`,
    });
    assert.equal(r.status, 302);
    const loc = new URL(String(r.headers.location));
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get('error'), 'invalid_request');
    assert.equal(loc.searchParams.get('state'), 'st-123');
  });

  it('a wrong password shows the form again with a message and sets no cookie', async () => {
    const { challenge } = pkce();
    const q = Object.fromEntries(new URLSearchParams(authorizeQuery(challenge)));
    const r = await call(t.app, {
      method: 'POST',
      url: '/oauth2/authorize',
      headers: FORM,
      payload: form({ ...q, username: 'webuser', password: 'wrong password!' }),
    });
    assert.equal(r.status, 401);
    assert.match(r.body, /username or password is wrong/);
    assert.match(r.body, /value="webuser"/);
    assert.equal(r.headers['set-cookie'], undefined);
  });

  it('a sign-in form posted from another site is refused (login CSRF)', async () => {
    const attempts: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site', origin: 'http://localhost:80' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of attempts) {
      const r = await signIn(pkce().challenge, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const same = await signIn(pkce().challenge, { 'sec-fetch-site': 'same-origin', origin: 'null' });
    assert.equal(same.status, 303);
  });

  it('sign-in redirects with a code; the code + verifier give tokens once; the session cookie skips the form', async () => {
    const { verifier, challenge } = pkce();
    const r = await signIn(challenge);
    assert.equal(r.status, 303);
    const cookie = String(r.headers['set-cookie']);
    assert.match(
      cookie,
      /^nexodus_session=nxrt_[A-Za-z0-9_-]+; Path=\/oauth2; Max-Age=43200; HttpOnly; SameSite=Strict$/,
    );
    const loc = new URL(String(r.headers.location));
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get('state'), 'st-123');
    const code = loc.searchParams.get('code');
    assert.ok(code);
    // The code is not a token: the API refuses it.
    const asBearer = await call(t.app, {
      method: 'GET',
      url: '/api/users/me',
      headers: { authorization: `Bearer ${code}` },
    });
    assert.equal(asBearer.status, 401);

    const wrong = await exchange(code, pkce().verifier);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error, 'invalid_grant');
    assert.match(wrong.json.error_description, /code_verifier/);

    const ok = await exchange(code, verifier);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers['cache-control'], 'no-store');
    const me = await call(t.app, {
      method: 'GET',
      url: '/api/users/me',
      headers: { authorization: `Bearer ${ok.json.access_token}` },
    });
    assert.equal(me.status, 200);
    assert.equal(me.json.username, 'webuser');

    const replay = await exchange(code, verifier);
    assert.equal(replay.status, 400);
    assert.match(replay.json.error_description, /already used/);

    // A reload of the UI: the cookie answers with a fresh code at once.
    const again = pkce();
    const silent = await call(t.app, {
      method: 'GET',
      url: `/oauth2/authorize?${authorizeQuery(again.challenge)}`,
      headers: { cookie: cookie.split(';')[0] },
    });
    assert.equal(silent.status, 302);
    const code2 = new URL(String(silent.headers.location)).searchParams.get('code');
    assert.ok(code2);
    assert.equal((await exchange(code2, again.verifier)).status, 200);

    // The UI refreshes with its own client id; the session token is not a refresh token of any client.
    const refreshed = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'refresh_token',
        client_id: 'nexodus-web',
        refresh_token: ok.json.refresh_token,
      }),
    });
    assert.equal(refreshed.status, 200);
    const sessionAsRefresh = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'refresh_token',
        client_id: 'nexodus-web',
        refresh_token: cookie.split(';')[0].split('=')[1],
      }),
    });
    assert.equal(sessionAsRefresh.status, 400);

    // Sign-out: cookie cleared, session and refresh family revoked.
    const out = await call(t.app, {
      method: 'POST',
      url: '/oauth2/logout',
      headers: { cookie: cookie.split(';')[0], 'content-type': 'application/json' },
      payload: { refresh_token: refreshed.json.refresh_token },
    });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /^nexodus_session=; Path=\/oauth2; Max-Age=0; HttpOnly/);
    const afterOut = await call(t.app, {
      method: 'GET',
      url: `/oauth2/authorize?${authorizeQuery(pkce().challenge)}`,
      headers: { cookie: cookie.split(';')[0] },
    });
    assert.equal(afterOut.status, 200, 'the revoked session shows the form again');
    const refreshAfterOut = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'refresh_token',
        client_id: 'nexodus-web',
        refresh_token: refreshed.json.refresh_token,
      }),
    });
    assert.equal(refreshAfterOut.status, 400);
  });

  it('the web client may not use the password grant; other clients may not redeem codes', async () => {
    const pw = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'password',
        client_id: 'nexodus-web',
        username: 'webuser',
        password: PASSWORD,
      }),
    });
    assert.equal(pw.status, 400);
    assert.equal(pw.json.error, 'unauthorized_client');
    const { verifier, challenge } = pkce();
    const code = new URL(String((await signIn(challenge)).headers.location)).searchParams.get(
      'code',
    ) as string;
    const cli = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'authorization_code',
        client_id: 'nexodus-cli',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }),
    });
    assert.equal(cli.json.error, 'unauthorized_client');
    const otherRedirect = await call(t.app, {
      method: 'POST',
      url: '/oauth2/token',
      headers: FORM,
      payload: form({
        grant_type: 'authorization_code',
        client_id: 'nexodus-web',
        code,
        redirect_uri: 'http://localhost/callback',
        code_verifier: verifier,
      }),
    });
    assert.match(otherRedirect.json.error_description, /redirect_uri differs/);
  });

  it('discovery names the authorization endpoint and S256', async () => {
    const r = await call(t.app, { method: 'GET', url: '/.well-known/openid-configuration' });
    assert.equal(r.json.authorization_endpoint, `${TEST_ISSUER}/oauth2/authorize`);
    assert.deepEqual(r.json.code_challenge_methods_supported, ['S256']);
    assert.ok(r.json.grant_types_supported.includes('authorization_code'));
  });
});

describe('web sign-in: code lifetime', () => {
  it('a code older than 60 s is refused as expired', async () => {
    const db = await openTestDb('sqlite');
    let ms = Date.parse('2026-03-01T12:00:00Z');
    const identity = await IdentityService.create({
      db: identityView(db),
      issuer: TEST_ISSUER,
      now: () => new Date(ms),
      scrypt: { N: 2 ** 10, r: 8, p: 1 },
    });
    const user = await identity.createUser('clock', PASSWORD);
    const { verifier, challenge } = pkce();
    const req = { clientId: 'nexodus-web', redirectUri: REDIRECT };
    const code = await identity.issueAuthorizationCode({ userId: user.id, codeChallenge: challenge, ...req });
    ms += 61_000;
    await assert.rejects(
      identity.authorizationCodeGrant({ code, codeVerifier: verifier, ...req }),
      /expired/,
    );
    await db.destroy();
  });
});
