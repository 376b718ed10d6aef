// SPDX-License-Identifier: Apache-2.0
// `npm run demo -- 1|2|3`: one of the scenario's demos (shared/reference/nexd-proxy-in-kube.md) on this
// machine, from its own manifests, with what the scenario says you should see printed as it happens. It
// builds the same topology as test/e2e/demo{1,2,3}.test.ts (a real Kubernetes control plane, a node that
// runs Pods as processes in network namespaces, the Nexodus service, a remote device running nexd in agent
// mode) and tears it all down at the end or on Ctrl-C. Needs root and the Kubernetes binaries that
// `npm test` builds (scripts/test-peers/build.sh etcd kubernetes).
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentLab, NexdIn } from '../test/e2e/lib/agent-lab.js';
import { TestCluster } from '../test/e2e/lib/cluster/test-cluster.js';
import {
  DEMO1_NS,
  DEMO2_NS,
  DemoSite,
  pagesIn,
  runDemo1,
  runDemo2,
  startDemo2Device,
} from '../test/e2e/lib/demos.js';
import { findKubeBinaries } from '../test/e2e/lib/kube/control-plane.js';
import { exec, Lab } from '../test/e2e/lib/netns.js';

const USAGE = 'usage: npm run demo -- 1|2|3   (the scenario demo to run; needs root)';
/** How long to follow the client's log at most, and how many of its pages to show. */
const WATCH_MS = 40_000;
const WATCH_PAGES = 10;

function fail(message: string): never {
  console.error(`demo: ${message}`);
  process.exit(2);
}

const say = (text: string) => console.log(`\n== ${text}`);

/** Prints the client Pod's pages as they come, up to WATCH_PAGES or `ms` (what `kubectl logs -f demo2-client` shows). */
async function followClient(site: DemoSite, ms: number): Promise<number> {
  let printed = 0;
  const end = Date.now() + ms;
  while (Date.now() < end && printed < WATCH_PAGES) {
    const pages = pagesIn(await site.clientLog(DEMO2_NS));
    for (const p of pages.slice(printed, WATCH_PAGES)) console.log(`Hello from ${p}`);
    printed = Math.min(pages.length, WATCH_PAGES);
    await sleep(500);
  }
  return printed;
}

async function demo1(lab: Lab, hub: AgentLab): Promise<boolean> {
  const site = await DemoSite.start(lab, hub, 1);
  try {
    say(`kubectl apply -n ${DEMO1_NS}: the seed's nginx.yaml and demo1.yaml (nexd proxy --ingress ...)`);
    const { addresses } = await runDemo1(site, hub.serverUrl);
    console.log(
      `nexd proxy Pod: New local Wireguard interface addresses assigned IPv4 [ ${addresses.ipv4} ] IPv6 [ ${addresses.ipv6} ]`,
    );
    const device = await hub.spoke('dev');
    await NexdIn.start(hub, device);
    const seen = new Set<string>();
    for (const url of [`http://${addresses.ipv4}`, `http://[${addresses.ipv6}]`]) {
      say(`on the remote device (nexd agent): curl ${url}`);
      for (let i = 0; i < 6; i++) {
        const r = await exec(device.ns, 'curl', ['-sS', '--max-time', '5', url], { check: false });
        process.stdout.write(r.code === 0 ? r.stdout : `curl failed: ${r.stderr}`);
        for (const p of pagesIn(r.stdout)) seen.add(p);
      }
    }
    return seen.size === 2;
  } finally {
    await site.stop();
  }
}

async function demo2(lab: Lab, hub: AgentLab): Promise<boolean> {
  const site = await DemoSite.start(lab, hub, 1);
  try {
    say('the remote device: nexd agent with VPC address 100.100.0.1 and python3 -m http.server 80');
    await startDemo2Device(lab, hub);
    say(`kubectl apply -n ${DEMO2_NS}: the seed's demo2.yaml (nexd proxy --egress tcp:80:100.100.0.1:80)`);
    await runDemo2(site, hub.serverUrl);
    say('kubectl logs -f deployment/demo2-client');
    return (await followClient(site, WATCH_MS)) > 0;
  } finally {
    await site.stop();
  }
}

async function demo3(lab: Lab, hub: AgentLab): Promise<boolean> {
  const client = await DemoSite.start(lab, hub, 1);
  const server = await DemoSite.start(lab, hub, 2).catch(async (err: unknown) => {
    await client.stop();
    throw err;
  });
  try {
    await TestCluster.link(client.cluster, server.cluster);
    say(`cluster 2, kubectl apply -n ${DEMO1_NS}: demo 1 (nginx and nexd proxy --ingress)`);
    const { addresses } = await runDemo1(server, hub.serverUrl);
    console.log(`cluster 2's nexd proxy Pod has VPC address ${addresses.ipv4}`);
    say(`cluster 1, kubectl apply -n ${DEMO2_NS}: demo 2 with --egress tcp:80:${addresses.ipv4}:80`);
    await runDemo2(client, hub.serverUrl, addresses.ipv4);
    say('cluster 1: kubectl logs -f deployment/demo2-client');
    return (await followClient(client, WATCH_MS)) > 0;
  } finally {
    await client.stop();
    await server.stop();
  }
}

const DEMOS: Record<string, (lab: Lab, hub: AgentLab) => Promise<boolean>> = {
  '1': demo1,
  '2': demo2,
  '3': demo3,
};

const which = process.argv[2];
const run = which === undefined ? undefined : DEMOS[which];
if (!run) fail(`${which === undefined ? 'which demo?' : `no demo ${JSON.stringify(which)}`}\n${USAGE}`);
if (process.getuid?.() !== 0) fail(`needs root (network namespaces, iptables)\n${USAGE}`);
if (!findKubeBinaries()) {
  fail(
    'the Kubernetes binaries are not built yet: run `bash scripts/test-peers/build.sh etcd kubernetes` (or npm test)',
  );
}

const lab = await Lab.create('dmo');
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  console.error('\ndemo: interrupted; tearing down');
  void lab.cleanup().then(() => process.exit(130));
});
try {
  say('the Nexodus service (nexodus-server) and a Kubernetes cluster that runs Pods');
  const hub = await AgentLab.create(lab);
  const ok = await run(lab, hub);
  say(
    ok ? `demo ${which}: done, as the scenario shows` : `demo ${which}: the expected output did not appear`,
  );
  process.exitCode = ok ? 0 : 1;
} catch (err) {
  if (!interrupted) {
    console.error(`demo ${which} failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
} finally {
  if (!interrupted) await lab.cleanup();
}
