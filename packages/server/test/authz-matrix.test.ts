// SPDX-License-Identifier: Apache-2.0
// The authorization matrix (issue 16, standing test): every route of the app's route table x every kind of
// principal (owner, another user, a device token of another VPC, a used single-use and an unused reg key,
// no token) x the owner's and a foreign object, on SQLite and PostgreSQL. The expected answer of each cell
// follows from the route's rule below; a route in the table without a rule here fails the test, so a new
// route cannot ship without deciding who may call it. Lists are also checked not to contain the other
// side's objects. Watch streams go through a real listening socket (inject would wait for their end).
import assert from 'node:assert/strict';
import { type Dirent, existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultUiDir, UI_ROUTES } from '../src/ui-hosting.js';
import {
  bearer,
  call,
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

type Side = 'A' | 'B';
type PrincipalKind = 'none' | 'usedKey' | 'owner' | 'otherUser' | 'foreignDevice' | 'unusedKey';
const PRINCIPALS: PrincipalKind[] = ['none', 'usedKey', 'owner', 'otherUser', 'foreignDevice', 'unusedKey'];
type Outcome = 'ok' | 401 | 403 | 404;

/**
 * Who may call a route:
 * - any: every authenticated principal (no object)
 * - user: users only (no object); tokens get one fixed 403
 * - read: an object; users their own, tokens those of their VPC; everything else 404
 * - user-obj: an object only its owner may touch; tokens get one fixed 403 whatever the object
 * - self: a device write; the owner, the device itself (other ids: fixed 403), the key that registered it
 * - register: POST /api/devices into the side's VPC
 * - admin: identity's admin API; our test users are not admins
 * - owner-kept: removing an organization's owner from it: never allowed (403 for the owner), the rest as
 *   user-obj (a foreign organization or user is a 404, tokens get the fixed 403)
 * - invitee: accepting an invitation: only the invited user (a third user here, so every user cell is a 404,
 *   the inviting owner's too); tokens get the fixed 403. Acceptance itself: invitations-sites.test.ts
 */
type Rule = 'any' | 'user' | 'read' | 'user-obj' | 'self' | 'register' | 'admin' | 'owner-kept' | 'invitee';

interface SideObjects {
  user: TestUser;
  vpcId: string;
  orgId: string;
  /** an organization without VPCs (deletable) */
  emptyOrgId: string;
  /** a non-default VPC (deletable) */
  extraVpcId: string;
  deviceId: string;
  deviceToken: string;
  publicKey: string;
  sgId: string;
  regKeyId: string;
  /** an invitation from the side's organization to a third user */
  invitationId: string;
  /** a service network without sites (deletable), and one with the side's site */
  serviceNetworkId: string;
  siteNetworkId: string;
  siteId: string;
}

/** The third user every side invites, and a fourth that the create-invitation cells invite (before()). */
let inviteeId = '';
let newInviteeId = '';

interface RouteSpec {
  rule: Rule;
  /** URL and body for the object of `side` (objects of side A belong to the owner, of B to the other user). */
  target(o: SideObjects): { url: string; body?: unknown };
  stream?: boolean;
}

const ROUTES: Record<string, RouteSpec> = {
  'GET /api/users/me': { rule: 'any', target: () => ({ url: '/api/users/me' }) },
  'GET /api/organizations': { rule: 'any', target: () => ({ url: '/api/organizations' }) },
  'POST /api/organizations': {
    rule: 'user',
    target: () => ({
      url: '/api/organizations',
      body: { name: `org${Math.random().toString(36).slice(2, 10)}` },
    }),
  },
  'GET /api/organizations/:id': { rule: 'read', target: (o) => ({ url: `/api/organizations/${o.vpcId}` }) },
  'DELETE /api/organizations/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/organizations/${o.emptyOrgId}` }),
  },
  'GET /api/vpcs': { rule: 'any', target: () => ({ url: '/api/vpcs' }) },
  'POST /api/vpcs': {
    rule: 'user-obj',
    target: (o) => ({ url: '/api/vpcs', body: { organization_id: o.orgId, ipv4_cidr: '10.20.0.0/16' } }),
  },
  'GET /api/vpcs/:id': { rule: 'read', target: (o) => ({ url: `/api/vpcs/${o.vpcId}` }) },
  'PATCH /api/vpcs/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/vpcs/${o.vpcId}`, body: { description: 'changed' } }),
  },
  'DELETE /api/vpcs/:id': { rule: 'user-obj', target: (o) => ({ url: `/api/vpcs/${o.extraVpcId}` }) },
  'GET /api/vpcs/:id/devices': { rule: 'read', target: (o) => ({ url: `/api/vpcs/${o.vpcId}/devices` }) },
  'GET /api/vpcs/:id/metadata': { rule: 'read', target: (o) => ({ url: `/api/vpcs/${o.vpcId}/metadata` }) },
  'GET /api/vpcs/:id/security-groups': {
    rule: 'read',
    target: (o) => ({ url: `/api/vpcs/${o.vpcId}/security-groups` }),
  },
  'GET /api/devices': { rule: 'any', target: () => ({ url: '/api/devices' }) },
  'POST /api/devices': {
    rule: 'register',
    target: (o) => ({ url: '/api/devices', body: { public_key: wgKey(), vpc_id: o.vpcId } }),
  },
  'GET /api/devices/:id': { rule: 'read', target: (o) => ({ url: `/api/devices/${o.deviceId}` }) },
  'PATCH /api/devices/:id': {
    rule: 'self',
    target: (o) => ({ url: `/api/devices/${o.deviceId}`, body: { hostname: 'renamed' } }),
  },
  'DELETE /api/devices/:id': { rule: 'self', target: (o) => ({ url: `/api/devices/${o.deviceId}` }) },
  'GET /api/devices/:id/metadata': {
    rule: 'read',
    target: (o) => ({ url: `/api/devices/${o.deviceId}/metadata` }),
  },
  'GET /api/devices/:id/metadata/:key': {
    rule: 'read',
    target: (o) => ({ url: `/api/devices/${o.deviceId}/metadata/m` }),
  },
  'PUT /api/devices/:id/metadata/:key': {
    rule: 'self',
    target: (o) => ({ url: `/api/devices/${o.deviceId}/metadata/m`, body: { v: 2 } }),
  },
  'DELETE /api/devices/:id/metadata/:key': {
    rule: 'self',
    target: (o) => ({ url: `/api/devices/${o.deviceId}/metadata/m` }),
  },
  'GET /api/reg-keys': { rule: 'user', target: () => ({ url: '/api/reg-keys' }) },
  'POST /api/reg-keys': {
    rule: 'user-obj',
    target: (o) => ({ url: '/api/reg-keys', body: { vpc_id: o.vpcId } }),
  },
  'GET /api/reg-keys/:id': { rule: 'user-obj', target: (o) => ({ url: `/api/reg-keys/${o.regKeyId}` }) },
  'DELETE /api/reg-keys/:id': { rule: 'user-obj', target: (o) => ({ url: `/api/reg-keys/${o.regKeyId}` }) },
  'GET /api/security-groups': { rule: 'any', target: () => ({ url: '/api/security-groups' }) },
  'POST /api/security-groups': {
    rule: 'user-obj',
    target: (o) => ({ url: '/api/security-groups', body: { vpc_id: o.vpcId, description: 'g' } }),
  },
  'GET /api/security-groups/:id': {
    rule: 'read',
    target: (o) => ({ url: `/api/security-groups/${o.sgId}` }),
  },
  'PATCH /api/security-groups/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/security-groups/${o.sgId}`, body: { description: 'x' } }),
  },
  'DELETE /api/security-groups/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/security-groups/${o.sgId}` }),
  },
  'POST /api/vpcs/:id/events': {
    rule: 'read',
    stream: true,
    target: (o) => ({ url: `/api/vpcs/${o.vpcId}/events`, body: [{ kind: 'device' }] }),
  },
  'POST /api/vpc/:id/events': {
    rule: 'read',
    stream: true,
    target: (o) => ({ url: `/api/vpc/${o.vpcId}/events`, body: [{ kind: 'device' }] }),
  },
  'POST /api/events': {
    rule: 'read',
    stream: true,
    target: (o) => ({ url: '/api/events', body: [{ kind: 'device', options: { 'vpc-id': o.vpcId } }] }),
  },
  'GET /api/fflags': { rule: 'any', target: () => ({ url: '/api/fflags' }) },
  'GET /api/fflags/:name': { rule: 'any', target: () => ({ url: '/api/fflags/devices' }) },
  'GET /api/users': { rule: 'any', target: () => ({ url: '/api/users' }) },
  'GET /api/users/:id': { rule: 'read', target: (o) => ({ url: `/api/users/${o.user.id}` }) },
  'GET /api/organizations/:id/users': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/organizations/${o.vpcId}/users` }),
  },
  'GET /api/organizations/:id/users/:uid': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/organizations/${o.vpcId}/users/${o.user.id}` }),
  },
  'DELETE /api/organizations/:id/users/:uid': {
    rule: 'owner-kept',
    target: (o) => ({ url: `/api/organizations/${o.vpcId}/users/${o.user.id}` }),
  },
  'DELETE /api/users/:id/organizations/:organization': {
    rule: 'owner-kept',
    target: (o) => ({ url: `/api/users/${o.user.id}/organizations/${o.vpcId}` }),
  },
  'PATCH /api/reg-keys/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/reg-keys/${o.regKeyId}`, body: { description: 'changed' } }),
  },
  'DELETE /api/devices/:id/metadata': {
    rule: 'self',
    target: (o) => ({ url: `/api/devices/${o.deviceId}/metadata` }),
  },
  'GET /api/invitations': { rule: 'user', target: () => ({ url: '/api/invitations' }) },
  'POST /api/invitations': {
    rule: 'user-obj',
    target: (o) => ({ url: '/api/invitations', body: { user_id: newInviteeId, organization_id: o.orgId } }),
  },
  'GET /api/invitations/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/invitations/${o.invitationId}` }),
  },
  'DELETE /api/invitations/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/invitations/${o.invitationId}` }),
  },
  'POST /api/invitations/:id/accept': {
    rule: 'invitee',
    target: (o) => ({ url: `/api/invitations/${o.invitationId}/accept` }),
  },
  'GET /api/service-networks': { rule: 'user', target: () => ({ url: '/api/service-networks' }) },
  'POST /api/service-networks': {
    rule: 'user-obj',
    target: (o) => ({ url: '/api/service-networks', body: { organization_id: o.orgId } }),
  },
  'GET /api/service-networks/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/service-networks/${o.serviceNetworkId}` }),
  },
  'PATCH /api/service-networks/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/service-networks/${o.serviceNetworkId}`, body: { description: 'x' } }),
  },
  'DELETE /api/service-networks/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/service-networks/${o.serviceNetworkId}` }),
  },
  'GET /api/service-networks/:id/sites': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/service-networks/${o.siteNetworkId}/sites` }),
  },
  'GET /api/ServiceNetworks/:id/sites': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/ServiceNetworks/${o.siteNetworkId}/sites` }),
  },
  'GET /api/sites': { rule: 'user', target: () => ({ url: '/api/sites' }) },
  'POST /api/sites': {
    rule: 'user-obj',
    target: (o) => ({
      url: '/api/sites',
      body: { service_network_id: o.siteNetworkId, public_key: wgKey() },
    }),
  },
  'GET /api/sites/:id': { rule: 'user-obj', target: (o) => ({ url: `/api/sites/${o.siteId}` }) },
  'PATCH /api/sites/:id': {
    rule: 'user-obj',
    target: (o) => ({ url: `/api/sites/${o.siteId}`, body: { hostname: 'renamed' } }),
  },
  'DELETE /api/sites/:id': { rule: 'user-obj', target: (o) => ({ url: `/api/sites/${o.siteId}` }) },
  'GET /api/admin/users': { rule: 'admin', target: () => ({ url: '/api/admin/users' }) },
  'POST /api/admin/users': {
    rule: 'admin',
    target: () => ({ url: '/api/admin/users', body: { username: 'zed', password: 'a-long-password-1' } }),
  },
  'DELETE /api/admin/users/:username': {
    rule: 'admin',
    target: (o) => ({ url: `/api/admin/users/${o.user.name}` }),
  },
};

