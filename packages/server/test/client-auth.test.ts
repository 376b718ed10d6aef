// SPDX-License-Identifier: Apache-2.0
// The api package's OAuth2 client against the real identity endpoints: password grant, refresh rotation,
// the RFC 8628 device grant approved on the verification page, and TokenSource refreshing before expiry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, NexodusClient, OAuthClient, OAuthClientError, TokenSource } from '@nexodus/api';
import { createTestApp, type TestApp } from './helpers/app.js';

describe('api OAuth2 client against the server', { timeout: 60_000 }, () => {
  let t: TestApp;
  let base: string;
  const PASSWORD = 'erin-password-1';
  before(async () => {
    t = await createTestApp('sqlite');
    await t.identity.createUser('erin', PASSWORD);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const a = t.app.server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(async () => t?.close());

  it('password grant, then refresh rotates; reusing the old refresh token is invalid_grant', async () => {
    const o = new OAuthClient({ baseUrl: base });
    const tok = await o.passwordGrant('erin', PASSWORD);
    assert.ok(tok.access_token && tok.refresh_token);
    const c = new NexodusClient({ baseUrl: base, token: tok.access_token });
    assert.equal((await c.getMe()).username, 'erin');
    const next = await o.refresh(tok.refresh_token!);
    assert.notEqual(next.refresh_token, tok.refresh_token);
    await assert.rejects(
      o.refresh(tok.refresh_token!),
      (e: unknown) => e instanceof OAuthClientError && e.error === 'invalid_grant',
    );
    await assert.rejects(
      o.passwordGrant('erin', 'wrong-password'),
      (e: unknown) => e instanceof OAuthClientError && e.status === 400,
    );
    await o.close();
  });

  it('device grant: pending until approved on the verification page, then tokens', async () => {
    const o = new OAuthClient({ baseUrl: base });
    const auth = await o.startDeviceAuthorization();
    assert.match(auth.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    let polls = 0;
    const sleep = async () => {
      polls++;
      if (polls === 2) {
        // The user approves in a browser after the first poll came back authorization_pending.
        const r = await fetch(`${base}/device`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            user_code: auth.user_code,
            username: 'erin',
            password: PASSWORD,
            action: 'approve',
          }),
        });
        assert.equal(r.status, 200);
        await r.text();
      }
    };
    const tok = await o.pollDeviceToken(auth, { sleep });
    assert.ok(polls >= 2, 'polled while pending');
    const c = new NexodusClient({ baseUrl: base, token: tok.access_token });
    assert.equal((await c.getMe()).username, 'erin');
    await o.close();
  });

  it('TokenSource refreshes shortly before expiry and shares one refresh between concurrent callers', async () => {
    const o = new OAuthClient({ baseUrl: base });
    const first = await o.passwordGrant('erin', PASSWORD);
    let now = 0;
    const src = new TokenSource(o, { ...first, expires_in: 600 }, undefined, () => now);
    assert.equal(await src.getToken(), first.access_token);
    now = 599_000; // inside the refresh margin
    const [a, b] = await Promise.all([src.getToken(), src.getToken()]);
    assert.equal(a, b);
    assert.notEqual(a, first.access_token);
    const c = new NexodusClient({ baseUrl: base, tokenProvider: src.getToken });
    assert.equal((await c.getMe()).username, 'erin');
    await o.close();
  });

  it('typed errors: 401 and 404 carry status and NEX_ERR code; a closed port is a network error', async () => {
    const anon = new NexodusClient({ baseUrl: base });
    await assert.rejects(
      anon.getMe(),
      (e: unknown) => e instanceof ApiError && e.status === 401 && e.code === 'NEX_ERR_UNAUTHENTICATED',
    );
    const o = new OAuthClient({ baseUrl: base });
    const tok = await o.passwordGrant('erin', PASSWORD);
    await o.close();
    const c = new NexodusClient({ baseUrl: base, token: tok.access_token });
    await assert.rejects(
      c.getDevice('00000000-0000-4000-8000-000000000000'),
      (e: unknown) => e instanceof ApiError && e.status === 404,
    );
    const dup = await c.createOrganization({ name: 'dup-org' });
    await assert.rejects(
      c.createOrganization({ name: 'dup-org' }),
      (e: unknown) => e instanceof ApiError && e.status === 409 && e.id === dup.id,
    );
    // ensureDevice: a second start with the same key updates and returns the same device, token included.
    const key = Buffer.alloc(32, 7).toString('base64');
    const first = await c.ensureDevice({ public_key: key, hostname: 'n1' });
    const again = await c.ensureDevice({
      public_key: key,
      hostname: 'n1-renamed',
      endpoints: [{ source: 'local', address: '10.0.0.9:51820' }],
    });
    assert.equal(again.id, first.id);
    assert.equal(again.hostname, 'n1-renamed');
    assert.equal(again.bearer_token, first.bearer_token);
    assert.deepEqual(again.ipv4_tunnel_ips, first.ipv4_tunnel_ips);
    const dead = new NexodusClient({ baseUrl: 'http://127.0.0.1:1' });
    await assert.rejects(
      dead.getMe(),
      (e: unknown) => e instanceof ApiError && e.status === 0 && e.code === 'NEX_CLIENT_ERR_NETWORK',
    );
    assert.throws(() => new NexodusClient({ baseUrl: 'ftp://x' }), TypeError);
  });
});
