// SPDX-License-Identifier: Apache-2.0
// Demo 3's shape behind NATs: an "internet" namespace holding the Nexodus service (API, STUN on two
// ports, the relay), and two sites, each a host behind its own iptables MASQUERADE router:
//
//   host1 (10.1.0.2) -- nat1 (10.1.0.1 | 100.64.1.2) --\
//                                                       inet (100.64.0.1 on lo: service, STUN, relay)
//   host2 (10.2.0.2) -- nat2 (10.2.0.1 | 100.64.2.2) --/
//
// The sites cannot reach each other's private addresses: a direct path needs the NATs' reflexive
// addresses (STUN) and both sides sending at once (hole punching), or the relay.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ADMIN_PASSWORD,
  NEXD_CLI,
  nexdNodeFlags,
  SERVER_CLI,
} from '../../../packages/nexd/test/harness/processes.js';
import { exec, ip, type Lab, type Proc, waitFor } from './netns.js';

export const SERVICE_IP = '100.64.0.1';
export const SERVICE_PORT = 8080;
export const STUN_PORTS = [3478, 3479];
export const RELAY_PORT = 443;

export type NatKind = 'masquerade' | 'symmetric';

export interface Site {
  host: string;
  nat: string;
  /** The NAT's interface towards the internet. */
  wan: string;
  /** The NAT's public address. */
  publicIp: string;
}

export interface NatLab {
  inet: string;
  sites: [Site, Site];
  serviceUrl: string;
  server: Proc;
}

async function sysctl(ns: string, kv: string): Promise<void> {
  await exec(ns, 'sysctl', ['-q', '-w', kv]);
}

/** Builds the namespaces, starts the service in `inet`; `kinds` picks each site's NAT behaviour. */
export async function natLab(
  lab: Lab,
  kinds: [NatKind, NatKind] = ['masquerade', 'masquerade'],
  serverArgs: string[] = [],
): Promise<NatLab> {
  const inet = await lab.netns('inet');
  await ip(inet, ['addr', 'add', `${SERVICE_IP}/32`, 'dev', 'lo']);
  await sysctl(inet, 'net.ipv4.ip_forward=1');
  const sites: Site[] = [];
  for (const i of [1, 2]) {
    const nat = await lab.netns(`nat${i}`);
    const host = await lab.netns(`host${i}`);
    const up = await lab.veth(
      { ns: inet, addrs: [`100.64.${i}.1/24`] },
      { ns: nat, addrs: [`100.64.${i}.2/24`] },
    );
    await lab.veth({ ns: nat, addrs: [`10.${i}.0.1/24`] }, { ns: host, addrs: [`10.${i}.0.2/24`] });
    await ip(nat, ['route', 'add', 'default', 'via', `100.64.${i}.1`]);
    await ip(host, ['route', 'add', 'default', 'via', `10.${i}.0.1`]);
    await sysctl(nat, 'net.ipv4.ip_forward=1');
    const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-o', up.b.ifname, '-j', 'MASQUERADE'];
    if (kinds[i - 1] === 'symmetric') masq.push('--random-fully');
    await exec(nat, 'iptables', masq);
    // A home router's stateful firewall: unsolicited datagrams to the router itself are dropped. Besides
    // being what routers do, it matters for hole punching: a dropped packet's conntrack entry is never
    // confirmed, while an accepted one (answered with port-unreachable) would hold the very port tuple
    // the router's own outgoing mapping needs, and MASQUERADE would pick a random port instead.
    await exec(nat, 'iptables', [
      '-A',
      'INPUT',
      '-i',
      up.b.ifname,
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      '-j',
      'DROP',
    ]);
    sites.push({ host, nat, wan: up.b.ifname, publicIp: `100.64.${i}.2` });
  }
  const state = lab.tempDir('server');
  const server = lab.spawn(
    inet,
    process.execPath,
    [
      SERVER_CLI,
      '--state-dir',
      state,
      '--http-listen',
      `${SERVICE_IP}:${SERVICE_PORT}`,
      '--stun-listen',
      STUN_PORTS.map((p) => `${SERVICE_IP}:${p}`).join(','),
      '--relay-listen',
      `${SERVICE_IP}:${RELAY_PORT}`,
      '--log-level',
      'warn',
      ...serverArgs,
    ],
    { env: { ...process.env, NEXODUS_ADMIN_PASSWORD: ADMIN_PASSWORD } },
  );
  await waitFor(
    'the service to listen',
    () => (/listening on/.test(server.stdout) ? true : undefined),
    30_000,
  );
  return { inet, sites: sites as [Site, Site], serviceUrl: `http://${SERVICE_IP}:${SERVICE_PORT}`, server };
}

/**
 * Blocks (or unblocks) the site's UDP at its NAT: only TCP gets through (the relay on 443, the API). A
 * dropped datagram's conntrack entry is never confirmed, so nothing is left to flush on unblocking.
 */
export async function blockUdp(site: Site, block: boolean): Promise<void> {
  await exec(site.nat, 'iptables', [block ? '-I' : '-D', 'FORWARD', '-p', 'udp', '-j', 'DROP']);
}

/**
 * A TCP connection held open from a namespace to 127.0.0.1:<argv[1]>: stdin lines are sent, received
 * bytes printed, "closed" when the connection ends. Tells whether one connection survives a path change.
 */
