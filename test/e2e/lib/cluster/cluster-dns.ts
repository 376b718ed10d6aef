// SPDX-License-Identifier: Apache-2.0
// The tests' cluster DNS: dnsmasq in the node namespace on a link-local address (as NodeLocal DNSCache
// does), answering `<service>.<namespace>.svc.<domain>` with the Service's ClusterIP (a headless Service
// with its ready endpoints) from the real Services and EndpointSlices; every other name under the cluster
// domain is NXDOMAIN, and nothing is forwarded (no upstream is reachable from the tests).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  ListWatch,
  type V1EndpointSlice,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';
import type { Proc } from '../exec.js';
import { restartOnError } from '../kube/restart-on-error.js';
import type { Lab } from '../netns.js';
import { ip } from '../netns.js';

/** The hosts-file lines for every Service (one name per line, `addr name`). */
export function dnsRecords(
  services: readonly V1Service[],
  slices: readonly V1EndpointSlice[],
  domain: string,
): string {
  const lines: string[] = [];
  for (const svc of services) {
    const ns = svc.metadata?.namespace;
    const name = `${svc.metadata?.name}.${ns}.svc.${domain}`;
    const cip = svc.spec?.clusterIP;
    if (cip && cip !== 'None') {
      lines.push(`${cip} ${name}`);
      continue;
    }
    for (const s of slices) {
      if (
        s.metadata?.namespace !== ns ||
        s.metadata?.labels?.['kubernetes.io/service-name'] !== svc.metadata?.name
      )
        continue;
      for (const e of s.endpoints ?? [])
        if (e.conditions?.ready !== false) for (const a of e.addresses) lines.push(`${a} ${name}`);
    }
  }
  return `${lines.sort().join('\n')}\n`;
}

export class ClusterDns {
  #proc: Proc | undefined;
  #informers: ListWatch<never>[] = [];
  #stopped = false;
  #file = '';
  #written = '';

  private constructor(
    readonly address: string,
    /** The cluster domain it answers, i.e. `cluster.local`. */
    readonly domain: string,
  ) {}

  /** Starts dnsmasq on `address` (added to `ns`'s loopback) and keeps its records current. */
  static async start(
    lab: Lab,
    ns: string,
    kubeconfig: KubeConfig,
    address = '169.254.20.10',
    domain = 'cluster.local',
  ): Promise<ClusterDns> {
    const dns = new ClusterDns(address, domain);
    // On the node's loopback (this kernel has no dummy interfaces); Pods reach it through their route to the node.
    await ip(ns, ['addr', 'add', `${address}/32`, 'dev', 'lo']);
    const dir = lab.tempDir('dns');
    dns.#file = join(dir, 'services.hosts');
    writeFileSync(dns.#file, '');
    const core = kubeconfig.makeApiClient(CoreV1Api);
    const discovery = kubeconfig.makeApiClient(DiscoveryV1Api);
    const watch = new Watch(kubeconfig);
    const services = new ListWatch<V1Service>(
      '/api/v1/services',
      watch,
      () => core.listServiceForAllNamespaces(),
      false,
    );
    const slices = new ListWatch<V1EndpointSlice>(
      '/apis/discovery.k8s.io/v1/endpointslices',
      watch,
      () => discovery.listEndpointSliceForAllNamespaces(),
      false,
    );
    const refresh = () => {
      const text = dnsRecords(services.list(), slices.list(), domain);
      if (text === dns.#written) return;
      writeFileSync(dns.#file, text);
      dns.#written = text;
      // SIGHUP makes dnsmasq re-read its addn-hosts file.
      if (dns.#proc?.pid) process.kill(dns.#proc.pid, 'SIGHUP');
    };
    for (const inf of [services, slices] as ListWatch<never>[]) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, refresh);
      restartOnError(inf, () => dns.#stopped);
      dns.#informers.push(inf);
    }
    await Promise.all([services.start(), slices.start()]);
    refresh();
    dns.#proc = lab.spawn(ns, 'dnsmasq', [
      '--keep-in-foreground',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${dns.#file}`,
      `--listen-address=${address}`,
      '--bind-interfaces',
      `--local=/${domain}/`,
      '--domain-needed',
      '--cache-size=0',
      '--user=root',
      '--pid-file=',
    ]);
    return dns;
  }

  /** The records dnsmasq serves now. */
  get records(): string {
    return this.#written;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#informers.map((i) => i.stop()));
    await this.#proc?.stop();
  }
}
