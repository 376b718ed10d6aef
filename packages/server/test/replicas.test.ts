// SPDX-License-Identifier: Apache-2.0
// Two server processes on one PostgreSQL: a device created through replica A reaches a watch stream opened on
// replica B within 1 s (LISTEN/NOTIFY), and tokens issued by one replica work on the other.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import { engineSkip, sharedPostgres, stopSharedPostgres, wgKey } from './helpers/app.js';
import { spawnServer, stopServer } from './helpers/spawn.js';
import { Collector } from './helpers/watch.js';

const PW = 'replica-admin-pw-1';

describe('two replicas on one PostgreSQL', { skip: engineSkip('postgres'), timeout: 120_000 }, () => {
  let a: { proc: ChildProcess; url: string };
  let b: { proc: ChildProcess; url: string };
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nexsrv-rep-'));
    const url = await (await sharedPostgres()).createDatabase();
    const args = ['--database-url', url, '--issuer', 'http://nexodus.test'];
    // One at a time: the first start runs the migrations and creates the admin.
    a = await spawnServer([...args, '--state-dir', join(dir, 'a')], PW);
    b = await spawnServer([...args, '--state-dir', join(dir, 'b')], PW);
  });
  after(async () => {
    if (a) await stopServer(a.proc);
    if (b) await stopServer(b.proc);
    await stopSharedPostgres();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a device created via A reaches a stream on B within 1 s; a B token works on A', async () => {
    const oauth = new OAuthClient({ baseUrl: b.url });
    const tok = await oauth.passwordGrant('admin', PW);
    await oauth.close();
    const onA = new NexodusClient({ baseUrl: a.url, token: tok.access_token });
    const onB = new NexodusClient({ baseUrl: b.url, token: tok.access_token });
    const vpcId = (await onA.getMe()).id;
    const stream = new Collector(onB, vpcId, [
      { kind: 'device', gt_revision: 0 },
      { kind: 'device-metadata', gt_revision: 0 },
    ]);
    try {
      await stream.waitFor((e) => e.filter((x) => x.type === 'tail').length === 2, 5000, 'tails');
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const d = await onA.createDevice({ public_key: wgKey(), hostname: `rep${i}` });
        await stream.waitFor(
          (e) => e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === d.id),
          1000,
          `device ${i} on B`,
        );
        assert.ok(performance.now() - t0 < 1000);
        await onA.setDeviceMetadata(d.id, 'k', i);
        await stream.waitFor(
          (e) =>
            e.some((x) => x.type === 'change' && x.kind === 'device-metadata' && x.value.device_id === d.id),
          1000,
          'metadata on B',
        );
      }
      // Concurrent writers on both replicas: the stream on B sees every device once, in revision order.
      const created = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? onA : onB).createDevice({ public_key: wgKey(), hostname: `both${i}` }),
        ),
      );
      const want = new Set(created.map((d) => d.id));
      await stream.waitFor(
        (e) =>
          [...want].every((id) =>
            e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === id),
          ),
        5000,
        'all 40 devices on B',
      );
      const revs = stream.events
        .filter((x) => x.type === 'change' && x.kind === 'device')
        .map((x) => (x.value as { revision: number }).revision);
      assert.deepEqual(
        revs,
        [...revs].sort((x, y) => x - y),
        'revisions arrive in increasing order',
      );
      assert.equal(new Set(revs).size, revs.length, 'no revision delivered twice');
      assert.equal(
        new Set(created.map((d) => d.ipv4_tunnel_ips[0]!.address)).size,
        40,
        'distinct addresses across replicas',
      );
    } finally {
      await stream.close();
      await onA.close();
      await onB.close();
    }
  });
});
