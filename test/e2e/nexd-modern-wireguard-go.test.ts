// SPDX-License-Identifier: Apache-2.0
// nexd proxy --wg-config against the modern wireguard-go (root; the testbed of bench:testbed, see
// test/e2e/lib/testbed.ts): that peer sends UDP GSO super-packets and reads with GRO, which Debian's old
// wireguard-go never does, so this is where our receive path meets coalesced bursts. Connections and bulk
// iperf3 through both an ingress and an egress rule, in both directions, then nexd's own drop counters
// must show no packet refused for a reason a healthy path never has.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildSkipReason } from '../../packages/nexd/test/harness/processes.js';
import { Lab } from './lib/netns.js';
import { runIperfClient } from './lib/reference-pair.js';
import { rootSkipReason } from './lib/root.js';
import { findTestPeerBin } from './lib/test-peers.js';
import { connectionSetup, nexdDropCounters, OURS, PORTS, testbedTopology } from './lib/testbed.js';

const wgBin = findTestPeerBin('wireguard-go', 'wireguard-go');
const envSkip = rootSkipReason(['ip', 'iperf3', 'wg', 'sysctl', 'curl']) ?? buildSkipReason();
const NEEDS_PEER =
  'needs the modern wireguard-go test peer (build it: scripts/test-peers/build.sh wireguard-go)';
if (!envSkip && !wgBin && process.env.CI)
  throw new Error(`${NEEDS_PEER}; npm test builds it before the tests`);
const skip = envSkip ?? (wgBin ? undefined : NEEDS_PEER);

describe('nexd proxy --wg-config against the modern wireguard-go (GSO/GRO)', { skip }, () => {
  let lab: Lab;
  let t: Awaited<ReturnType<typeof testbedTopology>>;

  before(async () => {
    lab = await Lab.create('tbe');
    t = await testbedTopology(lab, wgBin!);
  });

  after(async () => {
    await lab?.cleanup();
  });

  test('connections through the ingress and the egress rule get their 1-byte echo', async () => {
    // The first dial also waits out the handshake (a SYN retransmit at worst).
    const ingress = await connectionSetup(t.p, OURS.o4, PORTS.echoIngress, 20);
    const egress = await connectionSetup(t.o, '127.0.0.1', PORTS.echoEgress, 20);
    for (const s of [ingress, egress]) assert.ok(s.perSecond > 0 && s.p50 > 0, JSON.stringify(s));
  });

  test('bulk TCP both ways through both rules arrives (iperf3, 2 s each)', async () => {
    const runs = [
      ['ingress fwd', await runIperfClient(t.p, OURS.o4, { port: PORTS.iperfIngress, seconds: 2 })],
      [
        'ingress rev',
        await runIperfClient(t.p, OURS.o4, { port: PORTS.iperfIngress, seconds: 2, reverse: true }),
      ],
      ['egress fwd', await runIperfClient(t.o, '127.0.0.1', { port: PORTS.iperfEgress, seconds: 2 })],
      [
        'egress rev',
        await runIperfClient(t.o, '127.0.0.1', { port: PORTS.iperfEgress, seconds: 2, reverse: true }),
      ],
    ] as const;
    // 1 MB in 2 s is far below any working path, even on a loaded machine; a broken one moves nothing.
    for (const [name, r] of runs) assert.ok(r.bytes > 1_000_000, `${name}: ${r.bytes} bytes`);
  });

  test("nexd dropped nothing for a reason a healthy path never has (the peer's GRO/GSO datagrams decrypt)", async () => {
    const d = await nexdDropCounters(t.o);
    assert.ok(
      'send.noRoute' in d && 'receive.decrypt' in d && 'netstack.backlog' in d,
      'all three on /metrics',
    );
    const never = [
      'receive.malformed',
      'receive.decrypt',
      'receive.mac',
      'receive.unknownIndex',
      'receive.allowedIps',
      'send.noRoute',
      'send.malformed',
      'send.tooLarge',
      'send.socketTooBig',
      'send.socketRefused',
      'send.noSocket',
      'netstack.malformed',
      'netstack.unsupported',
    ];
    assert.deepEqual(
      never.filter((k) => d[k] !== 0).map((k) => `${k}=${d[k]}`),
      [],
    );
  });
});
