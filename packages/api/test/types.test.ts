// SPDX-License-Identifier: Apache-2.0
// Type tests of the public API: `npx tsc -p tsconfig.check.json` fails if a derived type drifts (the
// `@ts-expect-error` lines must stay errors); the runtime part only checks the values used.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AddDevice, Device, NexodusClient, Watch, WatchEvent } from '../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typeIs = <T extends true>(_: T) => true;

it('derived types carry the reference field names and types', () => {
  typeIs<Equal<Device['ipv4_tunnel_ips'][number]['address'], string>>(true);
  typeIs<Equal<Device['revision'], number>>(true);
  typeIs<Equal<Device['bearer_token'], string | undefined>>(true);
  typeIs<Equal<Device['endpoints'][number], { source: string; address: string }>>(true);
  typeIs<Equal<Watch['kind'], 'device' | 'device-metadata' | 'security-group'>>(true);
  typeIs<Equal<Parameters<NexodusClient['createDevice']>[0], AddDevice>>(true);

  const add: AddDevice = { public_key: 'k', endpoints: [{ source: 'local', address: '10.0.0.1:51820' }] };
  // @ts-expect-error public_key is required
  const missing: AddDevice = { hostname: 'x' };
  // @ts-expect-error endpoints need source and address
  const badEndpoint: AddDevice = { public_key: 'k', endpoints: [{ address: 'x' }] };

  const ev = { type: 'change', kind: 'device', value: {} } as WatchEvent;
  if (ev.type === 'change' && ev.kind === 'device') {
    // Narrowing by kind gives the Device value.
    typeIs<Equal<typeof ev.value, Device>>(true);
  }
  assert.equal(add.public_key, 'k');
  assert.ok(missing && badEndpoint);
});
