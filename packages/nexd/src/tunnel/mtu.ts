// SPDX-License-Identifier: Apache-2.0
// The tunnel MTU. WireGuard adds 80 bytes in the worst case (IPv6 40 + UDP 8 + WireGuard data header 16 +
// Poly1305 tag 16), so a tunnel packet of `underlay - 80` bytes never fragments on the underlay. In a pod the
// underlay is the pod's interface, whose MTU the CNI may have lowered (i.e. 1450 under VXLAN), so nexd reads
// it instead of assuming 1500. 1420 stays the ceiling unless asked for, as wg-quick does, because a larger
// tunnel MTU only helps when every hop between the peers carries jumbo frames.
// The netstack derives its TCP MSS from this MTU (MTU - 40 for IPv4, - 60 for IPv6).
import { readdirSync, readFileSync } from 'node:fs';

/** IPv6 in the tunnel needs the IPv6 minimum link MTU (RFC 8200 section 5). */
export const MIN_MTU = 1280;
/** The largest MTU a 16-bit IP total length allows. */
export const MAX_MTU = 65535;
/** WireGuard's worst-case encapsulation: IPv6 header 40 + UDP 8 + data header 16 + Poly1305 tag 16. */
export const WIREGUARD_OVERHEAD = 80;
/** The default ceiling: 1500-byte Ethernet minus the overhead, what wg-quick and wireguard-go use. */
export const DEFAULT_TUNNEL_MTU = 1420;

/** Reads a file as text or returns undefined; injectable so the choice is testable without a host. */
export type ReadText = (path: string) => string | undefined;
/** Lists the interface names under /sys/class/net. */
export type ListInterfaces = () => string[];

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
const listInterfaces: ListInterfaces = () => {
  try {
    return readdirSync('/sys/class/net');
  } catch {
    return [];
  }
};

export interface UnderlayInterface {
  name: string;
  mtu: number;
  /** How it was chosen: the IPv4 or IPv6 default route, or the largest MTU of the host's interfaces. */
  via: 'ipv4-default-route' | 'ipv6-default-route' | 'largest-interface';
}

/** The interface of the default route in /proc/net/route (IPv4): destination and mask 00000000. */
function ipv4DefaultInterface(read: ReadText): string | undefined {
  const lines = read('/proc/net/route')?.split('\n').slice(1) ?? [];
  for (const line of lines) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && destination === '00000000' && mask === '00000000') return iface;
  }
  return undefined;
}

/** The interface of `::/0` in /proc/net/ipv6_route (destination, prefix length, ..., device last). */
function ipv6DefaultInterface(read: ReadText): string | undefined {
  for (const line of read('/proc/net/ipv6_route')?.split('\n') ?? []) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[9] !== 'lo') return f[9];
  }
  return undefined;
}

function interfaceMtu(read: ReadText, name: string): number | undefined {
  const n = Number(read(`/sys/class/net/${name}/mtu`)?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The interface nexd's WireGuard traffic most likely leaves by, with its MTU; undefined when none is found. */
export function underlayInterface(
  read: ReadText = readText,
  list: ListInterfaces = listInterfaces,
): UnderlayInterface | undefined {
  for (const [via, name] of [
    ['ipv4-default-route', ipv4DefaultInterface(read)],
    ['ipv6-default-route', ipv6DefaultInterface(read)],
  ] as const) {
    const mtu = name === undefined ? undefined : interfaceMtu(read, name);
    if (name !== undefined && mtu !== undefined) return { name, mtu, via };
  }
  let best: UnderlayInterface | undefined;
  for (const name of list()) {
    if (name === 'lo') continue;
    const mtu = interfaceMtu(read, name);
    if (mtu !== undefined && (best === undefined || mtu > best.mtu))
      best = { name, mtu, via: 'largest-interface' };
  }
  return best;
}

export interface TunnelMtu {
  mtu: number;
  /** Why this value, for the start-up log line, i.e. `eth0 (ipv4-default-route) MTU 1450 - 80`. */
  reason: string;
}

/** The tunnel MTU: the one asked for, else the underlay's minus the overhead within [1280, 1420]. */
export function chooseTunnelMtu(
  asked: number | undefined,
  underlay: UnderlayInterface | undefined,
): TunnelMtu {
  if (asked !== undefined) return { mtu: asked, reason: '--mtu' };
  if (underlay === undefined) {
    return { mtu: DEFAULT_TUNNEL_MTU, reason: 'no underlay interface found; WireGuard default' };
  }
  const fits = underlay.mtu - WIREGUARD_OVERHEAD;
  const mtu = Math.max(MIN_MTU, Math.min(DEFAULT_TUNNEL_MTU, fits));
  const note = fits < MIN_MTU ? `; below ${MIN_MTU}, IPv6's minimum, so the underlay fragments` : '';
  return {
    mtu,
    reason: `${underlay.name} (${underlay.via}) MTU ${underlay.mtu} - ${WIREGUARD_OVERHEAD}${note}`,
  };
}
