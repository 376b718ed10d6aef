// SPDX-License-Identifier: Apache-2.0
// The scenario's demo 1, from its own manifests: the seed's nginx Deployment and demo1.yaml (only the
// service URL changed, and the nginx Deployment's missing apiVersion added) applied to a cluster that
// runs Pods (the real control plane + the test node agent), against the real nexodus-server; a remote
// device running nexd in agent mode curls the proxy's VPC address over IPv4 and IPv6 and sees both nginx
// Pods' "Hello from nginx-deployment-..." pages. The seed ships no RBAC, so nexd in the Pod may not keep
// its state in a Secret: it says so and runs on the file store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentLab, NexdIn, type Spoke } from './lib/agent-lab.js';
import {
  DEMO1_NS,
  DemoSite,
  demoSkipReason,
  impairUnderlay,
  POD_NETWORKS,
  pagesIn,
  runDemo1,
} from './lib/demos.js';
import { exec, Lab, waitFor } from './lib/netns.js';

const skip = demoSkipReason();
const NS = DEMO1_NS;

describe("demo 1: a remote device reaches the cluster's nginx Service through nexd proxy", {
  skip,
  timeout: 360_000,
}, () => {
  let lab: Lab;
  let hub: AgentLab;
  let site: DemoSite;
  let device: Spoke;
  let agent: NexdIn;
  let proxyAddresses: { ipv4: string; ipv6: string };
  let proxyPod: string;

  before(async () => {
    lab = await Lab.create('dm1');
    // The Nexodus service and the remote device live in the agent lab's star; its hub joins the node's LAN.
    hub = await AgentLab.create(lab);
    site = await DemoSite.start(lab, hub, 1);
    device = await hub.spoke('dev');
    ({ proxyPod, addresses: proxyAddresses } = await runDemo1(site, hub.serverUrl));
    agent = await NexdIn.start(hub, device);
  });

  after(
    async () => {
      await site?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  /** The nginx Pods that answered `count` curls from the device to `url`. */
  const pagesFromDevice = async (url: string, count: number) => {
    const pages = new Set<string>();
    for (let i = 0; i < count; i++) {
      const r = await exec(device.ns, 'curl', ['-sS', '--max-time', '3', url], { check: false });
      for (const p of pagesIn(r.stdout)) pages.add(p);
    }
    return pages;
  };

  test('the proxy Pod runs the seed command as written: the keys from the Secret, state on the file store', () => {
    const log = site.cluster.logs(NS, proxyPod);
    assert.match(log, /File exists/, "the seed's ln -s met the image's links and went on");
    assert.ok(log.includes(`"publicKey":"${(/"publicKey":"([^"]+)"/.exec(log) ?? [])[1]}"`));
    assert.match(log, /may not keep its state in a Secret: using the file store/);
    assert.match(proxyAddresses.ipv4, /^100\.100\.\d+\.\d+$/);
  });

  for (const [family, url] of [
    ['IPv4', () => `http://${proxyAddresses.ipv4}/`],
    ['IPv6', () => `http://[${proxyAddresses.ipv6}]/`],
  ] as const) {
    test(`the device curls the proxy's VPC address over ${family} and sees both nginx Pods' pages`, async () => {
      const seen = await waitFor(
        'both nginx Pods to answer',
        async () => {
          const pages = await pagesFromDevice(url(), 12);
          return pages.size === 2 && [...pages].every((p) => p.startsWith('nginx-deployment-'))
            ? pages
            : undefined;
        },
        60_000,
        500,
      );
      assert.equal(seen.size, 2);
    });
  }

  test("the agent's peer is the proxy Pod (its key from the Secret)", async () => {
    const pk = (/"publicKey":"([^"]+)"/.exec(site.cluster.logs(NS, proxyPod)) ?? [])[1];
    assert.ok(pk);
    assert.ok(agent.child.logs.some((l) => l.msg === 'peer add' && l.publicKey === pk));
  });

  test('with 1 % loss and 20 ms delay on the underlay, both families still reach both nginx Pods', async () => {
    const box = await impairUnderlay(lab, hub.hub, `198.18.${device.index}.0/24`, POD_NETWORKS);
    try {
      for (const url of [`http://${proxyAddresses.ipv4}/`, `http://[${proxyAddresses.ipv6}]/`]) {
        const pages = await waitFor(
          `both nginx Pods at ${url}`,
          async () => ((await pagesFromDevice(url, 12)).size === 2 ? true : undefined),
          60_000,
          500,
        );
        assert.ok(pages);
      }
      // The path really is the impaired one: a request takes at least two delayed round trips.
      const r = await exec(device.ns, 'curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{time_total}',
        `http://${proxyAddresses.ipv4}/`,
      ]);
      assert.ok(Number(r.stdout) >= 0.08, `curl took ${r.stdout} s`);
      await waitFor('traffic through the delay', () => (box.forwarded > 0 ? true : undefined), 5000, 100);
    } finally {
      await box.stop();
    }
  });

  test('a deleted proxy Pod is replaced with the same VPC address, and the device reaches nginx within 10 s', async () => {
    // The seed ships no RBAC; granted now, the replacement keeps its state in a Secret named after the
    // Deployment (what a user adds so that a replaced Pod keeps its identity, see demos.ts).
    await site.grantStateSecret(NS);
    const replacement = await site.replaceProxyPod(NS, proxyPod);
    const ready = Date.now();
    assert.deepEqual(await site.proxyAddresses(NS, replacement), proxyAddresses);
    assert.ok(site.cluster.logs(NS, replacement).includes(`"state":"secret nexd-proxy in namespace ${NS}"`));
    await waitFor(
      'a page through the replacement',
      async () =>
        (await pagesFromDevice(`http://${proxyAddresses.ipv4}/`, 1)).size === 1 ? true : undefined,
      10_000,
      100,
    );
    assert.ok(Date.now() - ready <= 10_000);
  });
});
