// SPDX-License-Identifier: Apache-2.0
// The scenario's three demos as building blocks, shared by their tests (test/e2e/demo{1,2,3}.test.ts) and
// `npm run demo -- 1|2|3` (scripts/demo.ts): a cluster that runs Pods on a real control plane, the Nexodus
// service and the remote device in an agent lab's star whose hub sits on the cluster's LAN, and the seed's
// manifests (deploy/demos/seed) applied with only the service URL (and demo 3's egress address) changed.
//
//   const site = await DemoSite.start(lab, hub, 1);          // control plane + cluster, hub attached
//   await site.scenarioSecrets('nexd-proxy-demo1');          // namespace, credentials, WireGuard keys
//   await site.apply('nexd-proxy-demo1', seed('nginx.yaml'), seed('demo1.yaml', hub.serverUrl));
//   const { ipv4 } = await site.proxyAddresses('nexd-proxy-demo1');
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD, buildSkipReason } from '../../../packages/nexd/test/harness/processes.js';
import { type AgentLab, NexdIn, type Spoke } from './agent-lab.js';
import { REPO_ROOT } from './cluster/images.js';
import { TestCluster } from './cluster/test-cluster.js';
import { DelayBox } from './delay-box.js';
import { waitFor } from './exec.js';
import { ControlPlane, kubeSkipReason } from './kube/control-plane.js';
import { exec, ip, type Lab } from './netns.js';
import { rootSkipReason } from './root.js';
import { wgKeyPair } from './wireguard-go.js';

export const DEMO1_NS = 'nexd-proxy-demo1';
export const DEMO2_NS = 'nexd-proxy-demo2';
/** The scenario's impaired underlay: "1 % loss and 20 ms delay". */
export const IMPAIRMENT = { lossRate: 0.01, delayMs: 20 } as const;
/** Where the clusters' Pod networks live (TestCluster: 10.244.<index>.0/24). */
export const POD_NETWORKS = '10.244.0.0/16';
/** The service URL the seed's manifests name; replaced by the lab's. */
const SEED_SERVICE_URL = 'https://try.nexodus.io';
/** Demo 2's egress target, the remote device's VPC address in the scenario. */
export const DEMO2_DEVICE_IP = '100.100.0.1';

/** The remote device's name in demo 2's page ("Hello from ${HOSTNAME}"). */
export const DEMO2_DEVICE_HOSTNAME = 'demo2-device';

/** For the demo tests' `describe(..., { skip })`: root, the tools the topology uses, the build, Kubernetes. */
export function demoSkipReason(): string | undefined {
  return (
    rootSkipReason(['ip', 'iptables', 'dnsmasq', 'curl', 'setpriv', 'wg', 'python3']) ??
    buildSkipReason() ??
    kubeSkipReason()
  );
}

