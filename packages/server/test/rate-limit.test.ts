// SPDX-License-Identifier: Apache-2.0
// API rate limiting per principal: 429 NEX_ERR_RATE_LIMITED with Retry-After; other principals unaffected.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTestApp, newUser, type TestApp } from './helpers/app.js';

describe('API rate limit', { timeout: 30_000 }, () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite', { apiRateLimit: { max: 3, timeWindowMs: 60_000 } });
  });
  after(async () => t?.close());

  it('limits each principal separately and says when to retry', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    for (let i = 0; i < 3; i++)
      assert.equal((await call(t.app, { method: 'GET', url: '/api/vpcs', headers: a.headers })).status, 200);
    const limited = await call(t.app, { method: 'GET', url: '/api/vpcs', headers: a.headers });
    assert.equal(limited.status, 429);
    assert.equal(limited.json.code, 'NEX_ERR_RATE_LIMITED');
    assert.match(limited.json.error, /retry in \d+ s/);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(
      (await call(t.app, { method: 'GET', url: '/api/vpcs', headers: b.headers })).status,
      200,
      'b has its own budget',
    );
  });
});
