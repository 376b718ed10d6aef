// SPDX-License-Identifier: Apache-2.0
// A star of namespaces for nexd agent mode: the real nexodus-server in a `hub` namespace that routes
// between spokes, and one namespace per device (nexd agent, nexd proxy, wireguard-go). Each spoke gets
// 198.18.<n>.2/24 on a veth to the hub (198.18.<n>.1), a default route through it, and registers that
// address as its WireGuard endpoint. Agents create their TUN device (wg0) inside their own namespace,
// so several run side by side. Used by test/e2e/nexd-agent.test.ts and bench/agent.bench.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_PASSWORD,
  Child,
  NEXD_CLI,
  nexdNodeFlags,
  SERVER_CLI,
} from '../../../packages/nexd/test/harness/processes.js';
import { exec, ip, type Lab } from './netns.js';
import { WireGuardGo, wgKeyPair } from './wireguard-go.js';

export const HUB_PORT = 8080;

export interface Spoke {
  ns: string;
  /** The underlay address, i.e. 198.18.2.2. */
  address: string;
  index: number;
}

/**
 * `ip netns exec NS node ...` as a Child (JSON log lines parsed). With `hostname`, node runs in a UTS
 * namespace of its own with that hostname (what nexd registers its device as).
 */
export function nodeIn(
  ns: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  hostname?: string,
): Child {
  const uts = hostname ? ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', hostname] : [];
  return new Child('ip', ['netns', 'exec', ns, ...uts, process.execPath, ...args], env);
}

export class AgentLab {
  readonly lab: Lab;
  readonly hub: string;
  readonly serverUrl: string;
  server!: Child;
  #next = 1;

  private constructor(lab: Lab, hub: string) {
    this.lab = lab;
    this.hub = hub;
    this.serverUrl = `http://198.18.0.1:${HUB_PORT}`;
  }

  /** The hub namespace with the server listening on 198.18.0.1 (on its loopback; every spoke routes to it). */
  static async create(lab: Lab): Promise<AgentLab> {
    const hub = await lab.netns('hub');
    await exec(hub, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    // On the hub's loopback (this kernel has no dummy links): reachable from every spoke through its veth.
    await ip(hub, ['addr', 'add', '198.18.0.1/32', 'dev', 'lo']);
    const l = new AgentLab(lab, hub);
    l.server = nodeIn(
      hub,
      [
        SERVER_CLI,
        '--state-dir',
        lab.tempDir('srv'),
        '--http-listen',
        `198.18.0.1:${HUB_PORT}`,
        '--log-level',
        'warn',
      ],
      { NEXODUS_ADMIN_PASSWORD: ADMIN_PASSWORD },
    );
    await l.server.waitOutput('the server to listen', () =>
      /nexodus-server listening on/.test(l.server.stdout) ? true : undefined,
    );
    lab.defer(() => void l.server.stop('SIGKILL'));
    return l;
  }

  /** A new device namespace wired to the hub. */
  async spoke(name: string): Promise<Spoke> {
    const index = this.#next++;
    const ns = await this.lab.netns(name);
    const address = `198.18.${index}.2`;
    await this.lab.veth({ ns, addrs: [`${address}/24`] }, { ns: this.hub, addrs: [`198.18.${index}.1/24`] });
    await ip(ns, ['route', 'add', 'default', 'via', `198.18.${index}.1`]);
    return { ns, address, index };
  }
}

export interface NexdInOptions {
  /** Arguments after the globals, i.e. `['proxy', '--ingress', ...]`; empty for agent mode. */
  args?: string[];
  globals?: string[];
  env?: Record<string, string | undefined>;
  /** Log message that says it is up (default: `nexd agent running` / `nexd proxy running`). */
  waitFor?: string | false;
  /** Reuse a state dir (a restart); default a fresh one. */
  stateDir?: string;
  /** The hostname nexd sees (and registers its device with); default the machine's. */
  hostname?: string;
}

/** A nexd (agent or proxy) inside a spoke, logged in as the admin, its endpoint the spoke's address. */
export class NexdIn {
  readonly child: Child;
  readonly stateDir: string;

  private constructor(child: Child, stateDir: string) {
    this.child = child;
    this.stateDir = stateDir;
  }

  static async start(l: AgentLab, spoke: Spoke, opts: NexdInOptions = {}): Promise<NexdIn> {
    return NexdIn.startIn(l.lab, spoke.ns, `nexd${spoke.index}`, {
      ...opts,
      globals: ['--local-endpoint-ip', spoke.address, '--service-url', l.serverUrl, ...(opts.globals ?? [])],
    });
  }