export const HOLD_CONNECTION_SCRIPT = `
const s = require('net').connect(Number(process.argv[1]), '127.0.0.1');
s.setEncoding('utf8');
s.on('connect', () => console.log('connected'));
s.on('data', (d) => process.stdout.write(d));
s.on('close', () => { console.log('closed'); process.exit(0); });
s.on('error', (e) => console.log('error ' + e.message));
process.stdin.setEncoding('utf8').on('data', (d) => s.write(d));
`;

/** A TCP connection held open from `ns` (HOLD_CONNECTION_SCRIPT) that tells whether it survives a path change. */
export class HeldConnection {
  private constructor(readonly proc: Proc) {}

  /** Connects from `ns` to 127.0.0.1:`port` (a nexd egress rule) and waits until connected. */
  static async open(lab: Lab, ns: string, port: number): Promise<HeldConnection> {
    const proc = lab.spawn(ns, process.execPath, ['-e', HOLD_CONNECTION_SCRIPT, String(port)], {
      stdin: 'pipe',
    });
    await waitFor(
      'the held connection',
      () => (proc.stdout.includes('connected') ? true : undefined),
      20_000,
    );
    return new HeldConnection(proc);
  }

  /** Sends `word` and waits for its echo (`what` names the path in the timeout's message). */
  async echo(word: string, what: string): Promise<void> {
    this.proc.child.stdin!.write(`${word}\n`);
    await waitFor(what, () => (this.proc.stdout.includes(word) ? true : undefined), 20_000);
  }

  /** Fails unless the connection has stayed open without an error. */
  assertNeverDropped(): void {
    assert.ok(!this.proc.stdout.includes('closed'), 'the connection was never dropped');
    assert.ok(!this.proc.stdout.includes('error'), this.proc.stdout);
  }

  stop(): Promise<number> {
    return this.proc.stop();
  }
}

export interface NexdInNs {
  proc: Proc;
  stateDir: string;
  /** JSON log lines so far. */
  logs(): Record<string, unknown>[];
}

/** Starts `nexd` (service mode) in a site's host namespace with the STUN servers of the lab. */
export function startNexd(
  lab: Lab,
  nl: NatLab,
  site: Site,
  opts: { requestIp: string; args: string[]; globals?: string[] },
): NexdInNs {
  const stateDir = lab.tempDir('nexd');
  const proc = lab.spawn(
    site.host,
    process.execPath,
    [
      ...nexdNodeFlags(),
      NEXD_CLI,
      '--state-dir',
      stateDir,
      '--request-ip',
      opts.requestIp,
      ...STUN_PORTS.flatMap((p) => ['--stun-server', `${SERVICE_IP}:${p}`]),
      ...(opts.globals ?? []),
      ...opts.args,
      nl.serviceUrl,
    ],
    {
      env: {
        ...process.env,
        NEXD_USERNAME: 'admin',
        NEXD_PASSWORD: ADMIN_PASSWORD,
        NEXD_LOG_LEVEL: 'info',
      },
    },
  );
  const logs = () => {
    const out: Record<string, unknown>[] = [];
    for (const l of proc.stdout.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // partial line
      }
    }
    return out;
  };
  return { proc, stateDir, logs };
}

/**
 * Demo 3 across the NATs: `server` (a Node script) runs in site 2's host, whose nexd exposes each
 * `ports` entry (`[vpcPort, localPort]`) with an ingress rule from VPC address 100.100.0.12; site 1's nexd
 * reaches them from local port `8000 + vpcPort` (80 -> 8080) by egress rules to that address.
 */
export function demo3Pair(
  lab: Lab,
  nl: NatLab,
  server: string,
  ports: [vpc: number, local: number][] = [[80, 8000]],
): { n1: NexdInNs; n2: NexdInNs } {
  lab.spawn(nl.sites[1].host, process.execPath, ['-e', server]);
  const n2 = startNexd(lab, nl, nl.sites[1], {
    requestIp: '100.100.0.12',
    args: ['proxy', ...ports.flatMap(([vpc, local]) => ['--ingress', `tcp:${vpc}:127.0.0.1:${local}`])],
  });
  const n1 = startNexd(lab, nl, nl.sites[0], {
    requestIp: '100.100.0.11',
    args: ['proxy', ...ports.flatMap(([vpc]) => ['--egress', `tcp:${8000 + vpc}:100.100.0.12:${vpc}`])],
  });
  return { n1, n2 };
}

/** A Node script for demo3Pair: an HTTP server on 127.0.0.1:8000 that answers `body`. */
export const httpBodyServer = (body: string) =>
  `require('http').createServer((q,s)=>s.end(${JSON.stringify(body)})).listen(8000,'127.0.0.1')`;

/** `nexctl nexd peers` of a nexd, as JSON. */
export async function nexdPeers(ns: string, n: NexdInNs): Promise<Record<string, unknown>[]> {
  const NEXCTL = join(NEXD_CLI, '../../../nexctl/dist/cli.js');
  const r = await exec(ns, process.execPath, [
    NEXCTL,
    '--state-dir',
    n.stateDir,
    '--output',
    'json',
    'nexd',
    'peers',
  ]);
  return JSON.parse(r.stdout) as Record<string, unknown>[];
}
