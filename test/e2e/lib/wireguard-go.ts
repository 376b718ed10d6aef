// SPDX-License-Identifier: Apache-2.0
// Debian's wireguard-go on a TUN device inside a lab namespace, configured with `wg` and `ip`: the reference
// WireGuard peer our engine must interoperate with, with the Linux kernel's IP stack behind it.
//
// Flow of `WireGuardGo.start()`: 1. run `wireguard-go -f <if>` in the namespace (foreground, so the lab owns
// the process), 2. wait for its UAPI socket (`wg show <if>` answers), 3. `wg set` private key, listen port and
// peers, 4. `ip addr`/`ip link set mtu ... up`. Interface names come from the lab, because the UAPI socket
// `/var/run/wireguard/<if>.sock` is shared by all namespaces: two instances with one name would collide.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAddress, exec, ip, type Lab, LabError, type Ns, type Proc, waitFor } from './netns.js';

/** IPv4 or IPv6 address and UDP port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** `host:port` as `wg` expects it (IPv6 in brackets). */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export interface WgPeer {
  /** Base64 public key, as `wg pubkey` prints it. */
  publicKey: string;
  endpoint?: Endpoint;
  /** CIDRs, e.g. `['198.19.0.2/32', 'fd00:19::2/128']`. */
  allowedIps: string[];
  /** Seconds; 0 or undefined = off. */
  persistentKeepalive?: number;
  /** Base64 preshared key. */
  presharedKey?: string;
}

export interface WireGuardGoOptions {
  /** Base64 private key; generated with `wg genkey` when omitted. */
  privateKey?: string;
  /** UDP port; 0 or omitted = let wireguard-go pick (read back from `wg show`). */
  listenPort?: number;
  /** Tunnel addresses with prefix, e.g. `['198.19.0.1/24', 'fd00:19::1/64']`. */
  addresses: string[];
  /** Default 1420, as wg-quick uses for an IPv4/IPv6 underlay. */
  mtu?: number;
  peers?: WgPeer[];
  /** The wireguard-go binary (default `wireguard-go` on PATH, Debian's), i.e. the modern test peer's build. */
  bin?: string;
}

/** One peer line of `wg show <if> dump`. */
export interface WgPeerStatus {
  publicKey: string;
  presharedKey: string | undefined;
  endpoint: string | undefined;
  allowedIps: string[];
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

export interface WgDump {
  publicKey: string;
  listenPort: number;
  peers: WgPeerStatus[];
}

/** Generates a key pair with `wg genkey` / `wg pubkey` (on the host; keys are not namespace-bound). */
export async function wgKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = (await exec(null, 'wg', ['genkey'])).stdout.trim();
  const publicKey = (await exec(null, 'wg', ['pubkey'], { input: `${privateKey}\n` })).stdout.trim();
  return { privateKey, publicKey };
}

/** Parses `wg show <if> dump` output. */
export function parseWgDump(text: string): WgDump {
  const lines = text.trim().split('\n');
  const head = lines[0]?.split('\t');
  if (!head || head.length < 4)
    throw new LabError('NEX_ERR_E2E_INVALID', `unexpected wg dump header: ${lines[0]}`);
  const none = (s: string) => (s === '(none)' || s === 'off' ? undefined : s);
  const peers = lines.slice(1).map((line) => {
    const f = line.split('\t');
    if (f.length < 8) throw new LabError('NEX_ERR_E2E_INVALID', `unexpected wg dump peer line: ${line}`);
    return {
      publicKey: f[0],
      presharedKey: none(f[1]),
      endpoint: none(f[2]),
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === 'off' ? 0 : Number(f[7]),
    };
  });
  return { publicKey: head[1], listenPort: Number(head[2]), peers };
}

export class WireGuardGo {
  readonly lab: Lab;
  readonly ns: Ns;
  readonly ifname: string;
  readonly privateKey: string;
  readonly publicKey: string;
  readonly proc: Proc;
  /** The UDP port wireguard-go listens on (all addresses of the namespace). */
  listenPort = 0;
  private readonly keyDir: string;

