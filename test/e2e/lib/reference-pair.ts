// SPDX-License-Identifier: Apache-2.0
// The reference WireGuard link: two namespaces, each with wireguard-go and the Linux kernel behind it, so
// kernel TCP on both ends. The harness tests ping through it; the netstack benchmark runs iperf3 over it as the
// figure our stack is compared with.
//
// Topologies:
//   direct:  [ns a: wg 198.19.0.1] --veth-- [ns b: wg 198.19.0.2]
//   relay:   [ns a: wg] --veth-- (root: UdpRelay in this process) --veth-- [ns b: wg]
// The relay variant adds delay/reordering (this kernel has no netem); `addRandomDrop()` on `a.underlayIf` or
// `b.underlayIf` adds loss.

import { exec, type Lab, LabError, type Ns, type Proc, waitFor } from './netns.js';
import { RelayProcess } from './relay-process.js';
import { UdpRelay, type UdpRelayOptions } from './udp-relay.js';
import { WireGuardGo } from './wireguard-go.js';

export interface PairSide {
  ns: string;
  wg: WireGuardGo;
  /** Underlay (veth) address wireguard-go listens on, and the veth's name inside `ns`. */
  underlay: string;
  underlayIf: string;
  /** Tunnel addresses without prefix. */
  tunnel4: string;
  tunnel6: string;
}

export interface ReferencePairOptions {
  /**
   * Put a `UdpRelay` with these impairments between the two wireguard-go instances; `process: true` runs it
   * in its own node process (`RelayProcess`), which bulk transfers should use.
   */
  relay?: Omit<UdpRelayOptions, 'a' | 'b'> & { process?: boolean };
  /** Tunnel MTU (default 1420). */
  mtu?: number;
  /** Persistent keepalive on both sides in seconds (default off). */
  persistentKeepalive?: number;
  /** The wireguard-go binary of both sides (default Debian's on PATH). */
  wireguardGo?: string;
  /** Runs in each namespace before wireguard-go starts (i.e. socket buffer sysctls). */
  prepareNs?: (ns: string) => Promise<void>;
}

export interface IperfOptions {
  /** Seconds (default 3). */
  seconds?: number;
  /** Parallel streams (default 1). */
  parallel?: number;
  /** Server sends instead (`-R`). */
  reverse?: boolean;
  /** Use the IPv6 tunnel address (default IPv4). */
  ipv6?: boolean;
  /** Server port (default 5201). */
  port?: number;
}

export interface IperfResult {
  /** Goodput the receiver saw, in bit/s. */
  bitsPerSecond: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** TCP retransmissions of the sender (when the sender is the client). */
  retransmits: number | undefined;
}

export const TUNNEL4 = { a: '198.19.0.1', b: '198.19.0.2', len: 24 } as const;
export const TUNNEL6 = { a: 'fd00:19::1', b: 'fd00:19::2', len: 64 } as const;

export class ReferencePair {
  readonly lab: Lab;
  readonly a: PairSide;
  readonly b: PairSide;
  /** The in-process relay, when `relay` was given without `process: true`. */
  readonly relay: UdpRelay | undefined;
  /** The out-of-process relay, when `relay.process` was true. */
  readonly relayProcess: RelayProcess | undefined;

  constructor(lab: Lab, a: PairSide, b: PairSide, relay: UdpRelay | RelayProcess | undefined) {
    this.lab = lab;
    this.a = a;
    this.b = b;
    this.relay = relay instanceof UdpRelay ? relay : undefined;
    this.relayProcess = relay instanceof RelayProcess ? relay : undefined;
  }

  side(name: 'a' | 'b'): PairSide {
    return name === 'a' ? this.a : this.b;
  }

  /** Starts `iperf3 -s` in the side's namespace and waits until it listens. Stop it with `proc.stop()`. */
  async iperfServer(on: 'a' | 'b', port = 5201): Promise<Proc> {
    return startIperfServer(this.lab, this.side(on).ns, port);
  }

