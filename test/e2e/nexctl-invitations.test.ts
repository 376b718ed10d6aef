// SPDX-License-Identifier: Apache-2.0
// nexctl invitation create|list|accept|delete and service-network list|create|update|delete against a real
// nexodus-server (the original login flow), with two users: the owner invites, the invitee accepts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  nexctl,
  ServerProcess,
  stopAll,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();
const BOB_PASSWORD = 'bob-password-1234';

describe('nexctl invitation and service-network commands', { skip }, () => {
  let server: ServerProcess;
  const as =
    (user: string, password: string) =>
    async (...args: string[]) => {
      const r = await nexctl(['--service-url', server.url, ...args], {
        NEXD_USERNAME: user,
        NEXD_PASSWORD: password,
      });
      assert.equal(r.code, 0, `nexctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
  const admin = as('admin', ADMIN_PASSWORD);
  const bob = as('bob', BOB_PASSWORD);
  const json = async (run: typeof admin, ...args: string[]) => JSON.parse(await run('-o', 'json', ...args));

  before(async () => {
    server = await ServerProcess.start({ issuerPath: '/realms/nexodus' });
    await server.addUser('bob', BOB_PASSWORD);
  });
  after(stopAll);

  test('the owner invites, the invitee lists and accepts, then is a member', async () => {
    const me = await json(admin, 'user', 'get-current');
    const b = await json(bob, 'user', 'get-current');
    const inv = await json(
      admin,
      'invitation',
      'create',
      '--organization-id',
      me.id,
      '--user-id',
      b.id,
      '--role',
      'member',
    );
    assert.deepEqual(
      {
        user_id: inv.user_id,
        organization_id: inv.organization_id,
        roles: inv.roles,
        from: inv.from.username,
      },
      { user_id: b.id, organization_id: me.id, roles: ['member'], from: 'admin' },
    );
    const table = await bob('invitation', 'list');
    assert.match(table, /^ID +ORGANIZATION +FROM +TO +ROLES +EXPIRES\n/);
    assert.match(table, new RegExp(`${inv.id} +admin +admin +${b.id} +member `));
    assert.equal(
      await bob('invitation', 'accept', '--invitation-id', inv.id),
      `accepted invitation ${inv.id}\n`,
    );
    assert.deepEqual(await json(bob, 'invitation', 'list'), []);
    const members = await json(admin, 'organization', 'users', me.id);
    assert.deepEqual(
      members.map((m: { user: { username: string }; roles: string[] }) => [m.user.username, m.roles]),
      [
        ['admin', ['owner']],
        ['bob', ['member']],
      ],
    );

    // An invitation by e-mail, withdrawn by the owner; a second invitation for a member is refused.
    const byMail = await json(
      admin,
      'invitation',
      'create',
      '--organization-id',
      me.id,
      '--email',
      'x@example.com',
    );
    assert.equal(byMail.email, 'x@example.com');
    assert.equal('user_id' in byMail, false);
    assert.deepEqual(await json(admin, 'invitation', 'delete', byMail.id), { id: byMail.id, deleted: true });
    const again = await nexctl(
      ['--service-url', server.url, 'invitation', 'create', '--organization-id', me.id, '--user-id', b.id],
      { NEXD_USERNAME: 'admin', NEXD_PASSWORD: ADMIN_PASSWORD },
    );
    assert.equal(again.code, 1);
    assert.match(again.stderr, /400/);
    assert.match(again.stderr, /user is already in requested org/);
  });

  test('service networks: create, list by description, update, delete; a member reads them', async () => {
    const me = await json(admin, 'user', 'get-current');
    const z = await json(
      admin,
      'service-network',
      'create',
      '--organization-id',
      me.id,
      '--description',
      'zeta',
    );
    const a = await json(
      admin,
      'service-network',
      'create',
      '--organization-id',
      me.id,
      '--description',
      'alpha',
    );
    assert.deepEqual(Object.keys(a), ['id', 'organization_id', 'description', 'revision']);
    assert.deepEqual(
      (await json(admin, 'service-network', 'list')).map((s: { description: string }) => s.description),
      ['alpha', 'zeta'],
    );
    // Bob is a member of admin's organization (the test above), so he sees them too.
    assert.match(await bob('service-network', 'list'), /^ID +ORGANIZATION +DESCRIPTION +REVISION\n.*alpha/);
    const upd = await json(admin, 'service-network', 'update', z.id, '--description', 'omega');
    assert.equal(upd.description, 'omega');
    assert.equal((await json(admin, 'service-network', 'delete', '--service-network-id', a.id)).id, a.id);
    assert.deepEqual(
      (await json(admin, 'service-network', 'list')).map((s: { id: string }) => s.id),
      [z.id],
    );
  });
});
