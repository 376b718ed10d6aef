// SPDX-License-Identifier: Apache-2.0
// A one-node cluster that runs Pods, on top of a real control plane: the node namespace (Pods routed from
// it, pod-network.ts), the node agent (node-agent.ts), the service proxy (service-proxy.ts) and the cluster
// DNS (cluster-dns.ts). Its uplink is a veth to the root namespace with the node masquerading behind it,
// so Pods reach services the test runs on the host (the Nexodus server, the API server through a relay)
// the way Pods reach the Internet. `attach()` puts another namespace on the node's LAN (a remote device)
// and `TestCluster.link()` routes two clusters' Pod networks to each other (demo 3's data center).
//
//   const c = await TestCluster.start({ lab, index: 1, kubeconfig: cp.kc, apiServer: cp.server });
//   ... kubectl apply; await c.waitPodsReady(ns, 'app=nginx', 2); c.logs(ns, pod) ...
//   await c.stop();   // before lab.cleanup()

import net from 'node:net';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { exec, waitFor } from '../exec.js';
import { ip, type Lab } from '../netns.js';
import { ClusterDns } from './cluster-dns.js';
import { NodeAgent } from './node-agent.js';
import { PodNetwork } from './pod-network.js';
import { ServiceProxy } from './service-proxy.js';

export interface TestClusterOptions {
  lab: Lab;
  /** 1-200: the node's Pod network is 10.244.<index>.0/24, its LAN 172.30.<index>.0/24. */
  index: number;
  kubeconfig: KubeConfig;
  /** Where the test process reaches the API server, i.e. `https://127.0.0.1:6443`. */
  apiServer: string;
  /** The MTU of the Pods' eth0 (default 1500; a CNI with VXLAN gives 1450). */
  podMtu?: number;
}

let linkSeq = 0;

export class TestCluster {
  readonly nodeName: string;
  agent!: NodeAgent;
  proxy!: ServiceProxy;
  dns!: ClusterDns;
  /** The host (root namespace) side of the uplink: services the Pods should reach listen here. */
  hostAddress = '';
  readonly #relay: net.Server = net.createServer();
  /** The relay's open connections: a Pod whose namespace vanished never closes its side of them. */
  readonly #relayed = new Set<net.Socket>();
  #attached = 0;

  private constructor(
    readonly opts: TestClusterOptions,
    readonly nodeNs: string,
    readonly network: PodNetwork,
  ) {
    this.nodeName = `node-${opts.index}`;
  }

  static async start(opts: TestClusterOptions): Promise<TestCluster> {
    const { lab, index } = opts;
    const nodeNs = await lab.netns(`node${index}`);
    const network = new PodNetwork(lab, nodeNs, `10.244.${index}`, `c${index}`, opts.podMtu ?? 1500);
    const c = new TestCluster(opts, nodeNs, network);
    await c.#uplink();
    const core = opts.kubeconfig.makeApiClient(CoreV1Api);
    const kubernetes = await waitFor(
      'the kubernetes Service',
      () => core.readNamespacedService({ name: 'kubernetes', namespace: 'default' }).catch(() => undefined),
      30_000,
      200,
    );
    const relayPort = await c.#startApiRelay(new URL(opts.apiServer));
    c.proxy = await ServiceProxy.start({
      kubeconfig: opts.kubeconfig,
      ns: nodeNs,
      override: (svc) =>
        svc.metadata?.namespace === 'default' && svc.metadata.name === 'kubernetes'
          ? [{ ip: c.hostAddress, port: relayPort }]
          : undefined,
    });
    c.dns = await ClusterDns.start(lab, nodeNs, opts.kubeconfig);
    c.agent = await NodeAgent.start({
      lab,
      kubeconfig: opts.kubeconfig,
      nodeName: c.nodeName,
      network,
      dnsServer: c.dns.address,
      kubernetesService: { host: kubernetes.spec!.clusterIP!, port: kubernetes.spec!.ports![0]!.port },
    });
    return c;
  }

