// SPDX-License-Identifier: Apache-2.0
// nexd faults from the adversarial review (issue 16, items 11-16), each end to end against the real
// server and real nexd processes on loopback.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  buildSkipReason,
  freePort,
  httpBackend,
  httpGet,
  NexdProcess,
  nexctl,
  ServerProcess,
  stopAll,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();

describe('a proxy reaches its own VPC address (item 11)', { skip }, () => {
  after(() => stopAll());

  test('curl -> egress -> own ingress -> local server, over IPv4 and IPv6', async () => {
    const server = await ServerProcess.start();
    const web = await httpBackend('Hello from myself\n');
    try {
      const a = await NexdProcess.start({
        tag: 'self',
        args: ['proxy', '--ingress', `tcp:80:127.0.0.1:${web.port}`, server.url],
      });
      const { ipv4, ipv6 } = a.addresses;
      const p4 = await freePort();
      const p6 = await freePort();
      for (const rule of [`tcp:${p4}:${ipv4}:80`, `tcp:${p6}:[${ipv6}]:80`]) {
        const r = await nexctl(['--state-dir', a.stateDir, 'nexd', 'proxy', 'add', '--egress', rule]);
        assert.equal(r.code, 0, r.stderr);
      }
      for (const port of [p4, p6]) {
        const r = await httpGet(`http://127.0.0.1:${port}/`, 5000);
        assert.equal(r.status, 200);
        assert.equal(r.body, 'Hello from myself\n');
      }
    } finally {
      await web.close();
    }
  });
});
