// SPDX-License-Identifier: Apache-2.0
// /healthz and /readyz (the probes of the Helm chart and the image test): open without a token, ready while
// the database answers, 503 once it does not.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createTestApp, ENGINES, engineSkip, stopSharedPostgres } from './helpers/app.js';

describe('health probes', { timeout: 60_000 }, () => {
  after(stopSharedPostgres);
  for (const engine of ENGINES) {
    it(`${engine}: /healthz, /readyz and /metrics answer without a token; /readyz is 503 without a database`, {
      skip: engineSkip(engine),
    }, async () => {
      const t = await createTestApp(engine);
      try {
        const live = await t.app.inject({ method: 'GET', url: '/healthz' });
        assert.equal(live.statusCode, 200);
        assert.deepEqual(live.json(), { status: 'UP' });
        const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 200);
        assert.deepEqual(ready.json(), { status: 'UP' });
        const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
        assert.equal(metrics.statusCode, 200);
        assert.match(metrics.headers['content-type'] as string, /^text\/plain/);
        assert.match(metrics.body, /^nexodus_server_process_cpu_seconds_total \d/m);
        await t.db.destroy();
        const gone = await t.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(gone.statusCode, 503);
        assert.equal(gone.json().status, 'DOWN');
        assert.match(gone.json().error, /database/);
        assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still live');
      } finally {
        await t.app.close();
      }
    });
  }
});