/** The files of the UI build under `dir`, as paths relative to it (none when the UI is not built). */
function uiBuildFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}

/** Routes outside the matrix: public by design (discovery, login, probes, metrics, the API document, the UI). */
const PUBLIC_ROUTES = new Set([
  'GET /openapi.json',
  'GET /private/live',
  'GET /private/ready',
  'POST /private/live',
  'POST /private/ready',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /.well-known/nexodus-relays',
  'GET /oauth2/authorize',
  'POST /oauth2/authorize',
  'POST /oauth2/logout',
  ...UI_ROUTES.map((r) => `GET ${r}`),
  // The UI build's files (when it is built), one static route each.
  ...uiBuildFiles(defaultUiDir()).map((f) => `GET /${f}`),
  'GET /.well-known/openid-configuration',
  'GET /.well-known/jwks.json',
  'GET /device/login/start',
  'POST /device/login/start',
  'POST /oauth2/token',
  'POST /oauth2/device_authorization',
  'GET /device',
  'POST /device',
]);

function expected(rule: Rule, who: PrincipalKind, side: Side): Outcome {
  if (who === 'none' || who === 'usedKey') return 401;
  const user = who === 'owner' || who === 'otherUser';
  // Users: the owner's objects are side A, the other user's side B.
  const ownSide: Side = who === 'otherUser' || who === 'foreignDevice' ? 'B' : 'A';
  const own = side === ownSide;
  switch (rule) {
    case 'any':
      return 'ok';
    case 'user':
      return user ? 'ok' : 403;
    case 'read':
      return own ? 'ok' : 404;
    case 'user-obj':
      return user ? (own ? 'ok' : 404) : 403;
    case 'self':
      // foreignDevice's side-B object is its own device; the unused key registered neither device.
      if (user) return own ? 'ok' : 404;
      if (who === 'foreignDevice') return own ? 'ok' : 403;
      return 404;
    case 'register':
      if (user) return own ? 'ok' : 404;
      if (who === 'foreignDevice') return 403;
      return own ? 'ok' : 403;
    case 'admin':
      return user ? 403 : 401;
    case 'owner-kept':
      return user ? (own ? 403 : 404) : 403;
    case 'invitee':
      return user ? 404 : 403;
    default: {
      const never: never = rule;
      throw new Error(`unknown rule ${never}`);
    }
  }
}

