// SPDX-License-Identifier: Apache-2.0
// Pod networking of the test node, routed as Calico does it rather than bridged: every Pod is a network
// namespace with `eth0` = a.b.c.k/24 and a default route to the node's a.b.c.1; the node side of each veth
// holds a.b.c.1/32 with proxy ARP and a /32 route to its Pod. All Pod-to-Pod and Pod-to-Service traffic
// therefore crosses the node namespace's netfilter, where the service proxy's DNAT applies both ways
// (a bridge would carry same-node replies past it unless br_netfilter were loaded).

import { exec } from '../exec.js';
import { ip, type Lab } from '../netns.js';

export interface PodSandbox {
  /** The Pod's network namespace. */
  ns: string;
  /** The Pod IP, i.e. `10.244.1.7`. */
  ip: string;
  /** The node-side veth in the node namespace. */
  hostIf: string;
}

export class PodNetwork {
  readonly #free: number[] = [];
  #seq = 0;

  /**
   * @param prefix  the node's /24, as its first three octets, i.e. `10.244.1`
   * @param nodeNs  the node namespace (its forwarding is switched on here)
   * @param tag     1-4 characters [a-z0-9] that make this node's Pod namespaces' names unique in the lab
   */
  constructor(
    private readonly lab: Lab,
    readonly nodeNs: string,
    readonly prefix: string,
    private readonly tag: string,
    readonly mtu = 1500,
  ) {
    for (let k = 2; k < 255; k++) this.#free.push(k);
  }

  /** The node's address on every Pod link: the Pods' default gateway. */
  get gateway(): string {
    return `${this.prefix}.1`;
  }

  get cidr(): string {
    return `${this.prefix}.0/24`;
  }

  async init(): Promise<void> {
    await exec(this.nodeNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  }

  async create(): Promise<PodSandbox> {
    const k = this.#free.shift();
    if (k === undefined) throw new Error(`node ${this.nodeNs}: no Pod address left in ${this.cidr}`);
    const podIp = `${this.prefix}.${k}`;
    const ns = await this.lab.netns(`${this.tag}p${(this.#seq++).toString(36)}`);
    const link = await this.lab.veth({ ns, mtu: this.mtu }, { ns: this.nodeNs, mtu: this.mtu });
    const podIf = link.a.ifname;
    const hostIf = link.b.ifname;
    await ip(ns, ['link', 'set', podIf, 'down']);
    await ip(ns, ['link', 'set', podIf, 'name', 'eth0']);
    await ip(ns, ['addr', 'add', `${podIp}/24`, 'dev', 'eth0']);
    await ip(ns, ['link', 'set', 'eth0', 'up']);
    await ip(ns, ['route', 'add', 'default', 'via', this.gateway, 'dev', 'eth0']);
    await ip(this.nodeNs, ['addr', 'add', `${this.gateway}/32`, 'dev', hostIf]);
    await ip(this.nodeNs, ['route', 'add', `${podIp}/32`, 'dev', hostIf]);
    await exec(this.nodeNs, 'sysctl', ['-q', '-w', `net.ipv4.conf.${hostIf}.proxy_arp=1`]);
    return { ns, ip: podIp, hostIf };
  }

  /** Deletes the Pod's namespace (its veth goes with it) and frees the address. */
  async destroy(sandbox: PodSandbox): Promise<void> {
    await this.lab.deleteNetns(sandbox.ns);
    this.#free.push(Number(sandbox.ip.split('.')[3]));
  }
}
