// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  call,
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  wgKey,
} from './helpers/app.js';

describe('smoke', { timeout: 60_000 }, () => {
  after(stopSharedPostgres);
  for (const engine of ENGINES) {
    // Skips (with the reason) where PostgreSQL is not installed, like every other engine loop.
    it(`${engine}: register a device`, { skip: engineSkip(engine) }, async () => {
      const t = await createTestApp(engine);
      try {
        const u = await newUser(t);
        const me = await call(t.app, { method: 'GET', url: '/api/users/me', headers: u.headers });
        assert.equal(me.status, 200, me.body);
        const r = await call(t.app, {
          method: 'POST',
          url: '/api/devices',
          headers: u.headers,
          payload: { public_key: wgKey(), vpc_id: u.id, hostname: 'a' },
        });
        assert.equal(r.status, 201, r.body);
        assert.equal(r.json.ipv4_tunnel_ips[0].address, '100.100.0.1');
        assert.equal(r.json.ipv6_tunnel_ips[0].address, '200::1');
      } finally {
        await t.close();
      }
    });
  }
});