  /** veth to the root namespace; the node's default route and masquerade go through it. */
  async #uplink(): Promise<void> {
    const { lab } = this.opts;
    const sub = await lab.subnet();
    const link = await lab.veth(
      { ns: null, addrs: [`${sub.a4}/${sub.len4}`] },
      { ns: this.nodeNs, addrs: [`${sub.b4}/${sub.len4}`] },
    );
    this.hostAddress = sub.a4;
    await ip(this.nodeNs, ['route', 'add', 'default', 'via', sub.a4]);
    await exec(this.nodeNs, 'iptables', [
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-o',
      link.b.ifname,
      '-j',
      'MASQUERADE',
    ]);
  }

  /** A TCP relay on the uplink's host address to the API server (which listens on loopback only). */
  async #startApiRelay(api: URL): Promise<number> {
    this.#relay.on('connection', (client) => {
      const up = net.connect(Number(api.port || 443), api.hostname);
      for (const s of [client, up]) {
        this.#relayed.add(s);
        s.once('close', () => this.#relayed.delete(s));
      }
      client.pipe(up).pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.#relay.listen(0, this.hostAddress, resolve));
    return (this.#relay.address() as net.AddressInfo).port;
  }

  /**
   * Puts namespace `ns` on the node's LAN: a veth with 172.30.<index>.<4k+2>/30 on `ns`'s side and routes
   * to the Pod network, as a device in the same data center as the cluster. Returns `ns`'s address.
   */
  async attach(ns: string): Promise<string> {
    const k = this.#attached++;
    const base = `172.30.${this.opts.index}`;
    const [node, dev] = [`${base}.${4 * k + 1}`, `${base}.${4 * k + 2}`];
    await this.opts.lab.veth({ ns: this.nodeNs, addrs: [`${node}/30`] }, { ns, addrs: [`${dev}/30`] });
    await ip(ns, ['route', 'add', this.network.cidr, 'via', node]);
    return dev;
  }

  /** Routes the Pod networks of `a` and `b` to each other over a direct link between their nodes. */
  static async link(a: TestCluster, b: TestCluster): Promise<void> {
    const k = linkSeq++;
    const [aa, bb] = [`172.31.${k}.1`, `172.31.${k}.2`];
    await a.opts.lab.veth({ ns: a.nodeNs, addrs: [`${aa}/30`] }, { ns: b.nodeNs, addrs: [`${bb}/30`] });
    await ip(a.nodeNs, ['route', 'add', b.network.cidr, 'via', bb]);
    await ip(b.nodeNs, ['route', 'add', a.network.cidr, 'via', aa]);
  }

  /** Waits until `count` Pods matching `selector` in `namespace` are Ready; returns them. */
  async waitPodsReady(
    namespace: string,
    selector: string,
    count: number,
    timeoutMs = 60_000,
  ): Promise<V1Pod[]> {
    const core = this.opts.kubeconfig.makeApiClient(CoreV1Api);
    let last: V1Pod[] = [];
    try {
      return await waitFor(
        `${count} ready Pods ${selector} in ${namespace}`,
        async () => {
          last = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
          const ready = last.filter(
            (p) =>
              !p.metadata?.deletionTimestamp &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          return ready.length >= count ? ready : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (err) {
      // Say what the Pods were doing: their container states and output.
      const detail = last.map((p) => {
        const states = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
          .map((c) => `${c.name}=${JSON.stringify(c.state)}`)
          .join(' ');
        const logs = (p.spec?.containers ?? []).map((c) =>
          this.logs(namespace, p.metadata!.name!, c.name).slice(-500),
        );
        return `${p.metadata?.name} on ${p.spec?.nodeName ?? '(unscheduled)'} ${p.status?.phase}: ${states} ${logs.join(' | ')}`;
      });
      throw new Error(`${(err as Error).message}\n${detail.join('\n')}`);
    }
  }

  /** What a Pod's container printed (see NodeAgent.logs). */
  logs(namespace: string, pod: string, container?: string): string {
    return this.agent.logs(namespace, pod, container);
  }

  async stop(): Promise<void> {
    await this.agent?.stop();
    await this.proxy?.stop();
    await this.dns?.stop();
    const closed = new Promise<void>((r) => this.#relay.close(() => r()));
    for (const s of this.#relayed) s.destroy();
    await closed;
  }
}
