// SPDX-License-Identifier: Apache-2.0
// nexlink's side of the Nexodus service, against the real nexodus-server: the password login finds the
// user's default VPC, the VPC view follows devices and `nexlink` metadata through the watch stream, and
// the desired imports follow a device going online and its metadata going away.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { registerDevice } from '../../nexd/src/service/registration.js';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  ServerProcess,
  waitFor,
} from '../../nexd/test/harness/processes.js';
import * as wg from '../../wireguard/src/index.js';
import { parseConfig } from '../src/config.js';
import { wireGuardKeyPair } from '../src/controller/pre-register.js';
import { desiredImports } from '../src/import/desired.js';
import { METADATA_KEY } from '../src/labels.js';
import { login, type Session } from '../src/nexodus/session.js';
import { VpcCache } from '../src/nexodus/vpc-cache.js';

function wgPublicKey(): string {
  const { publicKey } = generateKeyPairSync('x25519');
  return Buffer.from(publicKey.export({ format: 'der', type: 'spki' }))
    .subarray(-32)
    .toString('base64');
}

describe('nexlink and the Nexodus service', { skip: buildSkipReason(), timeout: 60_000 }, () => {
  let server: ServerProcess;
  let session: Session;
  let cache: VpcCache;
  let changes = 0;

  before(async () => {
    server = await ServerProcess.start();
    const config = parseConfig(
      [
        '--service-url',
        server.url,
        '--username',
        'admin',
        '--password',
        ADMIN_PASSWORD,
        '--credentials-secret',
        'c',
        '--namespace',
        'shop',
      ],
      {},
    );
    session = await login(config);
    cache = new VpcCache({
      open: (watches, signal) => session.client.watchEvents(session.vpcId, watches, { signal }),
      onChange: () => changes++,
    });
    cache.start();
  });
  after(async () => {
    await cache?.stop();
    await session?.close();
    await server?.stop();
  });

  test('the password login finds the default VPC', async () => {
    const me = await session.client.getMe();
    assert.equal(session.vpcId, me.id);
    await waitFor('the first listing', () => (cache.synced ? true : undefined), 10_000);
  });

  test('a device with nexlink metadata is imported, a target while online, and not imported once its metadata is deleted', async () => {
    const publicKey = wgPublicKey();
    const d = await session.client.createDevice({
      public_key: publicKey,
      vpc_id: session.vpcId,
      hostname: 'exp-0',
    });
    const value = { realm: 'shop', services: [{ name: 'nginx', protocol: 'tcp', port: 80 }] };
    await session.client.setDeviceMetadata(d.id, METADATA_KEY, value);
    await waitFor('the metadata in the view', () => (cache.metadata.has(d.id) ? true : undefined), 10_000);
    assert.deepEqual(cache.metadata.get(d.id), value);
    // Offline: imported, with no target yet.
    assert.deepEqual(
      [...desiredImports(cache, 'shop', new Set()).imports.values()],
      [{ name: 'nginx', ports: [{ protocol: 'tcp', port: 80, targets: [] }] }],
    );

    // The device's own watch stream marks it online.
    const online = new AbortController();
    const stream = session.client.watchEvents(session.vpcId, [{ kind: 'device' }], {
      publicKey,
      signal: online.signal,
    });
    const drain = (async () => {
      for await (const _ of stream) {
        // keep the stream open
      }
    })();
    const imports = await waitFor(
      'the import of nginx',
      () => {
        const i = desiredImports(cache, 'shop', new Set()).imports;
        return i.get('nginx')?.ports[0]?.targets.length ? i : undefined;
      },
      10_000,
    );
    const address = d.ipv4_tunnel_ips[0]!.address;
    assert.deepEqual(
      [...imports.values()],
      [{ name: 'nginx', ports: [{ protocol: 'tcp', port: 80, targets: [address] }] }],
    );
    assert.equal(
      desiredImports(cache, 'other-realm', new Set()).imports.size,
      0,
      'another realm sees nothing',
    );
    assert.equal(
      desiredImports(cache, 'shop', new Set([d.id])).imports.size,
      0,
      'own devices are not imported',
    );

    const before = changes;
    await session.client.deleteDeviceMetadata(d.id, METADATA_KEY);
    await waitFor(
      'the metadata gone from the view',
      () => (cache.metadata.has(d.id) ? undefined : true),
      10_000,
    );
    assert.ok(changes > before);
    assert.equal(desiredImports(cache, 'shop', new Set()).imports.size, 0);
    online.abort();
    await drain;
  });

  test("a device nexlink registers ahead of its proxy is the one nexd's registration with that key adopts", async () => {
    const keys = wireGuardKeyPair();
    const priv = Buffer.from(keys.privateKey, 'base64');
    assert.equal(priv.length, 32);
    assert.equal(priv[0]! & 7, 0, 'clamped like wg genkey');
    assert.equal(priv[31]! & 0xc0, 0x40, 'clamped like wg genkey');
    assert.equal(
      wg.encodeKey(wg.publicKeyFromPrivate(priv)),
      keys.publicKey,
      'the engine derives the same public key',
    );

    const ahead = await session.client.createDevice({
      public_key: keys.publicKey,
      hostname: 'nexlink-export-nginx-0',
      os: 'linux',
      endpoints: [],
      vpc_id: session.vpcId,
    });
    // What nexd does when its Pod starts with that key in its state Secret: the same login, the same key.
    const reg = await registerDevice(session.client, {
      publicKey: keys.publicKey,
      hostname: 'nexlink-export-nginx-0',
      endpoints: [{ source: 'local', address: '10.1.2.3:51820' }],
      vpcId: session.vpcId,
    });
    assert.equal(reg.outcome, 'updated');
    assert.equal(reg.device.id, ahead.id);
    assert.deepEqual(
      reg.ipv4,
      ahead.ipv4_tunnel_ips.map((t) => t.address),
    );
    assert.deepEqual(
      reg.device.endpoints.map((e) => e.address),
      ['10.1.2.3:51820'],
    );
  });
});
