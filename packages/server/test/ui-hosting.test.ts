// SPDX-License-Identifier: Apache-2.0
// Static hosting of the web UI at `/`: files and client-side routes are served with the UI's CSP, while the
// API, the identity pages and the JSON 404 stay untouched.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UI_ROUTES } from '../src/ui-hosting.js';
import { call, createTestApp, type TestApp } from './helpers/app.js';

describe('web UI hosting', () => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ui-hosting-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Nexodus UI</title><div id="root"></div>');
    writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
    t = await createTestApp('sqlite', { uiDir: dir });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every client-side route answers index.html with the UI policy and no caching', async () => {
    for (const route of UI_ROUTES) {
      const url = route.replace(':id', '6f1c0f38-0d55-4f63-9f5b-1d2b1e0f0a11');
      const r = await call(t.app, { method: 'GET', url });
      assert.equal(r.status, 200, url);
      assert.match(r.body, /Nexodus UI/, url);
      assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
      assert.equal(r.headers['x-frame-options'], 'DENY');
      assert.equal(r.headers['cache-control'], 'no-cache');
    }
  });

  it('assets are served by exact path, immutable', async () => {
    const r = await call(t.app, { method: 'GET', url: '/assets/index-abc.js' });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /javascript/);
    assert.match(String(r.headers['cache-control']), /immutable/);
  });

  it('does not shadow the API, the identity pages or the JSON 404', async () => {
    const api = await call(t.app, { method: 'GET', url: '/api/devices' });
    assert.equal(api.status, 401);
    const missing = await call(t.app, { method: 'GET', url: '/api/nothing-here' });
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.json.error, 'string');
    const unknownPage = await call(t.app, { method: 'GET', url: '/not-a-ui-route' });
    assert.equal(unknownPage.status, 404);
    assert.equal(typeof unknownPage.json.error, 'string');
    const device = await call(t.app, { method: 'GET', url: '/device' });
    assert.equal(device.status, 200);
    assert.match(device.body, /Connect a device/);
    const wk = await call(t.app, { method: 'GET', url: '/.well-known/openid-configuration' });
    assert.equal(wk.status, 200);
    const token = await call(t.app, { method: 'GET', url: '/oauth2/token' });
    assert.equal(token.status, 404);
  });

  it('without a build, / says how to build the UI', async () => {
    const bare = await createTestApp('sqlite', { uiDir: join(dir, 'missing') });
    try {
      const r = await call(bare.app, { method: 'GET', url: '/' });
      assert.equal(r.status, 200);
      assert.match(r.body, /npm run build/);
    } finally {
      await bare.close();
    }
  });
});
