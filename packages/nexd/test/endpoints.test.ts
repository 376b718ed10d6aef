// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { localEndpoints } from '../src/endpoints.js';

const info = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null }) as NetworkInterfaceInfo;

test('local endpoints: non-internal addresses with the port, IPv6 bracketed, no loopback or link-local', () => {
  const eps = localEndpoints(51820, {
    lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
    eth0: [info('198.18.0.2', 'IPv4'), info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6')],
    eth1: [info('198.18.0.2', 'IPv4')],
  });
  assert.deepEqual(eps, [
    { source: 'local', address: '198.18.0.2:51820' },
    { source: 'local', address: '[fd00::2]:51820' },
  ]);
});

test('local endpoints of this host never include loopback', () => {
  for (const e of localEndpoints(1)) assert.doesNotMatch(e.address, /^(127\.|\[::1\])/);
});