  /** Runs `iperf3 -c` from side `from` to the other side's tunnel address (a server must be running there). */
  async iperf(from: 'a' | 'b', opts: IperfOptions = {}): Promise<IperfResult> {
    const to = this.side(from === 'a' ? 'b' : 'a');
    return runIperfClient(this.side(from).ns, opts.ipv6 ? to.tunnel6 : to.tunnel4, opts);
  }

  async close(): Promise<void> {
    await this.relay?.close();
    await this.relayProcess?.stop();
    await Promise.all([this.a.wg.stop(), this.b.wg.stop()]);
  }
}

/** Starts `iperf3 -s -p port` in `ns` and waits until it listens on TCP `port`. */
export async function startIperfServer(lab: Lab, ns: Ns, port = 5201): Promise<Proc> {
  const proc = lab.spawn(ns, 'iperf3', ['-s', '-p', String(port)]);
  await waitFor(`iperf3 -s on port ${port}`, async () => {
    if (proc.exit !== undefined)
      throw new LabError('NEX_ERR_E2E_COMMAND', `iperf3 -s exited: ${proc.stderr.trim()}`);
    const r = await exec(ns, 'ss', ['-Htln', `sport = :${port}`]);
    return r.stdout.trim() ? true : undefined;
  });
  return proc;
}

/** `iperf3 -c dst -J` in `ns`; parses the receiver's goodput. */
export async function runIperfClient(ns: Ns, dst: string, opts: IperfOptions = {}): Promise<IperfResult> {
  const seconds = opts.seconds ?? 3;
  const args = [
    '-c',
    dst,
    '-p',
    String(opts.port ?? 5201),
    '-t',
    String(seconds),
    '-P',
    String(opts.parallel ?? 1),
    '-J',
  ];
  if (opts.reverse) args.push('-R');
  const r = await exec(ns, 'iperf3', args, { timeoutMs: (seconds + 20) * 1000, check: false });
  return parseIperfJson(r.stdout, r.stderr);
}

/** Extracts goodput from `iperf3 -J` output; throws a LabError carrying iperf3's own error text otherwise. */
export function parseIperfJson(stdout: string, stderr = ''): IperfResult {
  let j: {
    error?: string;
    end?: {
      sum_received?: { bits_per_second: number; bytes: number };
      sum_sent?: { retransmits?: number };
    };
  };
  try {
    j = JSON.parse(stdout);
  } catch {
    throw new LabError(
      'NEX_ERR_E2E_COMMAND',
      `iperf3 printed no JSON: ${stderr.trim() || stdout.slice(0, 200)}`,
    );
  }
  if (j.error) throw new LabError('NEX_ERR_E2E_COMMAND', `iperf3: ${j.error}`);
  const rx = j.end?.sum_received;
  if (!rx) throw new LabError('NEX_ERR_E2E_COMMAND', 'iperf3 JSON has no end.sum_received');
  return { bitsPerSecond: rx.bits_per_second, bytes: rx.bytes, retransmits: j.end?.sum_sent?.retransmits };
}

/**
 * Builds the reference pair: namespaces `<prefix>-<name>a` / `<name>b`, a wireguard-go in each on a TUN device
 * with 198.19.0.1/24 + fd00:19::1/64 (a) and 198.19.0.2/24 + fd00:19::2/64 (b), peered with each other, either
 * over a direct veth or through a `UdpRelay` in this process. Handshakes happen on first traffic.
 */
