// SPDX-License-Identifier: Apache-2.0
// Invitations, organization membership, service networks and sites (issue 9), on SQLite and PostgreSQL.
// Bodies are compared as raw strings where the original's field order and omissions matter.
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

const DAY_MS = 24 * 60 * 60 * 1000;

for (const engine of ENGINES) {
  describe(`invitations and sites on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    let carol: TestUser;
    before(async () => {
      t = await createTestApp(engine, { fflags: { sites: true } });
      alice = await newUser(t, `alice${engine}`);
      bob = await newUser(t, `bob${engine}`);
      carol = await newUser(t, `carol${engine}`);
    });
    after(async () => t?.close());

    const req = (method: string, u: TestUser | undefined, url: string, payload?: unknown) =>
      callAs(t.app, method, u, url, payload);
    const user = (u: TestUser) => ({ id: u.id, full_name: '', picture: '', username: u.name });
    const aliceOrg = () => ({ id: alice.id, name: alice.name, description: `${alice.name}'s organization` });

    it('an owner invites by user id: the original shape, from and organization embedded, a week to accept', async () => {
      const before = Date.now();
      const r = await req('POST', alice, '/api/invitations', { user_id: bob.id, organization_id: alice.id });
      assert.equal(r.status, 201, r.body);
      const inv = r.json;
      assert.equal(
        r.body,
        JSON.stringify({
          id: inv.id,
          user_id: bob.id,
          from: user(alice),
          organization_id: alice.id,
          organization: aliceOrg(),
          roles: ['member'],
          expires_at: inv.expires_at,
        }),
      );
      const expires = Date.parse(inv.expires_at);
      assert.ok(expires >= before + 7 * DAY_MS && expires <= Date.now() + 7 * DAY_MS, inv.expires_at);

      // A second one while the first is pending: 409 naming it.
      const again = await req('POST', alice, '/api/invitations', {
        user_id: bob.id,
        organization_id: alice.id,
      });
      assert.equal(again.status, 409);
      assert.equal(again.body, JSON.stringify({ id: inv.id, error: 'resource already exists' }));

      // The invitee and the owner see it; anyone else does not.
      assert.deepEqual(
        (await req('GET', bob, '/api/invitations')).json.map((x: { id: string }) => x.id),
        [inv.id],
      );
      assert.equal((await req('GET', bob, `/api/invitations/${inv.id}`)).body, r.body);
      assert.equal((await req('GET', alice, `/api/invitations/${inv.id}`)).status, 200);
      assert.equal((await req('GET', carol, '/api/invitations')).body, '[]');
      const hidden = await req('GET', carol, `/api/invitations/${inv.id}`);
      assert.equal(hidden.status, 404);
      assert.equal(hidden.body, '{"error":"not found","resource":"invitation"}');
      const bad = await req('GET', carol, '/api/invitations/not-a-uuid');
      assert.equal(bad.status, 400);
      assert.equal(bad.body, '{"error":"path parameter invalid","field":"id"}');

      // Only the invitee accepts; a body-less POST with a JSON content type is accepted.
      assert.equal((await req('POST', alice, `/api/invitations/${inv.id}/accept`)).status, 404);
      const ok = await call(t.app, {
        method: 'POST',
        url: `/api/invitations/${inv.id}/accept`,
        headers: { ...bob.headers, 'content-type': 'application/json' },
      });
      assert.equal(ok.status, 204, ok.body);
      assert.equal(ok.body, '');
      assert.equal((await req('GET', bob, `/api/invitations/${inv.id}`)).status, 404);

      // Bob is a member now: he sees the organization and its members, the owner first.
      const orgs = await req('GET', bob, '/api/organizations');
      assert.ok(
        orgs.json.some((o: { id: string }) => o.id === alice.id),
        orgs.body,
      );
      assert.equal(
        (await req('GET', bob, `/api/organizations/${alice.id}`)).body,
        JSON.stringify(aliceOrg()),
      );
      const members = await req('GET', alice, `/api/organizations/${alice.id}/users`);
      assert.equal(
        members.body,
        JSON.stringify([
          { organization_id: alice.id, user_id: alice.id, roles: ['owner'], user: user(alice) },
          { organization_id: alice.id, user_id: bob.id, roles: ['member'], user: user(bob) },
        ]),
      );
      // Members see each other as users; others still do not.
      assert.equal((await req('GET', alice, '/api/users')).body, JSON.stringify([user(alice), user(bob)]));
      assert.equal((await req('GET', bob, `/api/users/${alice.id}`)).body, JSON.stringify(user(alice)));
      assert.equal((await req('GET', carol, `/api/users/${alice.id}`)).status, 404);
      // ...but a member does not delete it, nor invite into it.
      assert.equal((await req('DELETE', bob, `/api/organizations/${alice.id}`)).status, 404);
      const byMember = await req('POST', bob, '/api/invitations', {
        user_id: carol.id,
        organization_id: alice.id,
      });
      assert.equal(byMember.status, 404);
      assert.equal(byMember.body, '{"error":"not found","resource":"organization"}');

      // Inviting a member again: the original's 400.
      const member = await req('POST', alice, '/api/invitations', {
        user_id: bob.id,
        organization_id: alice.id,
      });
      assert.equal(member.status, 400);
      assert.equal(member.body, '{"error":"user is already in requested org","field":"organization"}');

      // Bob leaves; the owner cannot.
      assert.equal((await req('DELETE', bob, `/api/users/me/organizations/${alice.id}`)).status, 204);
      assert.ok(
        !(await req('GET', bob, '/api/organizations')).json.some((o: { id: string }) => o.id === alice.id),
      );
      assert.equal((await req('GET', bob, `/api/organizations/${alice.id}`)).status, 404);
      assert.equal(
        (await req('DELETE', alice, `/api/organizations/${alice.id}/users/${alice.id}`)).status,
        403,
      );
    });

    it('bad requests: the original bodies for missing fields, unknown users and organizations', async () => {
      const none = await req('POST', alice, '/api/invitations', { organization_id: alice.id });
      assert.equal(none.status, 400);
      assert.equal(none.body, '{"error":"field not present","field":"email or user_id"}');
      const noOrg = await req('POST', alice, '/api/invitations', { user_id: bob.id });
      assert.equal(noOrg.body, '{"error":"field not present","field":"organization_id"}');
      const empty = await call(t.app, {
        method: 'POST',
        url: '/api/invitations',
        headers: { ...alice.headers, 'content-type': 'application/json' },
      });
      assert.equal(empty.status, 400, 'a body-less create is a bad request');
      const ghost = await req('POST', alice, '/api/invitations', {
        user_id: '00000000-0000-4000-8000-000000000000',
        organization_id: alice.id,
      });
      assert.equal(ghost.status, 404);
      assert.equal(ghost.body, '{"error":"not found","resource":"user"}');
      const foreign = await req('POST', alice, '/api/invitations', {
        user_id: carol.id,
        organization_id: bob.id,
      });
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body, '{"error":"not found","resource":"organization"}');
      const role = await req('POST', alice, '/api/invitations', {
        user_id: carol.id,
        organization_id: alice.id,
        roles: ['admin'],
      });
      assert.equal(role.status, 400);
      assert.equal(role.json.field, 'roles[0]');
    });

    it('by e-mail: a user who signs up later with that login name sees and accepts it, with its roles', async () => {
      const email = `dave.${engine}@example.com`;
      const r = await req('POST', alice, '/api/invitations', {
        email: email.toUpperCase(),
        organization_id: alice.id,
        roles: ['owner'],
      });
      assert.equal(r.status, 201, r.body);
      assert.deepEqual(Object.keys(r.json), [
        'id',
        'email',
        'from',
        'organization_id',
        'organization',
        'roles',
        'expires_at',
      ]);
      assert.equal(r.json.email, email);
      const dave = await newUser(t, email);
      const seen = await req('GET', dave, '/api/invitations');
      assert.deepEqual(
        seen.json.map((x: { id: string }) => x.id),
        [r.json.id],
      );
      assert.equal((await req('POST', dave, `/api/invitations/${r.json.id}/accept`)).status, 204);
      const m = await req('GET', dave, `/api/organizations/${alice.id}/users/${dave.id}`);
      assert.deepEqual(m.json.roles, ['owner']);
      // An owner by role invites too (carol), and may remove a plain member.
      const inv = await req('POST', dave, '/api/invitations', {
        user_id: carol.id,
        organization_id: alice.id,
      });
      assert.equal(inv.status, 201, inv.body);
      assert.equal((await req('POST', carol, `/api/invitations/${inv.json.id}/accept`)).status, 204);
      assert.equal(
        (await req('DELETE', carol, `/api/organizations/${alice.id}/users/${dave.id}`)).status,
        403,
      );
      assert.equal(
        (await req('DELETE', dave, `/api/organizations/${alice.id}/users/${carol.id}`)).status,
        204,
      );
      assert.equal((await req('GET', carol, `/api/organizations/${alice.id}`)).status, 404);
      assert.equal(
        (await req('DELETE', alice, `/api/organizations/${alice.id}/users/${dave.id}`)).status,
        204,
      );
    });

    it('expiry, decline, withdraw; lists ordered by id', async () => {
      const a = await req('POST', bob, '/api/invitations', { user_id: carol.id, organization_id: bob.id });
      assert.equal(a.status, 201, a.body);
      await t.db
        .updateTable('invitations')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', a.json.id)
        .execute();
      const late = await req('POST', carol, `/api/invitations/${a.json.id}/accept`);
      assert.equal(late.status, 404);
      assert.equal(late.body, '{"error":"not found","resource":"invitation"}');
      // An expired invitation no longer blocks a new one; both are listed, by id.
      const b = await req('POST', bob, '/api/invitations', { user_id: carol.id, organization_id: bob.id });
      assert.equal(b.status, 201, b.body);
      const c = await req('POST', bob, '/api/invitations', { user_id: alice.id, organization_id: bob.id });
      const ids = (await req('GET', bob, '/api/invitations')).json.map((x: { id: string }) => x.id);
      assert.deepEqual(ids, [a.json.id, b.json.id, c.json.id].sort());
      // The invitee declines, the owner withdraws.
      assert.equal((await req('DELETE', carol, `/api/invitations/${b.json.id}`)).status, 204);
      assert.equal((await req('DELETE', bob, `/api/invitations/${c.json.id}`)).status, 204);
      assert.equal((await req('DELETE', alice, `/api/invitations/${c.json.id}`)).status, 404);
      assert.deepEqual(
        (await req('GET', bob, '/api/invitations')).json.map((x: { id: string }) => x.id),
        [a.json.id],
      );
    });

    it('service networks: the original shape, by description, members read and owners write', async () => {
      const missing = await req('POST', alice, '/api/service-networks', { description: 'x' });
      assert.equal(missing.status, 400);
      assert.equal(missing.body, '{"error":"field not present","field":"organization_id"}');
      const b = await req('POST', alice, '/api/service-networks', {
        organization_id: alice.id,
        description: 'b',
      });
      assert.equal(b.status, 201, b.body);
      assert.equal(
        b.body,
        JSON.stringify({
          id: b.json.id,
          organization_id: alice.id,
          description: 'b',
          revision: b.json.revision,
        }),
      );
      const a = await req('POST', alice, '/api/service-networks', {
        organization_id: alice.id,
        description: 'a',
      });
      assert.ok(a.json.revision > b.json.revision);
      const list = await req('GET', alice, '/api/service-networks');
      assert.deepEqual(
        list.json.map((x: { description: string }) => x.description),
        ['a', 'b'],
      );
      assert.equal((await req('GET', bob, `/api/service-networks/${a.json.id}`)).status, 404);
      assert.equal((await req('GET', bob, '/api/service-networks')).body, '[]');
      const foreign = await req('POST', bob, '/api/service-networks', { organization_id: alice.id });
      assert.equal(foreign.body, '{"error":"not found","resource":"organization"}');

      // Concurrent writers get distinct revisions (the counter row, not a max() read).
      const many = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          req('POST', alice, '/api/service-networks', { organization_id: alice.id, description: `n${i}` }),
        ),
      );
      const revs = many.map((m) => m.json.revision as number);
      assert.equal(new Set(revs).size, revs.length, String(revs));
      for (const m of many)
        assert.equal((await req('DELETE', alice, `/api/service-networks/${m.json.id}`)).status, 200);
      const upd = await req('PATCH', alice, `/api/service-networks/${a.json.id}`, { description: 'c' });
      assert.equal(upd.status, 200);
      assert.equal(upd.json.description, 'c');
      assert.ok(upd.json.revision > a.json.revision);
      const del = await req('DELETE', alice, `/api/service-networks/${b.json.id}`);
      assert.equal(del.status, 200);
      assert.equal(del.json.id, b.json.id);
      const gone = await req('GET', alice, `/api/service-networks/${b.json.id}`);
      assert.equal(gone.body, '{"error":"not found","resource":"service_network"}');
    });

    it('sites: the token for the owner and the site itself (its own site only), 409 on a second public key, no network delete while attached', async () => {
      const sn = (await req('POST', alice, '/api/service-networks', { organization_id: alice.id })).json;
      const key = wgKey();
      const noKey = await req('POST', alice, '/api/sites', { service_network_id: sn.id });
      assert.equal(noKey.body, '{"error":"field not present","field":"public_key"}');
      const r = await req('POST', alice, '/api/sites', {
        service_network_id: sn.id,
        public_key: key,
        name: 'edge',
        platform: 'kubernetes',
      });
      assert.equal(r.status, 201, r.body);
      const site = r.json;
      assert.match(site.bearer_token, /^nexst_[A-Za-z0-9_-]{43}$/);
      assert.equal(
        r.body,
        JSON.stringify({
          id: site.id,
          revision: site.revision,
          owner_id: alice.id,
          service_network_id: sn.id,
          bearer_token: site.bearer_token,
          hostname: '',
          os: '',
          name: 'edge',
          platform: 'kubernetes',
          public_key: key,
          link_secret: '',
          online: false,
          online_at: null,
        }),
      );
      const stored = await t.db.selectFrom('sites').select('bearer_token_hash').executeTakeFirstOrThrow();
      assert.match(stored.bearer_token_hash, /^[0-9a-f]{64}$/);
      const dup = await req('POST', alice, '/api/sites', { service_network_id: sn.id, public_key: key });
      assert.equal(dup.status, 409);
      assert.equal(dup.body, JSON.stringify({ id: site.id, error: 'resource already exists' }));
      assert.equal((await req('GET', bob, `/api/sites/${site.id}`)).status, 404);
      assert.equal((await req('GET', bob, '/api/sites')).body, '[]');
      const foreignNet = await req('POST', bob, '/api/sites', {
        service_network_id: sn.id,
        public_key: wgKey(),
      });
      assert.equal(foreignNet.body, '{"error":"not found","resource":"service_network"}');

      const upd = await req('PATCH', alice, `/api/sites/${site.id}`, { hostname: 'edge-1', os: 'linux' });
      assert.equal(upd.status, 200);
      assert.equal(upd.json.hostname, 'edge-1');
      assert.ok(upd.json.revision > site.revision);
      for (const url of [`/api/service-networks/${sn.id}/sites`, `/api/ServiceNetworks/${sn.id}/sites`]) {
        const l = await req('GET', alice, url);
        assert.equal(l.status, 200, l.body);
        assert.deepEqual(
          l.json.map((s: { id: string }) => s.id),
          [site.id],
        );
      }
      // The site's own token reads and updates the site, and nothing else.
      const asSite = {
        id: 'site',
        name: 'site',
        token: site.bearer_token,
        headers: { authorization: `Bearer ${site.bearer_token}` },
      };
      const self = await req('GET', asSite, `/api/sites/${site.id}`);
      assert.equal(self.status, 200, self.body);
      assert.equal(self.json.bearer_token, site.bearer_token);
      const renamed = await req('PATCH', asSite, `/api/sites/${site.id}`, { os: 'freebsd' });
      assert.equal(renamed.json.os, 'freebsd');
      const other = (
        await req('POST', alice, '/api/sites', { service_network_id: sn.id, public_key: wgKey() })
      ).json;
      const fixed403 =
        '{"error":"operation not allowed","reason":"a site token may only read and update its own site"}';
      for (const [method, url] of [
        ['GET', `/api/sites/${other.id}`],
        ['GET', '/api/sites'],
        ['DELETE', `/api/sites/${site.id}`],
        ['GET', '/api/devices'],
        ['GET', '/api/users/me'],
      ] as const) {
        const r = await req(method, asSite, url);
        assert.equal(r.status, 403, `${method} ${url}`);
        assert.equal(r.body, fixed403);
      }
      const unknown = await req(
        'GET',
        { ...asSite, headers: { authorization: 'Bearer nexst_nope' } },
        `/api/sites/${site.id}`,
      );
      assert.equal(unknown.status, 401);
      assert.equal((await req('DELETE', alice, `/api/sites/${other.id}`)).status, 200);
      const attached = await req('DELETE', alice, `/api/service-networks/${sn.id}`);
      assert.equal(attached.status, 400);
      assert.equal(
        attached.body,
        '{"error":"operation not allowed","reason":"service network cannot be deleted while sites are still attached"}',
      );
      const del = await req('DELETE', alice, `/api/sites/${site.id}`);
      assert.equal(del.status, 200);
      assert.equal(del.json.bearer_token, undefined);
      assert.equal((await req('DELETE', alice, `/api/service-networks/${sn.id}`)).status, 200);
      // A deleted site's token is dead.
      assert.equal((await req('GET', asSite, `/api/sites/${site.id}`)).status, 401);
    });
  });
}

