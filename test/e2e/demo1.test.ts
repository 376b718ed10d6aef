// SPDX-License-Identifier: Apache-2.0
// The scenario's demo 1, from its own manifests: the seed's nginx Deployment and demo1.yaml (only the
// service URL changed, and the nginx Deployment's missing apiVersion added) applied to a cluster that
// runs Pods (the real control plane + the test node agent), against the real nexodus-server; a remote
// device running nexd in agent mode curls the proxy's VPC address over IPv4 and IPv6 and sees both nginx
// Pods' "Hello from nginx-deployment-..." pages. The seed ships no RBAC, so nexd in the Pod may not keep
// its state in a Secret: it says so and runs on the file store.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, buildSkipReason } from '../../packages/nexd/test/harness/processes.js';
import { AgentLab, NexdIn, type Spoke } from './lib/agent-lab.js';
import { REPO_ROOT } from './lib/cluster/images.js';
import { TestCluster } from './lib/cluster/test-cluster.js';
import { ControlPlane, kubeSkipReason } from './lib/kube/control-plane.js';
import { exec, ip, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';
import { wgKeyPair } from './lib/wireguard-go.js';

const skip =
  rootSkipReason(['ip', 'iptables', 'dnsmasq', 'curl', 'setpriv', 'wg']) ??
  buildSkipReason() ??
  kubeSkipReason();
const NS = 'nexd-proxy-demo1';

describe("demo 1: a remote device reaches the cluster's nginx Service through nexd proxy", {
  skip,
  timeout: 300_000,
}, () => {
  let lab: Lab;
  let cp: ControlPlane;
  let cluster: TestCluster;
  let hub: AgentLab;
  let device: Spoke;
  let agent: NexdIn;
  let proxyAddresses: { ipv4: string; ipv6: string };
  let proxyPod: string;

  before(async () => {
    lab = await Lab.create('dm1');
    cp = await ControlPlane.start();
    cluster = await TestCluster.start({ lab, index: 1, kubeconfig: cp.kc, apiServer: cp.server });
    // The Nexodus service and the remote device live in the agent lab's star; its hub joins the node's LAN.
    hub = await AgentLab.create(lab);
    const hubAddress = await cluster.attach(hub.hub);
    await exec(hub.hub, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    device = await hub.spoke('dev');
    await ip(cluster.nodeNs, ['route', 'add', '198.18.0.1/32', 'via', hubAddress]);
    await ip(cluster.nodeNs, ['route', 'add', `198.18.${device.index}.0/24`, 'via', hubAddress]);

    // What the scenario asks the user to create: the namespace, the credentials and the keys.
    const keys = await wgKeyPair();
    for (const args of [
      ['create', 'namespace', NS],
      [
        'create',
        'secret',
        'generic',
        'nexodus-credentials',
        '-n',
        NS,
        '--from-literal=username=admin',
        `--from-literal=password=${ADMIN_PASSWORD}`,
      ],
      [
        'create',
        'secret',
        'generic',
        'wireguard-keys',
        '-n',
        NS,
        `--from-literal=private.key=${keys.privateKey}`,
        `--from-literal=public.key=${keys.publicKey}`,
      ],
    ]) {
      const r = await cp.kubectl(args, { check: false });
      assert.equal(r.code, 0, r.stderr);
    }
    const seed = (f: string) => readFileSync(join(REPO_ROOT, 'deploy', 'demos', 'seed', f), 'utf8');
    const demo1 = seed('demo1.yaml').replace('https://try.nexodus.io', hub.serverUrl);
    for (const text of [seed('nginx.yaml'), demo1]) {
      const r = await cp.kubectl(['apply', '-n', NS, '-f', '-'], { input: text, check: false });
      assert.equal(r.code, 0, r.stderr);
    }
    await cluster.waitPodsReady(NS, 'app=nginx', 2, 90_000);
    const [pod] = await cluster.waitPodsReady(NS, 'app=nexd-proxy', 1, 90_000);
    proxyPod = pod!.metadata!.name!;
    proxyAddresses = await waitFor(
      "the proxy's address line",
      () => {
        const m = /New local Wireguard interface addresses assigned IPv4 \[ (\S+) \] IPv6 \[ (\S+) \]/.exec(
          cluster.logs(NS, proxyPod),
        );
        return m ? { ipv4: m[1]!, ipv6: m[2]! } : undefined;
      },
      60_000,
      200,
    );
    agent = await NexdIn.start(hub, device);
  });

  after(
    async () => {
      await cluster?.stop();
      await cp?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  test('the proxy Pod runs the seed command as written: the keys from the Secret, state on the file store', () => {
    const log = cluster.logs(NS, proxyPod);
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
          const pages = new Set<string>();
          for (let i = 0; i < 12; i++) {
            const r = await exec(device.ns, 'curl', ['-sS', '--max-time', '3', url()], { check: false });
            const m = /^Hello from (nginx-deployment-\S+)$/m.exec(r.stdout);
            if (m) pages.add(m[1]!);
          }
          return pages.size === 2 ? pages : undefined;
        },
        60_000,
        500,
      );
      assert.equal(seen.size, 2);
    });
  }

  test("the agent's peer is the proxy Pod (its key from the Secret)", async () => {
    const pk = (/"publicKey":"([^"]+)"/.exec(cluster.logs(NS, proxyPod)) ?? [])[1];
    assert.ok(pk);
    assert.ok(agent.child.logs.some((l) => l.msg === 'peer add' && l.publicKey === pk));
  });
});
