// SPDX-License-Identifier: Apache-2.0
// The original Nexodus contract, byte for byte where it matters to its clients: the shapes of the defaults a
// user gets on first use, the error bodies, and the routes the original has beside the core ones (feature
// flags, users, organization members, reg-key PATCH, device metadata clear, the /private probes). Bodies are
// compared as raw strings, so field order and what is omitted are checked too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  call,
  callAs,
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  type TestApp,
  type TestUser,
  wgKey,
} from './helpers/app.js';

after(stopSharedPostgres);

for (const engine of ENGINES) {
  describe(`original contract on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    before(async () => {
      t = await createTestApp(engine);
      alice = await newUser(t, `alice${engine}`);
      bob = await newUser(t, `bob${engine}`);
    });
    after(async () => t?.close());

    const req = (method: string, u: TestUser | undefined, url: string, payload?: unknown) =>
      callAs(t.app, method, u, url, payload);

    it('defaults on first use: "<user>\'s organization", "default vpc" with revision, its security group', async () => {
      const orgs = await req('GET', alice, '/api/organizations');
      assert.equal(orgs.status, 200);
      assert.equal(
        orgs.body,
        JSON.stringify([{ id: alice.id, name: alice.name, description: `${alice.name}'s organization` }]),
      );
      const vpc = await req('GET', alice, `/api/vpcs/${alice.id}`);
      assert.deepEqual(Object.keys(vpc.json), [
        'id',
        'organization_id',
        'description',
        'ipv4_cidr',
        'ipv6_cidr',
        'private_cidr',
        'revision',
      ]);
      assert.equal(vpc.json.description, 'default vpc');
      assert.equal(vpc.json.organization_id, alice.id);
      assert.equal(typeof vpc.json.revision, 'number');
      const sg = await req('GET', alice, `/api/security-groups/${alice.id}`);
      // No rules: the lists are omitted, as the original's omitempty writes them.
      assert.equal(
        sg.body,
        JSON.stringify({
          id: alice.id,
          vpc_id: alice.id,
          description: 'default vpc security group',
          revision: sg.json.revision,
        }),
      );
      // A VPC's revision moves when it changes.
      const patched = await req('PATCH', alice, `/api/vpcs/${alice.id}`, { description: 'default vpc' });
      assert.ok(patched.json.revision > vpc.json.revision);
      const me = await req('GET', alice, '/api/users/me');
      assert.equal(
        me.body,
        JSON.stringify({ id: alice.id, full_name: '', picture: '', username: alice.name }),
      );
    });

    it('error bodies: not found, path parameter invalid, resource already exists, operation not allowed, 401', async () => {
      const bobVpc = await req('GET', alice, `/api/vpcs/${bob.id}`);
      assert.equal(bobVpc.status, 404);
      assert.equal(bobVpc.body, '{"error":"not found","resource":"vpc"}');
      const bad = await req('GET', alice, '/api/vpcs/not-a-uuid');
      assert.equal(bad.status, 400);
      assert.equal(bad.body, '{"error":"path parameter invalid","field":"id"}');
      const key = wgKey();
      const d = await req('POST', alice, '/api/devices', {
        public_key: key,
        vpc_id: alice.id,
        hostname: 'h',
      });
      assert.equal(d.status, 201, d.body);
      const dup = await req('POST', alice, '/api/devices', {
        public_key: key,
        vpc_id: alice.id,
        hostname: 'h',
      });
      assert.equal(dup.status, 409);
      assert.equal(dup.body, `{"id":"${d.json.id}","error":"resource already exists"}`);
      // A device token changing another device: not allowed, with the reason.
      const other = await req('POST', alice, '/api/devices', { public_key: wgKey(), vpc_id: alice.id });
      const asDevice = await call(t.app, {
        method: 'PATCH',
        url: `/api/devices/${other.json.id}`,
        headers: { authorization: `Bearer ${d.json.bearer_token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ hostname: 'x' }),
      });
      assert.equal(asDevice.status, 403);
      assert.deepEqual(Object.keys(asDevice.json), ['error', 'reason']);
      assert.equal(asDevice.json.error, 'operation not allowed');
      const anon = await req('GET', undefined, '/api/fflags');
      assert.equal(anon.status, 401);
    });

    it('GET /api/fflags and /api/fflags/{name}', async () => {
      const f = await req('GET', alice, '/api/fflags');
      assert.equal(f.status, 200);
      assert.equal(
        f.body,
        '{"ca":false,"devices":true,"multi-organization":true,"security-groups":true,"sites":false}',
      );
      assert.equal((await req('GET', alice, '/api/fflags/devices')).body, '{"devices":true}');
      const nf = await req('GET', alice, '/api/fflags/nope');
      assert.equal(nf.body, '{"error":"not found","resource":"flag"}');
      assert.equal((await req('GET', alice, '/api/fflags/toString')).status, 404);
    });

    it('users: list, get (me and by id), other users 404; organization members', async () => {
      const user = { id: alice.id, full_name: '', picture: '', username: alice.name };
      assert.equal((await req('GET', alice, '/api/users')).body, JSON.stringify([user]));
      assert.equal((await req('GET', alice, `/api/users/${alice.id}`)).body, JSON.stringify(user));
      const nf = await req('GET', alice, `/api/users/${bob.id}`);
      assert.equal(nf.status, 404);
      assert.equal(nf.body, '{"error":"not found","resource":"user"}');
      const member = { organization_id: alice.id, user_id: alice.id, roles: ['owner'], user };
      assert.equal(
        (await req('GET', alice, `/api/organizations/${alice.id}/users`)).body,
        JSON.stringify([member]),
      );
      assert.equal(
        (await req('GET', alice, `/api/organizations/${alice.id}/users/${alice.id}`)).body,
        JSON.stringify(member),
      );
      assert.equal((await req('GET', bob, `/api/organizations/${alice.id}/users`)).status, 404);
      assert.equal((await req('GET', alice, `/api/organizations/${alice.id}/users/${bob.id}`)).status, 404);
      const leave = await req('DELETE', alice, `/api/organizations/${alice.id}/users/${alice.id}`);
      assert.equal(leave.status, 403);
      assert.equal(leave.json.error, 'operation not allowed');
      const leave2 = await req('DELETE', alice, `/api/users/${alice.id}/organizations/${alice.id}`);
      assert.equal(leave2.status, 403);
      assert.equal((await req('DELETE', alice, `/api/users/${bob.id}/organizations/${bob.id}`)).status, 404);
    });

    it('PATCH /api/reg-keys/{id} changes only the given fields; foreign keys 404', async () => {
      const k = await req('POST', alice, '/api/reg-keys', { vpc_id: alice.id, description: 'before' });
      assert.equal(k.status, 201, k.body);
      const p = await req('PATCH', alice, `/api/reg-keys/${k.json.id}`, {
        description: 'after',
        expires_at: '2099-01-01T00:00:00Z',
      });
      assert.equal(p.status, 200, p.body);
      assert.equal(p.json.description, 'after');
      assert.equal(p.json.expires_at, '2099-01-01T00:00:00.000Z');
      assert.equal(p.json.bearer_token, k.json.bearer_token);
      assert.equal((await req('GET', alice, `/api/reg-keys/${k.json.id}`)).json.description, 'after');
      const bad = await req('PATCH', alice, `/api/reg-keys/${k.json.id}`, { expires_at: 'soon' });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.field, 'expires_at');
      const foreign = await req('PATCH', bob, `/api/reg-keys/${k.json.id}`, { description: 'x' });
      assert.equal(foreign.body, '{"error":"not found","resource":"reg key"}');
    });

    it('DELETE /api/devices/{id}/metadata removes every key (204); other users get 404', async () => {
      const d = await req('POST', alice, '/api/devices', { public_key: wgKey(), vpc_id: alice.id });
      for (const key of ['a', 'b']) {
        assert.equal(
          (await req('PUT', alice, `/api/devices/${d.json.id}/metadata/${key}`, { v: key })).status,
          200,
        );
      }
      const del = await req('DELETE', alice, `/api/devices/${d.json.id}/metadata`);
      assert.equal(del.status, 204);
      assert.equal(del.body, '');
      assert.equal((await req('GET', alice, `/api/devices/${d.json.id}/metadata`)).body, '[]');
      assert.equal((await req('DELETE', bob, `/api/devices/${d.json.id}/metadata`)).status, 404);
    });

    it('/metrics: requests and latency per route pattern, watch streams open, the database pool', async () => {
      await req('GET', alice, `/api/vpcs/${alice.id}`);
      await req('GET', alice, '/api/devices/00000000-0000-4000-8000-000000000000');
      const m = await req('GET', undefined, '/metrics');
      assert.equal(m.status, 200);
      assert.match(String(m.headers['content-type']), /^text\/plain/);
      // The route pattern, not the URL: ids never become labels.
      assert.match(
        m.body,
        /nexodus_server_http_requests_total\{method="GET",route="\/api\/vpcs\/:id",status="200"\} [1-9]/,
      );
      assert.match(
        m.body,
        /nexodus_server_http_requests_total\{method="GET",route="\/api\/devices\/:id",status="404"\} 1/,
      );
      assert.doesNotMatch(m.body, new RegExp(alice.id));
      assert.match(
        m.body,
        /nexodus_server_http_request_duration_seconds_bucket\{le="0.1",method="GET",route="\/api\/vpcs\/:id"\}/,
      );
      assert.match(m.body, /nexodus_server_watch_streams_open 0/);
      if (engine === 'postgres')
        assert.match(m.body, /nexodus_server_db_pool_connections\{state="total"\} [1-9]/);
      else assert.doesNotMatch(m.body, /nexodus_server_db_pool_connections\{/);
    });

    it('POST /api/events: one stream, the VPC named in options; two VPCs or no body are 400', async () => {
      const d = await req('POST', alice, '/api/devices', {
        public_key: wgKey(),
        vpc_id: alice.id,
        hostname: 'ev',
      });
      assert.equal(d.status, 201, d.body);
      const two = await req('POST', alice, '/api/events', [
        { kind: 'device', options: { 'vpc-id': alice.id } },
        { kind: 'security-group', options: { 'vpc-id': bob.id } },
      ]);
      assert.equal(two.status, 400);
      assert.equal(two.json.field, 'options');
      assert.equal((await req('POST', alice, '/api/events')).status, 400);
      const foreign = await req('POST', alice, '/api/events', [
        { kind: 'device', options: { 'vpc-id': bob.id } },
      ]);
      assert.equal(foreign.body, '{"error":"not found","resource":"vpc"}');
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const a = t.app.server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
        method: 'POST',
        headers: { ...alice.headers, 'content-type': 'application/json' },
        body: JSON.stringify([
          { kind: 'device', options: { 'vpc-id': alice.id } },
          { kind: 'security-group', options: { 'vpc-id': alice.id } },
        ]),
        signal: ac.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let text = '';
      const dec = new TextDecoder();
      // Until both kinds reached their tail (the initial list sent).
      while ((text.match(/"type":"tail"/g) ?? []).length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
      ac.abort();
      const events = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; kind: string; value: { id?: string } });
      assert.ok(events.some((e) => e.type === 'change' && e.kind === 'device' && e.value.id === d.json.id));
      assert.ok(
        events.some((e) => e.type === 'change' && e.kind === 'security-group' && e.value.id === alice.id),
      );
    });

    it('/private/live and /private/ready answer without a token', async () => {
      for (const url of ['/private/live', '/private/ready']) {
        for (const method of ['GET', 'POST']) {
          const r = await req(method, undefined, url);
          assert.equal(r.status, 200, `${method} ${url}`);
          assert.equal(r.body, '{"status":"UP"}');
        }
      }
    });
  });
}