/** A seed manifest as written, with the service URL replaced (and any further `[from, to]` pairs). */
export function seed(file: string, serviceUrl: string, ...replace: [string, string][]): string {
  let text = readFileSync(join(REPO_ROOT, 'deploy', 'demos', 'seed', file), 'utf8').replaceAll(
    SEED_SERVICE_URL,
    serviceUrl,
  );
  for (const [from, to] of replace) {
    if (!text.includes(from)) throw new Error(`seed ${file} has no ${JSON.stringify(from)} to replace`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/** The "Hello from <name>" pages in a text (curl output or a client Pod's log), in order. */
export function pagesIn(text: string): string[] {
  return [...text.matchAll(/^Hello from (\S+)$/gm)].map((m) => m[1]!);
}

/**
 * Creates namespace `ns` with the admin's login in the Secret `nexodus-credentials` (username, password),
 * and waits for its `default` ServiceAccount (the controller-manager adds it; a Pod applied before is
 * refused).
 */
export async function namespaceWithCredentials(
  kubectl: (args: string[]) => Promise<string>,
  ns: string,
): Promise<void> {
  await kubectl(['create', 'namespace', ns]);
  await waitFor(
    `the default ServiceAccount of ${ns}`,
    () => kubectl(['get', 'serviceaccount', 'default', '-n', ns, '-o', 'name']).catch(() => undefined),
    30_000,
    100,
  );
  await kubectl([
    'create',
    'secret',
    'generic',
    'nexodus-credentials',
    '-n',
    ns,
    '--from-literal=username=admin',
    `--from-literal=password=${ADMIN_PASSWORD}`,
  ]);
}

/** One cluster of a demo: its own control plane and a one-node cluster, with the agent lab's hub on its LAN. */
export class DemoSite {
  private constructor(
    readonly cp: ControlPlane,
    readonly cluster: TestCluster,
  ) {}

  static async start(lab: Lab, hub: AgentLab, index: number): Promise<DemoSite> {
    const cp = await ControlPlane.start();
    try {
      const cluster = await TestCluster.start({ lab, index, kubeconfig: cp.kc, apiServer: cp.server });
      const site = new DemoSite(cp, cluster);
      // The hub (the Nexodus service, remote devices behind it) joins the node's LAN; the node routes the
      // service's address and the devices' underlay through it.
      const hubAddress = await cluster.attach(hub.hub);
      await exec(hub.hub, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
      await ip(cluster.nodeNs, ['route', 'add', '198.18.0.0/16', 'via', hubAddress]);
      return site;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  /** kubectl against this site's API server; a non-zero exit throws with kubectl's stderr. */
  async kubectl(args: string[], input?: string): Promise<string> {
    const r = await this.cp.kubectl(args, { check: false, ...(input !== undefined ? { input } : {}) });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** What the scenario asks the user to create first: the namespace, the credentials and the WireGuard keys. */
  async scenarioSecrets(ns: string): Promise<{ publicKey: string }> {
    const keys = await wgKeyPair();
    await namespaceWithCredentials((args) => this.kubectl(args), ns);
    await this.kubectl([
      'create',
      'secret',
      'generic',
      'wireguard-keys',
      '-n',
      ns,
      `--from-literal=private.key=${keys.privateKey}`,
      `--from-literal=public.key=${keys.publicKey}`,
    ]);
    return { publicKey: keys.publicKey };
  }

  /**
   * Lets the seed's Pods (the namespace's `default` ServiceAccount) keep nexd's state in a Secret named after
   * their Deployment, as the original did: deploy/rbac/nexd-state-owner.yaml bound to `default`. The seed
   * itself ships no RBAC; this is the one thing a user adds so that a replaced Pod keeps its identity.
   */
  async grantStateSecret(ns: string): Promise<void> {
    const rbac = readFileSync(join(REPO_ROOT, 'deploy', 'rbac', 'nexd-state-owner.yaml'), 'utf8');
    await this.apply(ns, rbac.replace(/name: nexd-proxy$/m, 'name: default'));
  }

  async apply(ns: string, ...manifests: string[]): Promise<void> {
    for (const text of manifests) await this.kubectl(['apply', '-n', ns, '-f', '-'], text);
  }

  /** The name of the one Ready nexd proxy Pod (`app=nexd-proxy`) in `ns`, waiting for it. */
  async proxyPod(ns: string, timeoutMs = 90_000): Promise<string> {
    const [pod] = await this.cluster.waitPodsReady(ns, 'app=nexd-proxy', 1, timeoutMs);
    return pod!.metadata!.name!;
  }

  /** The VPC addresses a proxy Pod logged (the line the scenario tells users to look for). */
  proxyAddresses(ns: string, pod: string, timeoutMs = 60_000): Promise<{ ipv4: string; ipv6: string }> {
    return waitFor(
      `the address line of ${pod}`,
      () => {
        const m = /New local Wireguard interface addresses assigned IPv4 \[ (\S+) \] IPv6 \[ (\S+) \]/.exec(
          this.cluster.logs(ns, pod),
        );
        return m ? { ipv4: m[1]!, ipv6: m[2]! } : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /**
   * Deletes the proxy Pod and waits for its replacement (the Deployment's next Pod) to be Ready; returns
   * the replacement's name.
   */
  async replaceProxyPod(ns: string, pod: string): Promise<string> {
    await this.kubectl(['delete', 'pod', '-n', ns, pod, '--wait=false']);
    return waitFor(
      `a replacement for ${pod}`,
      async () => {
        const ready = await this.cluster.waitPodsReady(ns, 'app=nexd-proxy', 1, 90_000);
        const name = ready[0]!.metadata!.name!;
        return name !== pod ? name : undefined;
      },
      120_000,
      250,
    );
  }

  /** The client Pod's log (demo 2's `demo2-client`). */
  async clientLog(ns: string): Promise<string> {
    const [pod] = await this.cluster.waitPodsReady(ns, 'app=demo2-client', 1, 90_000);
    return this.cluster.logs(ns, pod!.metadata!.name!);
  }

  async stop(): Promise<void> {
    await this.cluster.stop();
    await this.cp.stop();
  }
}

/**
 * Demo 1 on `site`: the scenario's secrets, the seed's nginx.yaml and demo1.yaml; waits for both nginx
 * Pods and the proxy Pod, and returns the proxy Pod with its VPC addresses. `keepState` grants the Secret
 * store first (see grantStateSecret).
 */
export async function runDemo1(
  site: DemoSite,
  serviceUrl: string,
  opts: { keepState?: boolean } = {},
): Promise<{ proxyPod: string; addresses: { ipv4: string; ipv6: string } }> {
  await site.scenarioSecrets(DEMO1_NS);
  if (opts.keepState) await site.grantStateSecret(DEMO1_NS);
  await site.apply(DEMO1_NS, seed('nginx.yaml', serviceUrl), seed('demo1.yaml', serviceUrl));
  await site.cluster.waitPodsReady(DEMO1_NS, 'app=nginx', 2, 90_000);
  const proxyPod = await site.proxyPod(DEMO1_NS);
  return { proxyPod, addresses: await site.proxyAddresses(DEMO1_NS, proxyPod) };
}

/**
 * Demo 2's remote device: a spoke of the hub running nexd in agent mode with VPC address 100.100.0.1 (it
 * asks for it, and registers before any proxy), serving "Hello from demo2-device" with `python3 -m
 * http.server 80`, as the scenario's device does. `hostname`: the device registers with that hostname
 * (default the machine's); nexlink's device annotation finds it by that.
 */
export async function startDemo2Device(
  lab: Lab,
  hub: AgentLab,
  opts: { hostname?: string } = {},
): Promise<{ spoke: Spoke; agent: NexdIn }> {
  const spoke = await hub.spoke('dev');
  const agent = await startDemo2Agent(hub, spoke, DEMO2_DEVICE_IP, opts.hostname);
  const www = lab.tempDir('www');
  writeFileSync(join(www, 'index.html'), `Hello from ${DEMO2_DEVICE_HOSTNAME}\n`);
  lab.spawn(spoke.ns, 'python3', ['-m', 'http.server', '80'], { cwd: www });
  return { spoke, agent };
}

/**
 * nexd in agent mode on demo 2's device spoke, with a fresh state (a new key, so a new device) asking for
 * VPC address `requestIp`: the first start, or the device re-registering with another address.
 */
export async function startDemo2Agent(
  hub: AgentLab,
  spoke: Spoke,
  requestIp: string,
  hostname?: string,
): Promise<NexdIn> {
  const agent = await NexdIn.start(hub, spoke, {
    globals: ['--request-ip', requestIp],
    ...(hostname ? { hostname } : {}),
  });
  if (agent.addresses.ipv4 !== requestIp)
    throw new Error(`the device got ${agent.addresses.ipv4}, not ${requestIp}`);
  return agent;
}

/**
 * Demo 2 on `site`: the scenario's secrets and the seed's demo2.yaml, its egress rule pointing at
 * `target` (demo 3 points it at cluster 2's proxy); the Secret store granted. Returns the proxy Pod.
 */
export async function runDemo2(
  site: DemoSite,
  serviceUrl: string,
  target = DEMO2_DEVICE_IP,
): Promise<string> {
  await site.scenarioSecrets(DEMO2_NS);
  await site.grantStateSecret(DEMO2_NS);
  const replace: [string, string][] =
    target === DEMO2_DEVICE_IP ? [] : [[`tcp:80:${DEMO2_DEVICE_IP}:80`, `tcp:80:${target}:80`]];
  await site.apply(DEMO2_NS, seed('demo2.yaml', serviceUrl, ...replace));
  return site.proxyPod(DEMO2_NS);
}

/**
 * Impairs the WireGuard underlay between `a` and `b` (IPv4 networks) where `router` forwards it: 1 % loss
 * and 20 ms each way (DelayBox). The hub for a remote device and the Pods; a node for two clusters.
 */
export function impairUnderlay(lab: Lab, router: string, a: string, b: string): Promise<DelayBox> {
  return DelayBox.start(lab, router, { between: [a, b], ...IMPAIRMENT });
}