describe('the sites feature flag', () => {
  let t: TestApp;
  let u: TestUser;
  before(async () => {
    t = await createTestApp('sqlite', { fflags: { sites: false } });
    u = await newUser(t, 'flagged');
  });
  after(async () => t?.close());

  it('off: /api/fflags says so and every site route answers the original 405', async () => {
    const f = await call(t.app, { method: 'GET', url: '/api/fflags', headers: u.headers });
    assert.equal(f.json.sites, false);
    const sn = await call(t.app, {
      method: 'POST',
      url: '/api/service-networks',
      headers: { ...u.headers, 'content-type': 'application/json' },
      payload: JSON.stringify({ organization_id: u.id }),
    });
    assert.equal(sn.status, 201, 'service networks do not depend on the flag');
    for (const [method, url] of [
      ['GET', '/api/sites'],
      ['POST', '/api/sites'],
      ['GET', `/api/sites/${u.id}`],
      ['PATCH', `/api/sites/${u.id}`],
      ['DELETE', `/api/sites/${u.id}`],
      ['GET', `/api/service-networks/${sn.json.id}/sites`],
    ] as const) {
      const r = await call(t.app, {
        method,
        url,
        headers: {
          ...u.headers,
          ...(method === 'POST' || method === 'PATCH' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'POST' || method === 'PATCH' ? { payload: '{}' } : {}),
      });
      assert.equal(r.status, 405, `${method} ${url}`);
      assert.equal(r.body, '{"error":"operation not allowed","reason":"sites support is disabled"}');
    }
  });
});
