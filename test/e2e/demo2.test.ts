// SPDX-License-Identifier: Apache-2.0
// The scenario's demo 2, from its own manifest: a remote device running nexd in agent mode, VPC address
// 100.100.0.1, serves `python3 -m http.server 80` with "Hello from ${HOSTNAME}"; the seed's demo2.yaml
// (only the service URL changed) runs `nexd proxy --egress tcp:80:100.100.0.1:80` behind the Service
// nexd-proxy, and the demo2-client Pod's log shows the device's page every second. Then the proxy Pod is
// deleted: its replacement keeps the device's identity in the Secret store (the one addition to the seed:
// deploy/rbac/nexd-state-owner.yaml bound to the namespace's default ServiceAccount) and the client's
// requests resume within 10 s.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nexctl } from '../../packages/nexd/test/harness/processes.js';
import { AgentLab, type NexdIn, type Spoke } from './lib/agent-lab.js';
import {
  DEMO2_DEVICE_HOSTNAME,
  DEMO2_NS,
  DemoSite,
  demoSkipReason,
  impairUnderlay,
  POD_NETWORKS,
  pagesIn,
  runDemo2,
  startDemo2Device,
} from './lib/demos.js';
import { Lab, waitFor } from './lib/netns.js';

const skip = demoSkipReason();

describe('demo 2: a Pod reaches a remote device through nexd proxy --egress', {
  skip,
  timeout: 360_000,
}, () => {
  let lab: Lab;
  let hub: AgentLab;
  let site: DemoSite;
  let proxyPod: string;
  let device: Spoke;
  let agent: NexdIn;

  before(async () => {
    lab = await Lab.create('dm2');
    hub = await AgentLab.create(lab);
    site = await DemoSite.start(lab, hub, 1);
    // The remote device first, so that it holds 100.100.0.1 as the scenario assumes (asked for, too).
    ({ spoke: device, agent } = await startDemo2Device(lab, hub));
    proxyPod = await runDemo2(site, hub.serverUrl);
  });

  after(
    async () => {
      await site?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  test("the demo2-client Pod's log shows the device's page every second", async () => {
    const pages = await waitFor(
      'three pages in the client log',
      async () => {
        const p = pagesIn(await site.clientLog(DEMO2_NS));
        return p.length >= 3 ? p : undefined;
      },
      90_000,
      500,
    );
    assert.deepEqual(new Set(pages), new Set([DEMO2_DEVICE_HOSTNAME]));
  });

  test('the proxy keeps its state in a Secret named after its Deployment', async () => {
    const log = site.cluster.logs(DEMO2_NS, proxyPod);
    assert.ok(log.includes(`"state":"secret nexd-proxy in namespace ${DEMO2_NS}"`), log.slice(-2000));
    const secret = JSON.parse(
      await site.kubectl(['get', 'secret', '-n', DEMO2_NS, 'nexd-proxy', '-o', 'json']),
    ) as { data?: Record<string, string> };
    const state = JSON.parse(Buffer.from(secret.data!['state.json']!, 'base64').toString('utf8'));
    assert.ok(state.deviceId, 'the Secret holds the device id');
  });

  test('with 1 % loss and 20 ms delay on the underlay, the client keeps getting the page', async () => {
    const box = await impairUnderlay(lab, hub.hub, `198.18.${device.index}.0/24`, POD_NETWORKS);
    try {
      const seen = pagesIn(await site.clientLog(DEMO2_NS)).length;
      await waitFor(
        'three more pages through the impaired underlay',
        async () => (pagesIn(await site.clientLog(DEMO2_NS)).length >= seen + 3 ? true : undefined),
        30_000,
        500,
      );
      // The path really is the impaired one: the device's echo to the proxy through the tunnel takes two delays.
      const proxy = await site.proxyAddresses(DEMO2_NS, proxyPod);
      const ping = await nexctl([
        '--state-dir',
        agent.stateDir,
        '--output',
        'json',
        'nexd',
        'peers',
        'ping',
        proxy.ipv4,
      ]);
      const [row] = JSON.parse(ping.stdout) as { rtt: number[] }[];
      assert.ok(row && row.rtt.length > 0 && Math.min(...row.rtt) >= 40, ping.stdout + ping.stderr);
      await waitFor('traffic through the delay', () => (box.forwarded > 0 ? true : undefined), 5000, 100);
    } finally {
      await box.stop();
    }
  });

  test('a deleted proxy Pod is replaced with the same VPC address, and the client resumes within 10 s', async () => {
    const before = await site.proxyAddresses(DEMO2_NS, proxyPod);
    const replacement = await site.replaceProxyPod(DEMO2_NS, proxyPod);
    const ready = Date.now();
    const seen = pagesIn(await site.clientLog(DEMO2_NS)).length;
    assert.deepEqual(await site.proxyAddresses(DEMO2_NS, replacement), before);
    assert.match(
      site.cluster.logs(DEMO2_NS, replacement),
      /peers saved at the last run/,
      'the replacement started from the state in the Secret',
    );
    await waitFor(
      'the client to get a page through the replacement',
      async () => (pagesIn(await site.clientLog(DEMO2_NS)).length > seen ? true : undefined),
      10_000,
      250,
    );
    assert.ok(Date.now() - ready <= 10_000);
    proxyPod = replacement;
  });
});
