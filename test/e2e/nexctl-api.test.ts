// SPDX-License-Identifier: Apache-2.0
// nexctl's API command groups (the original nexctl's set) against a real nexodus-server that speaks only the
// original login flow: organizations and their users, VPCs and their metadata, registration keys, security
// groups with rules as flags, device metadata set/get/clear, in table and structured outputs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  NexdProcess,
  nexctl,
  ServerProcess,
  stopAll,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();

describe('nexctl API commands against nexodus-server', { skip }, () => {
  let server: ServerProcess;
  const run = async (...args: string[]) => {
    const r = await nexctl(['--service-url', server.url, ...args], {
      NEXD_USERNAME: 'admin',
      NEXD_PASSWORD: ADMIN_PASSWORD,
    });
    assert.equal(r.code, 0, `nexctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await run('-o', 'json', ...args));

  before(async () => {
    server = await ServerProcess.start({ issuerPath: '/realms/nexodus' });
  });
  after(stopAll);

  test('organization, vpc, reg-key, security-group, user and metadata commands', async () => {
    const me = await json('user', 'get-current');
    assert.equal(me.username, 'admin');
    assert.deepEqual(await json('user', 'list'), [me]);
    const org = await json('organization', 'create', '--name', 'team-red', '--description', 'Red');
    assert.deepEqual(Object.keys(org), ['id', 'name', 'description']);
    const names = (await json('organization', 'list')).map((o: { name: string }) => o.name);
    assert.ok(names.includes('team-red') && names.includes('admin'), String(names));
    const members = await json('organization', 'users', '--organization-id', me.id);
    assert.deepEqual(members[0].roles, ['owner']);
    const vpc = await json('vpc', 'create', '--organization-id', org.id, '--description', 'red vpc');
    assert.equal(vpc.description, 'red vpc');
    assert.equal((await json('vpc', 'update', vpc.id, '--description', 'renamed')).description, 'renamed');
    assert.match(await run('vpc', 'get', '--vpc-id', vpc.id), /^ID +DESCRIPTION +IPV4 CIDR/);
    const sg = await json(
      'security-group',
      'create',
      '--vpc-id',
      vpc.id,
      '--description',
      'web',
      '--inbound-rule',
      'tcp:80-443:10.0.0.0/8',
      '--inbound-rule',
      'icmp',
    );
    assert.deepEqual(sg.inbound_rules, [
      { ip_protocol: 'tcp', from_port: 80, to_port: 443, ip_ranges: ['10.0.0.0/8'] },
      { ip_protocol: 'icmp' },
    ]);
    assert.equal('outbound_rules' in sg, false);
    const listed = await json('security-group', 'list', '--vpc-id', vpc.id);
    assert.ok(listed.some((g: { id: string }) => g.id === sg.id));
    const key = await json(
      'reg-key',
      'create',
      '--vpc-id',
      vpc.id,
      '--description',
      'k',
      '--expiration',
      '1h',
    );
    assert.ok(Date.parse(key.expires_at) > Date.now());
    assert.equal((await json('reg-key', 'update', key.id, '--description', 'k2')).description, 'k2');
    assert.equal((await json('reg-key', 'delete', '--reg-key-id', key.id)).id, key.id);
    // Device metadata through a device registered by our nexd.
    const n = await NexdProcess.start({ tag: 'nxa', args: ['proxy', server.url] });
    const [dev] = (await json('device', 'list')) as { id: string }[];
    assert.ok(dev);
    await run('device', 'metadata', 'set', dev.id, '--key', 'role', '--value', '{"tier":"web"}');
    await run('device', 'metadata', 'set', dev.id, '--key', 'note', '--value', 'plain text');
    const one = await json('device', 'metadata', 'get', dev.id, '--key', 'role');
    assert.deepEqual(one.value, { tier: 'web' });
    assert.match(
      await run('-o', 'yaml', 'device', 'metadata', 'get', dev.id),
      /key: note\n {2}value: plain text/,
    );
    const inVpc = await json('vpc', 'metadata', me.id, '--prefix', 'ro');
    assert.deepEqual(
      inVpc.map((m: { key: string }) => m.key),
      ['role'],
    );
    await run('device', 'metadata', 'clear', '--device-id', dev.id);
    assert.deepEqual(await json('device', 'metadata', 'get', dev.id), []);
    assert.equal((await json('device', 'update', dev.id, '--hostname', 'renamed')).hostname, 'renamed');
    await n.stop();
    await run('vpc', 'delete', vpc.id);
    await run('organization', 'delete', org.id);
    const bad = await nexctl(
      ['--service-url', server.url, 'vpc', 'get', '00000000-0000-4000-8000-000000000000'],
      {
        NEXD_USERNAME: 'admin',
        NEXD_PASSWORD: ADMIN_PASSWORD,
      },
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /answered 404: vpc not found/);
  });
});
