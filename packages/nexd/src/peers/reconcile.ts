// SPDX-License-Identifier: Apache-2.0
// Peer reconciliation: the WireGuard engine's peer set must equal the VPC's other devices. `diffPeers`
// is pure: given what the engine has and what the VPC says, it returns the changes to apply, so the
// reconciler can be tested without an engine and applied to any engine through the PeerSink seam.
import { isIPv4, isIPv6 } from 'node:net';

/** What the engine needs to know about one peer. */
export interface PeerConfig {
  /** base64 Curve25519 key, i.e. `HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=`. */
  publicKey: string;
  /** `host:port` or `[v6]:port`, i.e. `198.18.0.1:51820`; absent when the peer has none we can reach. */
  endpoint?: string;
  /** Tunnel addresses routed to this peer, i.e. `['100.100.0.1/32', '200::1/128']`, sorted. */
  allowedIps: string[];
  /** Seconds; absent means off. */
  persistentKeepalive?: number;
  /**
   * Every path to try, in order: local endpoints, then reflexive (STUN) ones, then the relay (`derp:` +
   * the peer's key, when a relay serves the VPC). Absent when there is at most the endpoint.
   */
  candidates?: string[];
}

type PeerField = 'endpoint' | 'allowedIps' | 'persistentKeepalive' | 'candidates';

export type PeerChange =
  | { op: 'add'; peer: PeerConfig }
  | { op: 'update'; peer: PeerConfig; changed: PeerField[] }
  | { op: 'remove'; publicKey: string };

/** The engine side of reconciliation (the wireguard package's device will implement it). */
export interface PeerSink {
  setPeer(peer: PeerConfig): void;
  removePeer(publicKey: string): void;
}

/** Changes that turn `current` into `desired`: removals first (a key may move), then adds and updates. */
export function diffPeers(current: readonly PeerConfig[], desired: readonly PeerConfig[]): PeerChange[] {
  const have = new Map(current.map((p) => [p.publicKey, p]));
  const want = new Map(desired.map((p) => [p.publicKey, p]));
  const changes: PeerChange[] = [];
  for (const key of have.keys()) if (!want.has(key)) changes.push({ op: 'remove', publicKey: key });
  for (const [key, peer] of want) {
    const old = have.get(key);
    if (!old) {
      changes.push({ op: 'add', peer });
      continue;
    }
    const changed: PeerField[] = [];
    if (old.endpoint !== peer.endpoint) changed.push('endpoint');
    if (old.allowedIps.join(',') !== peer.allowedIps.join(',')) changed.push('allowedIps');
    if (old.persistentKeepalive !== peer.persistentKeepalive) changed.push('persistentKeepalive');
    if ((old.candidates ?? []).join(',') !== (peer.candidates ?? []).join(',')) changed.push('candidates');
    if (changed.length > 0) changes.push({ op: 'update', peer, changed });
  }
  return changes;
}

export function applyPeerChanges(sink: PeerSink, changes: readonly PeerChange[]): void {
  for (const c of changes) {
    if (c.op === 'remove') sink.removePeer(c.publicKey);
    else sink.setPeer(c.peer);
  }
}

/** The fields of the API's `models.Device` that peer configuration reads (names as in the OpenAPI document). */
export interface VpcDevice {
  id: string;
  public_key: string;
  /** i.e. `[{ address: '100.100.0.1', cidr: '100.100.0.0/16' }]`. */
  ipv4_tunnel_ips?: { address?: string; cidr?: string }[];
  ipv6_tunnel_ips?: { address?: string; cidr?: string }[];
  /** i.e. `[{ source: 'local', address: '198.18.0.1:51820' }, { source: 'stun', address: '203.0.113.5:40001' }]`. */
  endpoints?: { source?: string; address?: string }[];
  /** The device's security group (proxy mode enforces it, see security/). */
  security_group_id?: string;
  /** Whether the device has its watch stream open (the service says so); absent from older services. */
  online?: boolean;
  revision?: number;
}

/** Endpoint sources in order of preference: a reflexive (STUN) address works across NAT, a local one on a LAN. */
const ENDPOINT_PREFERENCE = ['stun', 'local'];

function hostAddress(address: string | undefined, bits: number, family: 4 | 6): string | undefined {
  if (!address) return undefined;
  const ok = family === 4 ? isIPv4(address) : isIPv6(address);
  return ok ? `${address}/${bits}` : undefined;
}

/**
 * Peer configuration for a VPC device: allowed IPs are exactly its tunnel addresses (a /32 and a /128),
 * the endpoint is the most preferred one it reported.
 */
export function peerFromDevice(device: VpcDevice, persistentKeepalive?: number): PeerConfig {
  const allowedIps = [
    ...(device.ipv4_tunnel_ips ?? []).map((t) => hostAddress(t.address, 32, 4)),
    ...(device.ipv6_tunnel_ips ?? []).map((t) => hostAddress(t.address, 128, 6)),
  ]
    .filter((x): x is string => x !== undefined)
    .sort();
  const endpoints = (device.endpoints ?? []).filter((e) => e.address);
  const ranked = [...endpoints].sort((a, b) => {
    const ra = ENDPOINT_PREFERENCE.indexOf(a.source ?? '');
    const rb = ENDPOINT_PREFERENCE.indexOf(b.source ?? '');
    return (ra < 0 ? ENDPOINT_PREFERENCE.length : ra) - (rb < 0 ? ENDPOINT_PREFERENCE.length : rb);
  });
  const peer: PeerConfig = { publicKey: device.public_key, allowedIps };
  if (ranked[0]?.address) peer.endpoint = ranked[0].address;
  if (persistentKeepalive) peer.persistentKeepalive = persistentKeepalive;
  // Probing order (hole punching): a LAN address answers fastest where it is reachable at all, then the
  // reflexive ones; others (a newer server's sources) last. Initiations go to all of them at once.
  const order = ['local', 'stun'];
  const rank = (src: string | undefined) => {
    const r = order.indexOf(src ?? '');
    return r < 0 ? order.length : r;
  };
  const candidates = [
    ...new Set(
      [...endpoints].sort((a, b) => rank(a.source) - rank(b.source)).map((e) => e.address as string),
    ),
  ];
  if (candidates.length > 1) peer.candidates = candidates;
  return peer;
}

/** The desired peer set: every device of the VPC except this one (matched by public key). */
export function desiredPeers(
  devices: Iterable<VpcDevice>,
  selfPublicKey: string,
  keepalive?: number,
): PeerConfig[] {
  const out: PeerConfig[] = [];
  for (const d of devices)
    if (d.public_key && d.public_key !== selfPublicKey) out.push(peerFromDevice(d, keepalive));
  return out.sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0));
}