const outcomeOf = (status: number): Outcome | number => (status >= 200 && status < 300 ? 'ok' : status);

for (const engine of ENGINES) {
  describe(`authorization matrix on ${engine}`, { skip: engineSkip(engine), timeout: 180_000 }, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    let base: string;
    let usedKey: string;
    let unusedKey: string;
    let shared: { a: SideObjects; b: SideObjects };
    before(async () => {
      t = await createTestApp(engine, { fflags: { sites: true } });
      alice = await newUser(t);
      bob = await newUser(t);
      inviteeId = (await newUser(t)).id;
      newInviteeId = (await newUser(t)).id;
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const used = await send(alice.headers, 'POST', '/api/reg-keys', { vpc_id: alice.id, single_use: true });
      usedKey = used.json.bearer_token;
      assert.equal(
        (await send(bearer(usedKey), 'POST', '/api/devices', { public_key: wgKey() })).status,
        201,
      );
      unusedKey = (await send(alice.headers, 'POST', '/api/reg-keys', { vpc_id: alice.id })).json
        .bearer_token;
      shared = { a: await side(alice), b: await side(bob) };
    });
    after(async () => t?.close());

    function send(headers: Record<string, string>, method: string, url: string, body?: unknown) {
      return call(t.app, {
        method: method as 'GET',
        url,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
    }

    async function ok<T>(p: Promise<{ status: number; json: T; body: string }>): Promise<T> {
      const r = await p;
      assert.ok(r.status >= 200 && r.status < 300, `fixture: ${r.status} ${r.body}`);
      return r.json;
    }

    /** Fresh objects of `u` for one cell: every cell may delete or change what it targets. */
    async function side(u: TestUser): Promise<SideObjects> {
      const h = u.headers;
      const org = await ok(
        send(h, 'POST', '/api/organizations', { name: `o${Math.random().toString(36).slice(2)}` }),
      );
      const vpc = await ok(send(h, 'POST', '/api/vpcs', { organization_id: org.id }));
      const empty = await ok(
        send(h, 'POST', '/api/organizations', { name: `e${Math.random().toString(36).slice(2)}` }),
      );
      const publicKey = wgKey();
      const dev = await ok(send(h, 'POST', '/api/devices', { public_key: publicKey, vpc_id: u.id }));
      await ok(send(h, 'PUT', `/api/devices/${dev.id}/metadata/m`, { v: 1 }));
      const sg = await ok(send(h, 'POST', '/api/security-groups', { vpc_id: u.id, description: 'cell' }));
      const key = await ok(send(h, 'POST', '/api/reg-keys', { vpc_id: u.id }));
      const invitation = await ok(
        send(h, 'POST', '/api/invitations', { user_id: inviteeId, organization_id: org.id }),
      );
      const net = await ok(send(h, 'POST', '/api/service-networks', { organization_id: org.id }));
      const siteNet = await ok(send(h, 'POST', '/api/service-networks', { organization_id: org.id }));
      const site = await ok(
        send(h, 'POST', '/api/sites', { service_network_id: siteNet.id, public_key: wgKey() }),
      );
      return {
        invitationId: invitation.id,
        serviceNetworkId: net.id,
        siteNetworkId: siteNet.id,
        siteId: site.id,
        user: u,
        vpcId: u.id,
        orgId: org.id,
        emptyOrgId: empty.id,
        extraVpcId: vpc.id,
        deviceId: dev.id,
        deviceToken: dev.bearer_token,
        publicKey,
        sgId: sg.id,
        regKeyId: key.id,
      };
    }

    async function streamStatus(
      headers: Record<string, string>,
      url: string,
      body: unknown,
    ): Promise<number> {
      const ac = new AbortController();
      try {
        const r = await fetch(base + url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: ac.signal,
        });
        return r.status;
      } finally {
        ac.abort();
      }
    }

    it('every route of the route table has a rule here (or is public by design)', () => {
      const missing = t.app.routeTable
        .map((r) => `${r.method} ${r.url}`)
        .filter((k) => !(k in ROUTES) && !PUBLIC_ROUTES.has(k));
      assert.deepEqual(missing, [], 'add rows for these routes to ROUTES in authz-matrix.test.ts');
      const stale = Object.keys(ROUTES).filter(
        (k) => !t.app.routeTable.some((r) => `${r.method} ${r.url}` === k),
      );
      assert.deepEqual(stale, [], 'rules for routes that no longer exist');
    });

    for (const [key, spec] of Object.entries(ROUTES)) {
      it(`${key}: ${spec.rule}`, async () => {
        const method = key.split(' ')[0]!;
        const failures: string[] = [];
        for (const s of ['A', 'B'] as Side[]) {
          for (const who of PRINCIPALS) {
            const want = expected(spec.rule, who, s);
            // Reads and refused writes share one pair of sides (a refused write changes nothing, and if it
            // did the cell fails anyway); a write that should succeed gets fresh objects to change.
            const fresh = method !== 'GET' && want === 'ok';
            const a = fresh ? await side(alice) : shared.a;
            const b = fresh ? await side(bob) : shared.b;
            const objects = s === 'A' ? a : b;
            const headers: Record<string, string> = {
              none: {},
              usedKey: bearer(usedKey),
              owner: alice.headers,
              otherUser: bob.headers,
              foreignDevice: bearer(b.deviceToken),
              unusedKey: bearer(unusedKey),
            }[who];
            const { url, body } = spec.target(objects);
            let status: number;
            let json: unknown;
            if (spec.stream) status = await streamStatus(headers, url, body);
            else {
              const r = await send(headers, method, url, body);
              status = r.status;
              json = r.json;
            }
            if (outcomeOf(status) !== want) failures.push(`${who} on ${s}: got ${status}, expected ${want}`);
            // A list answered with 200 holds nothing of the other side.
            if (status === 200 && Array.isArray(json)) {
              const other = (who === 'otherUser' || who === 'foreignDevice' ? a : b) as SideObjects;
              const text = JSON.stringify(json);
              const ids = [
                other.deviceId,
                other.orgId,
                other.emptyOrgId,
                other.sgId,
                other.regKeyId,
                other.extraVpcId,
                other.invitationId,
                other.serviceNetworkId,
                other.siteNetworkId,
                other.siteId,
              ];
              for (const id of ids) {
                if (text.includes(id)) failures.push(`${who} on ${s}: the list shows the other side's ${id}`);
              }
            }
          }
        }
        assert.deepEqual(failures, []);
      });
    }
  });
}
