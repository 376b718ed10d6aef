// SPDX-License-Identifier: Apache-2.0
// Durability: a restart keeps all data; `kill -9` of a server process during a burst of writes leaves a
// consistent database that the next start serves.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/open.js';
import { SQLITE_FILE, startServer } from '../src/server.js';
import { ENGINES, engineSkip, sharedPostgres, stopSharedPostgres, wgKey } from './helpers/app.js';
import { spawnServer } from './helpers/spawn.js';
import { Collector } from './helpers/watch.js';

const ADMIN_PASSWORD = 'durable-admin-pw-1';
const quiet = () => {};

after(stopSharedPostgres);

async function login(url: string): Promise<NexodusClient> {
  const oauth = new OAuthClient({ baseUrl: url });
  const t = await oauth.passwordGrant('admin', ADMIN_PASSWORD);
  await oauth.close();
  return new NexodusClient({ baseUrl: url, token: t.access_token });
}

for (const engine of ENGINES) {
  describe(`durability on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    const dirs: string[] = [];
    const procs: ChildProcess[] = [];
    after(() => {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
    const tmp = () => {
      const d = mkdtempSync(join(tmpdir(), 'nexsrv-dur-'));
      dirs.push(d);
      return d;
    };
    const dbOpts = async () =>
      engine === 'postgres' ? { databaseUrl: await (await sharedPostgres()).createDatabase() } : {};

    it('a restart keeps users, organizations, VPCs, devices, metadata, keys and security groups', async () => {
      const stateDir = tmp();
      const o = {
        stateDir,
        httpListen: '127.0.0.1:0',
        issuer: 'http://nexodus.test',
        adminPassword: ADMIN_PASSWORD,
        logLevel: 'warn',
        print: quiet,
        ...(await dbOpts()),
      };
      const s1 = await startServer(o);
      const c1 = await login(s1.url);
      const me = await c1.getMe();
      const org = await c1.createOrganization({ name: 'keep' });
      const vpc = await c1.createVpc({ organization_id: org.id, ipv4_cidr: '10.5.0.0/24' });
      const dev = await c1.createDevice({ public_key: wgKey(), vpc_id: vpc.id, hostname: 'kept' });
      await c1.setDeviceMetadata(dev.id, 'k', { v: 1 });
      const key = await c1.createRegKey({ vpc_id: vpc.id, single_use: true });
      const sg = await c1.createSecurityGroup({
        vpc_id: vpc.id,
        inbound_rules: [{ ip_protocol: 'tcp', from_port: 22, to_port: 22 }],
      });
      // A device streaming when the server stops gracefully is marked offline before the database closes.
      const onKey = wgKey();
      const onDev = await c1.createDevice({ public_key: onKey, vpc_id: vpc.id, hostname: 'streaming' });
      const dc = new NexodusClient({ baseUrl: s1.url, token: onDev.bearer_token! });
      const st = new Collector(dc, vpc.id, [{ kind: 'device', gt_revision: 0 }], { publicKey: onKey });
      await st.waitFor((e) => e.some((x) => x.type === 'tail'), 5000, 'tail');
      assert.equal((await c1.getDevice(onDev.id)).online, true);
      await c1.close();
      await s1.close();
      await st.close();
      await dc.close();

      const s2 = await startServer(o);
      try {
        // The access token from before the restart still verifies: the signing key lives in the database.
        const c2 = await login(s2.url);
        assert.equal((await c2.getMe()).id, me.id);
        assert.deepEqual(await c2.getDevice(dev.id), { ...dev, bearer_token: dev.bearer_token });
        assert.deepEqual((await c2.getDeviceMetadata(dev.id, 'k')).value, { v: 1 });
        assert.equal((await c2.getRegKey(key.id)).bearer_token, key.bearer_token);
        assert.deepEqual((await c2.getSecurityGroup(sg.id)).inbound_rules, sg.inbound_rules);
        assert.equal((await c2.getVpc(vpc.id)).ipv4_cidr, '10.5.0.0/24');
        assert.equal((await c2.getDevice(onDev.id)).online, false, 'offline after a graceful stop');
        const next = await c2.createDevice({ public_key: wgKey(), vpc_id: vpc.id });
        assert.equal(next.ipv4_tunnel_ips[0]!.address, '10.5.0.3', 'IPAM continues after the restart');
        assert.ok(next.revision > dev.revision);
        await c2.close();
      } finally {
        await s2.close();
      }
    });

    it('kill -9 during a burst of writes leaves a consistent database', async () => {
      const stateDir = tmp();
      const db = await dbOpts();
      const extra = db.databaseUrl ? ['--database-url', db.databaseUrl] : [];
      const first = await spawnServer(['--state-dir', stateDir, ...extra], ADMIN_PASSWORD);
      procs.push(first.proc);
      const c = await login(first.url);
      const vpcId = (await c.getMe()).id;
      // A device with an open stream is online when the server dies.
      const onlineKey = wgKey();
      const onlineDev = await c.createDevice({ public_key: onlineKey, hostname: 'online' });
      const dc = new NexodusClient({ baseUrl: first.url, token: onlineDev.bearer_token! });
      const stream = new Collector(dc, vpcId, [{ kind: 'device', gt_revision: 0 }], { publicKey: onlineKey });
      await stream.waitFor((e) => e.some((x) => x.type === 'tail'), 10_000, 'tail');
      assert.equal((await c.getDevice(onlineDev.id)).online, true);
      let ok = 0;
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const d = await c.createDevice({ public_key: wgKey(), hostname: `w${w}-${i}` });
            await c.setDeviceMetadata(d.id, 'm', { i });
            if (i % 3 === 0) await c.deleteDevice(d.id);
            ok++;
          } catch {
            return; // the server died under us
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      while (ok < 20) await new Promise((r) => setTimeout(r, 10));
      first.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await c.close();
      await stream.close();
      await dc.close();

      const check = await openDatabase(
        db.databaseUrl ? { url: db.databaseUrl } : { sqlitePath: join(stateDir, SQLITE_FILE) },
      );
      try {
        if (engine === 'sqlite') {
          const ic = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(check);
          assert.equal(ic.rows[0]?.integrity_check, 'ok');
          const fk = await sql`PRAGMA foreign_key_check`.execute(check);
          assert.deepEqual(fk.rows, [], 'no dangling foreign keys');
        }
        const devices = await check
          .selectFrom('devices')
          .select(['id', 'revision'])
          .where('vpc_id', '=', vpcId)
          .execute();
        assert.ok(devices.length > 0);
        const allocs = await check
          .selectFrom('ip_allocations')
          .select(['device_id', 'address'])
          .where('vpc_id', '=', vpcId)
          .execute();
        const perDevice = new Map<string, number>();
        for (const a of allocs) perDevice.set(a.device_id, (perDevice.get(a.device_id) ?? 0) + 1);
        for (const d of devices)
          assert.equal(perDevice.get(d.id), 2, `device ${d.id} has one IPv4 and one IPv6 address`);
        assert.equal(allocs.length, devices.length * 2, 'no address without its device');
        const ids = new Set(devices.map((d) => d.id));
        const meta = await check
          .selectFrom('device_metadata')
          .select('device_id')
          .where('vpc_id', '=', vpcId)
          .execute();
        assert.ok(
          meta.every((m) => ids.has(m.device_id)),
          'no metadata without its device',
        );
        const counter = await check
          .selectFrom('vpc_revisions')
          .select('revision')
          .where('vpc_id', '=', vpcId)
          .executeTakeFirstOrThrow();
        const tomb = await check
          .selectFrom('tombstones')
          .select('revision')
          .where('vpc_id', '=', vpcId)
          .execute();
        const maxRev = Math.max(...devices.map((d) => d.revision), ...tomb.map((t) => t.revision));
        assert.ok(counter.revision >= maxRev, 'the revision counter is ahead of every stored revision');
      } finally {
        await check.destroy();
      }

      const second = await spawnServer(['--state-dir', stateDir, ...extra], ADMIN_PASSWORD);
      procs.push(second.proc);
      const c2 = await login(second.url);
      const d = await c2.createDevice({ public_key: wgKey(), hostname: 'after-crash' });
      assert.equal(d.vpc_id, vpcId);
      if (engine === 'sqlite') {
        // One process owns a SQLite file, so a start knows no stream survived the crash.
        assert.equal((await c2.getDevice(onlineDev.id)).online, false);
      }
      await c2.close();
      second.proc.kill('SIGTERM');
      await new Promise((r) => second.proc.once('exit', r));
    });
  });
}