export async function referencePair(
  lab: Lab,
  name = 'ref',
  opts: ReferencePairOptions = {},
): Promise<ReferencePair> {
  const nsA = await lab.netns(`${name}a`);
  const nsB = await lab.netns(`${name}b`);
  let underA: { addr: string; ifname: string };
  let underB: { addr: string; ifname: string };
  let rootA = '';
  let rootB = '';
  if (opts.relay) {
    const sa = await lab.subnet();
    const sb = await lab.subnet();
    const va = await lab.veth(
      { ns: nsA, addrs: [`${sa.b4}/${sa.len4}`] },
      { ns: null, addrs: [`${sa.a4}/${sa.len4}`] },
    );
    const vb = await lab.veth(
      { ns: nsB, addrs: [`${sb.b4}/${sb.len4}`] },
      { ns: null, addrs: [`${sb.a4}/${sb.len4}`] },
    );
    underA = { addr: sa.b4, ifname: va.a.ifname };
    underB = { addr: sb.b4, ifname: vb.a.ifname };
    rootA = sa.a4;
    rootB = sb.a4;
  } else {
    // Both ends inside namespaces: fixed addresses cannot collide with anything on the host.
    const v = await lab.veth({ ns: nsA, addrs: ['198.18.0.1/30'] }, { ns: nsB, addrs: ['198.18.0.2/30'] });
    underA = { addr: '198.18.0.1', ifname: v.a.ifname };
    underB = { addr: '198.18.0.2', ifname: v.b.ifname };
  }
  const mtu = opts.mtu ?? 1420;
  const bin = opts.wireguardGo ? { bin: opts.wireguardGo } : {};
  for (const ns of [nsA, nsB]) await opts.prepareNs?.(ns);
  const wgA = await WireGuardGo.start(lab, nsA, {
    addresses: [`${TUNNEL4.a}/${TUNNEL4.len}`, `${TUNNEL6.a}/${TUNNEL6.len}`],
    mtu,
    ...bin,
  });
  const wgB = await WireGuardGo.start(lab, nsB, {
    addresses: [`${TUNNEL4.b}/${TUNNEL4.len}`, `${TUNNEL6.b}/${TUNNEL6.len}`],
    mtu,
    ...bin,
  });
  let relay: UdpRelay | RelayProcess | undefined;
  let endpointOfB = { address: underB.addr, port: wgB.listenPort };
  let endpointOfA = { address: underA.addr, port: wgA.listenPort };
  if (opts.relay) {
    const { process: outOfProcess, ...impairments } = opts.relay;
    const sides = {
      a: { bind: { address: rootA }, target: { address: underA.addr, port: wgA.listenPort } },
      b: { bind: { address: rootB }, target: { address: underB.addr, port: wgB.listenPort } },
    };
    if (outOfProcess) {
      const r = await RelayProcess.start(lab, null, { ...impairments, ...sides });
      lab.defer(async () => void (await r.stop()));
      relay = r;
    } else {
      const r = await UdpRelay.start({ ...impairments, ...sides });
      lab.defer(() => r.close());
      relay = r;
    }
    // A talks to side a of the relay, which forwards out of side b to B, and back.
    endpointOfB = relay.a;
    endpointOfA = relay.b;
  }
  await wgA.setPeer({
    publicKey: wgB.publicKey,
    endpoint: endpointOfB,
    allowedIps: [`${TUNNEL4.b}/32`, `${TUNNEL6.b}/128`],
    persistentKeepalive: opts.persistentKeepalive,
  });
  await wgB.setPeer({
    publicKey: wgA.publicKey,
    endpoint: endpointOfA,
    allowedIps: [`${TUNNEL4.a}/32`, `${TUNNEL6.a}/128`],
    persistentKeepalive: opts.persistentKeepalive,
  });
  const side = (
    ns: string,
    wg: WireGuardGo,
    u: { addr: string; ifname: string },
    which: 'a' | 'b',
  ): PairSide => ({
    ns,
    wg,
    underlay: u.addr,
    underlayIf: u.ifname,
    tunnel4: TUNNEL4[which],
    tunnel6: TUNNEL6[which],
  });
  return new ReferencePair(lab, side(nsA, wgA, underA, 'a'), side(nsB, wgB, underB, 'b'), relay);
}
