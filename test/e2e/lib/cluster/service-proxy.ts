// SPDX-License-Identifier: Apache-2.0
// The tests' kube-proxy (iptables mode, in the node namespace): every Service port with a ClusterIP gets a
// DNAT to its ready endpoints from the real EndpointSlices, one picked at random per connection with the
// `statistic` match (1/n, 1/(n-1), ..., as kube-proxy writes it); a port without endpoints is rejected with
// a TCP reset (ICMP port unreachable for UDP); a Pod that reaches itself through its Service is masqueraded
// (hairpin). The whole rule set is rewritten with one iptables-restore per change, so it is never half-applied.

import { createHash } from 'node:crypto';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type DiscoveryV1EndpointPort,
  type KubeConfig,
  ListWatch,
  type V1EndpointSlice,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';
import { exec } from '../exec.js';
import { restartOnError } from '../kube/restart-on-error.js';

const DEBOUNCE_MS = 30;

export interface Endpoint {
  ip: string;
  port: number;
}

export interface ServicePort {
  /** `namespace/name:port-name`, for chain names and messages. */
  id: string;
  clusterIp: string;
  port: number;
  protocol: 'tcp' | 'udp';
  endpoints: Endpoint[];
}

/** The Service ports and their ready endpoints, from Services and EndpointSlices; `override` replaces some. */
export function servicePorts(
  services: readonly V1Service[],
  slices: readonly V1EndpointSlice[],
  override: (svc: V1Service) => Endpoint[] | undefined = () => undefined,
): ServicePort[] {
  const out: ServicePort[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None' || ip.includes(':')) continue;
    const ns = svc.metadata?.namespace;
    const name = svc.metadata?.name;
    const mine = slices.filter(
      (s) => s.metadata?.namespace === ns && s.metadata?.labels?.['kubernetes.io/service-name'] === name,
    );
    const forced = override(svc);
    for (const p of svc.spec?.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') continue;
      const endpoints: Endpoint[] = forced ?? [];
      if (!forced) {
        for (const slice of mine) {
          if (slice.addressType !== 'IPv4') continue;
          const sp = slice.ports?.find((x: DiscoveryV1EndpointPort) => (x.name ?? '') === (p.name ?? ''));
          if (sp?.port === undefined) continue;
          for (const e of slice.endpoints ?? []) {
            if (e.conditions?.ready === false) continue;
            for (const a of e.addresses) endpoints.push({ ip: a, port: sp.port });
          }
        }
      }
      endpoints.sort((x, y) => (x.ip + x.port < y.ip + y.port ? -1 : 1));
      out.push({ id: `${ns}/${name}:${p.name ?? p.port}`, clusterIp: ip, port: p.port, protocol, endpoints });
    }
  }
  return out;
}

function chainName(id: string): string {
  return `NXK-SVC-${createHash('sha256').update(id).digest('hex').slice(0, 16).toUpperCase()}`;
}

/** The iptables-restore input for both tables (applied with --noflush: only our chains are replaced). */
export function iptablesRules(ports: readonly ServicePort[]): string {
  const nat = ['*nat', ':NXK-SERVICES - [0:0]', ':NXK-POSTROUTING - [0:0]'];
  const natRules: string[] = [];
  const filter = ['*filter', ':NXK-REJECT - [0:0]'];
  const hairpins = new Set<string>();
  for (const sp of ports) {
    const match = `-d ${sp.clusterIp}/32 -p ${sp.protocol} -m ${sp.protocol} --dport ${sp.port}`;
    if (sp.endpoints.length === 0) {
      const how = sp.protocol === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable';
      filter.push(`-A NXK-REJECT ${match} -j REJECT --reject-with ${how}`);
      continue;
    }
    const chain = chainName(sp.id);
    nat.push(`:${chain} - [0:0]`);
    natRules.push(`-A NXK-SERVICES ${match} -m comment --comment "${sp.id}" -j ${chain}`);
    sp.endpoints.forEach((e, i) => {
      const left = sp.endpoints.length - i;
      const pick = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(10)} ` : '';
      natRules.push(`-A ${chain} -p ${sp.protocol} ${pick}-j DNAT --to-destination ${e.ip}:${e.port}`);
      hairpins.add(e.ip);
    });
  }
  for (const ip of [...hairpins].sort())
    natRules.push(`-A NXK-POSTROUTING -s ${ip}/32 -d ${ip}/32 -j MASQUERADE`);
  return `${[...nat, ...natRules, 'COMMIT', ...filter, 'COMMIT'].join('\n')}\n`;
}

export interface ServiceProxyOptions {
  kubeconfig: KubeConfig;
  /** The node namespace whose netfilter carries the Services. */
  ns: string;
  /** Endpoints to use instead of a Service's own (the API server's `default/kubernetes`, reached via a relay). */
  override?: (svc: V1Service) => Endpoint[] | undefined;
}

export class ServiceProxy {
  #services: ListWatch<V1Service> | undefined;
  #slices: ListWatch<V1EndpointSlice> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #applying: Promise<void> = Promise.resolve();
  /** The rule text last applied, for tests and failure messages. */
  applied = '';

  private constructor(private readonly opts: ServiceProxyOptions) {}

  static async start(opts: ServiceProxyOptions): Promise<ServiceProxy> {
    const p = new ServiceProxy(opts);
    await p.#install();
    const core = opts.kubeconfig.makeApiClient(CoreV1Api);
    const discovery = opts.kubeconfig.makeApiClient(DiscoveryV1Api);
    const watch = new Watch(opts.kubeconfig);
    p.#services = new ListWatch('/api/v1/services', watch, () => core.listServiceForAllNamespaces(), false);
    p.#slices = new ListWatch(
      '/apis/discovery.k8s.io/v1/endpointslices',
      watch,
      () => discovery.listEndpointSliceForAllNamespaces(),
      false,
    );
    for (const inf of [p.#services, p.#slices] as ListWatch<never>[]) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => p.#schedule());
      restartOnError(inf, () => p.#stopped);
    }
    await Promise.all([p.#services.start(), p.#slices.start()]);
    p.#schedule();
    return p;
  }

  async #install(): Promise<void> {
    const { ns } = this.opts;
    await exec(ns, 'iptables-restore', ['--noflush'], { input: iptablesRules([]) });
    for (const [table, chain, target] of [
      ['nat', 'PREROUTING', 'NXK-SERVICES'],
      ['nat', 'OUTPUT', 'NXK-SERVICES'],
      ['nat', 'POSTROUTING', 'NXK-POSTROUTING'],
      ['filter', 'FORWARD', 'NXK-REJECT'],
      ['filter', 'OUTPUT', 'NXK-REJECT'],
    ] as const) {
      await exec(ns, 'iptables', ['-t', table, '-I', chain, '1', '-j', target]);
    }
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#applying = this.#applying.then(() => this.#apply()).catch(() => {});
    }, DEBOUNCE_MS);
  }

  async #apply(): Promise<void> {
    const rules = iptablesRules(
      servicePorts(this.#services?.list() ?? [], this.#slices?.list() ?? [], this.opts.override),
    );
    if (rules === this.applied) return;
    await exec(this.opts.ns, 'iptables-restore', ['--noflush'], { input: rules });
    this.applied = rules;
  }

  /** Resolves once the rules reflect everything the informers have seen so far. */
  async settled(): Promise<void> {
    await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 2));
    await this.#applying;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all([this.#services?.stop(), this.#slices?.stop()]);
  }
}