  /** nexd in namespace `ns` with only the given globals (i.e. `--wg-config FILE` for standalone). */
  static async startIn(lab: Lab, ns: string, tag: string, opts: NexdInOptions = {}): Promise<NexdIn> {
    const stateDir = opts.stateDir ?? lab.tempDir(tag);
    const args = opts.args ?? [];
    const child = nodeIn(
      ns,
      [...nexdNodeFlags(), NEXD_CLI, '--state-dir', stateDir, ...(opts.globals ?? []), ...args],
      { NEXD_USERNAME: 'admin', NEXD_PASSWORD: ADMIN_PASSWORD, NEXD_LOG_LEVEL: 'info', ...opts.env },
      opts.hostname,
    );
    lab.defer(() => void child.stop('SIGKILL'));
    const n = new NexdIn(child, stateDir);
    const msg = opts.waitFor ?? (args[0] === 'proxy' ? 'nexd proxy running' : 'nexd agent running');
    if (msg !== false) await child.waitLog(msg, (x) => x.msg === msg, 30_000);
    return n;
  }

  get addresses(): { ipv4: string; ipv6: string } {
    for (const l of this.child.logs) {
      const m = /^New local Wireguard interface addresses assigned IPv4 \[ (\S+) \] IPv6 \[ (\S+) \]$/.exec(
        String(l.msg),
      );
      if (m) return { ipv4: m[1]!, ipv6: m[2]! };
    }
    throw new Error(`no address line yet:\n${this.child.stdout}\n${this.child.stderr}`);
  }

  get publicKey(): string {
    return String(this.child.logs.find((x) => x.msg === 'WireGuard keys loaded')?.publicKey);
  }

  waitPeer(publicKey: string, timeoutMs = 20_000) {
    return this.child.waitLog(
      `peer ${publicKey}`,
      (l) => l.msg === 'peer add' && l.publicKey === publicKey,
      timeoutMs,
    );
  }

  stop(signal: NodeJS.Signals = 'SIGTERM') {
    return this.child.stop(signal);
  }
}

export const STANDALONE = {
  agent4: '10.77.0.1',
  agent6: 'fd00:77::1',
  wg4: '10.77.0.2',
  wg6: 'fd00:77::2',
} as const;

export interface StandalonePair {
  agentNs: string;
  wgNs: string;
  agent: NexdIn;
  wg: WireGuardGo;
}

/**
 * nexd agent mode with `--wg-config` in one namespace and wireguard-go (a TUN device, kernel TCP behind
 * it) in another, over a direct veth: 10.77.0.1 / fd00:77::1 (agent) and 10.77.0.2 / fd00:77::2.
 */
export async function standaloneAgentPair(lab: Lab, name = 'sa'): Promise<StandalonePair> {
  const agentNs = await lab.netns(`${name}a`);
  const wgNs = await lab.netns(`${name}w`);
  await lab.veth({ ns: agentNs, addrs: ['198.18.77.1/30'] }, { ns: wgNs, addrs: ['198.18.77.2/30'] });
  const ours = await wgKeyPair();
  const wg = await WireGuardGo.start(lab, wgNs, {
    addresses: [`${STANDALONE.wg4}/24`, `${STANDALONE.wg6}/64`],
    listenPort: 51820,
    peers: [
      {
        publicKey: ours.publicKey,
        endpoint: { address: '198.18.77.1', port: 51820 },
        allowedIps: [`${STANDALONE.agent4}/32`, `${STANDALONE.agent6}/128`],
      },
    ],
  });
  const file = join(lab.tempDir('wgconf'), 'wg0.conf');
  writeFileSync(
    file,
    [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      `Address = ${STANDALONE.agent4}/24, ${STANDALONE.agent6}/64`,
      'ListenPort = 51820',
      '',
      '[Peer]',
      `PublicKey = ${wg.publicKey}`,
      'Endpoint = 198.18.77.2:51820',
      `AllowedIPs = ${STANDALONE.wg4}/32, ${STANDALONE.wg6}/128`,
      '',
    ].join('\n'),
  );
  const agent = await NexdIn.startIn(lab, agentNs, 'sagent', { globals: ['--wg-config', file] });
  return { agentNs, wgNs, agent, wg };
}