  private constructor(
    lab: Lab,
    ns: Ns,
    ifname: string,
    keys: { privateKey: string; publicKey: string },
    proc: Proc,
  ) {
    this.lab = lab;
    this.ns = ns;
    this.ifname = ifname;
    this.privateKey = keys.privateKey;
    this.publicKey = keys.publicKey;
    this.proc = proc;
    this.keyDir = lab.tempDir(`wg-${ifname}`);
  }

  /** Starts wireguard-go in `ns`, configures it and brings the interface up with its addresses. */
  static async start(lab: Lab, ns: Ns, opts: WireGuardGoOptions): Promise<WireGuardGo> {
    const keys = opts.privateKey
      ? {
          privateKey: opts.privateKey,
          publicKey: (await exec(null, 'wg', ['pubkey'], { input: `${opts.privateKey}\n` })).stdout.trim(),
        }
      : await wgKeyPair();
    const ifname = lab.ifname();
    const proc = lab.spawn(ns, opts.bin ?? 'wireguard-go', ['-f', ifname], {
      // verbose: its log tail (kept bounded by Proc) explains a failed start or handshake.
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'verbose' },
    });
    const wg = new WireGuardGo(lab, ns, ifname, keys, proc);
    try {
      await waitFor(`wireguard-go ${ifname} UAPI socket`, async () => {
        if (proc.exit !== undefined) {
          throw new LabError(
            'NEX_ERR_E2E_COMMAND',
            `wireguard-go ${ifname} exited with ${proc.exit}: ${`${proc.stderr} ${proc.stdout}`.trim().slice(-1000)}`,
          );
        }
        const r = await exec(ns, 'wg', ['show', ifname, 'listen-port'], { check: false });
        return r.code === 0 ? true : undefined;
      });
      const keyFile = join(wg.keyDir, 'private.key');
      writeFileSync(keyFile, `${keys.privateKey}\n`, { mode: 0o600 });
      await exec(ns, 'wg', [
        'set',
        ifname,
        'private-key',
        keyFile,
        'listen-port',
        String(opts.listenPort ?? 0),
      ]);
      for (const peer of opts.peers ?? []) await wg.setPeer(peer);
      await ip(ns, ['link', 'set', ifname, 'mtu', String(opts.mtu ?? 1420)]);
      for (const addr of opts.addresses) await addAddress(ns, ifname, addr);
      await ip(ns, ['link', 'set', ifname, 'up']);
      wg.listenPort = (await wg.dump()).listenPort;
    } catch (e) {
      await proc.stop();
      throw e;
    }
    return wg;
  }

  /** Adds or updates a peer (`wg set <if> peer ...`). */
  async setPeer(peer: WgPeer): Promise<void> {
    const args = ['set', this.ifname, 'peer', peer.publicKey, 'allowed-ips', peer.allowedIps.join(',')];
    if (peer.endpoint) args.push('endpoint', formatEndpoint(peer.endpoint));
    args.push('persistent-keepalive', peer.persistentKeepalive ? String(peer.persistentKeepalive) : 'off');
    if (peer.presharedKey) {
      const pskFile = join(this.keyDir, `psk-${peer.publicKey.replace(/[^A-Za-z0-9]/g, '_')}`);
      writeFileSync(pskFile, `${peer.presharedKey}\n`, { mode: 0o600 });
      args.push('preshared-key', pskFile);
    }
    await exec(this.ns, 'wg', args);
  }

  async removePeer(publicKey: string): Promise<void> {
    await exec(this.ns, 'wg', ['set', this.ifname, 'peer', publicKey, 'remove']);
  }

  /** `wg show <if> dump`, parsed. */
  async dump(): Promise<WgDump> {
    return parseWgDump((await exec(this.ns, 'wg', ['show', this.ifname, 'dump'])).stdout);
  }

  /** Status of one peer, or undefined when wireguard-go does not know it. */
  async peer(publicKey: string): Promise<WgPeerStatus | undefined> {
    return (await this.dump()).peers.find((p) => p.publicKey === publicKey);
  }

  /** Stops wireguard-go (SIGTERM: it removes its TUN device and UAPI socket). */
  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
