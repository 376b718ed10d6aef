// SPDX-License-Identifier: Apache-2.0
// The scenario's demo 3, from its own manifests: two clusters (each its own control plane and node), one
// Nexodus service. Cluster 2 runs demo 1 (the seed's nginx.yaml and demo1.yaml: two nginx Pods behind
// nginx-service and `nexd proxy --ingress`); cluster 1 runs demo 2 (the seed's demo2.yaml) with the egress
// rule's address set to cluster 2's proxy, the one change the scenario asks for. The demo2-client Pod's
// log in cluster 1 then shows both of cluster 2's nginx Pods. The clusters' Pod networks are routed to each
// other (TestCluster.link, two clusters in one data center). Then cluster 2's proxy Pod is deleted: its
// replacement keeps its VPC address (state in a Secret), so cluster 1's rule still holds, and the client
// resumes within 10 s.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentLab } from './lib/agent-lab.js';
import { TestCluster } from './lib/cluster/test-cluster.js';
import {
  DEMO1_NS,
  DEMO2_NS,
  DemoSite,
  demoSkipReason,
  impairUnderlay,
  pagesIn,
  runDemo1,
  runDemo2,
} from './lib/demos.js';
import { Lab, waitFor } from './lib/netns.js';

const skip = demoSkipReason();

describe("demo 3: a Pod in cluster 1 reaches cluster 2's nginx Service through two nexd proxies", {
  skip,
  timeout: 420_000,
}, () => {
  let lab: Lab;
  let hub: AgentLab;
  let client: DemoSite;
  let server: DemoSite;
  let serverProxy: string;
  let serverAddresses: { ipv4: string; ipv6: string };

  before(async () => {
    lab = await Lab.create('dm3');
    hub = await AgentLab.create(lab);
    client = await DemoSite.start(lab, hub, 1);
    server = await DemoSite.start(lab, hub, 2);
    await TestCluster.link(client.cluster, server.cluster);

    // Cluster 2: demo 1; cluster 1: demo 2 with its egress rule pointing at cluster 2's proxy.
    ({ proxyPod: serverProxy, addresses: serverAddresses } = await runDemo1(server, hub.serverUrl, {
      keepState: true,
    }));
    await runDemo2(client, hub.serverUrl, serverAddresses.ipv4);
  });

  after(
    async () => {
      await client?.stop();
      await server?.stop();
      await lab?.cleanup();
    },
    { timeout: 90_000 },
  );

  test("the demo2-client log in cluster 1 shows both of cluster 2's nginx Pods", async () => {
    const seen = await waitFor(
      'pages from both nginx Pods in the client log',
      async () => {
        const pages = new Set(pagesIn(await client.clientLog(DEMO2_NS)));
        return pages.size >= 2 ? pages : undefined;
      },
      120_000,
      500,
    );
    assert.equal(seen.size, 2);
    for (const p of seen) assert.match(p, /^nginx-deployment-/);
  });

  test('with 1 % loss and 20 ms delay between the clusters, the client still sees both nginx Pods', async () => {
    // On cluster 1's node, which forwards between its Pods and the link to cluster 2.
    const box = await impairUnderlay(
      lab,
      client.cluster.nodeNs,
      client.cluster.network.cidr,
      server.cluster.network.cidr,
    );
    try {
      const before = pagesIn(await client.clientLog(DEMO2_NS)).length;
      const fresh = await waitFor(
        'pages from both nginx Pods through the impaired link',
        async () => {
          const pages = new Set(pagesIn(await client.clientLog(DEMO2_NS)).slice(before));
          return pages.size >= 2 ? pages : undefined;
        },
        60_000,
        500,
      );
      assert.equal(fresh.size, 2);
      await waitFor('traffic through the delay', () => (box.forwarded > 0 ? true : undefined), 5000, 100);
    } finally {
      await box.stop();
    }
  });

  test("cluster 2's proxy Pod is replaced with the same VPC address, and the client resumes within 10 s", async () => {
    const replacement = await server.replaceProxyPod(DEMO1_NS, serverProxy);
    const ready = Date.now();
    const seen = pagesIn(await client.clientLog(DEMO2_NS)).length;
    assert.deepEqual(await server.proxyAddresses(DEMO1_NS, replacement), serverAddresses);
    await waitFor(
      'a page through the replacement',
      async () => (pagesIn(await client.clientLog(DEMO2_NS)).length > seen ? true : undefined),
      10_000,
      250,
    );
    assert.ok(Date.now() - ready <= 10_000);
  });
});
