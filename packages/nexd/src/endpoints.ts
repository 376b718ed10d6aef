// SPDX-License-Identifier: Apache-2.0
// The `local` endpoints a device registers: every non-internal address of this host with the WireGuard
// listen port, i.e. `198.18.0.2:51820` and `[fd00::2]:51820`. Link-local IPv6 addresses are left out:
// they need a zone (interface) that means nothing to another host.
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

export interface RegisteredEndpoint {
  /**
   * How the endpoint was found (`models.Endpoint.source`): `local` for interface addresses, `stun` for
   * the reflexive address a STUN server saw.
   */
  source: 'local' | 'stun';
  /** `host:port`, IPv6 in brackets. */
  address: string;
}

/** `address:port`, an IPv6 address in brackets: `198.18.0.2:51820`, `[fd00::2]:51820`. */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Splits `host:port` / `[v6]:port` (the form formatEndpoint writes) into host and port; undefined when
 * the text has neither form. Neither the host nor the port's range (up to 99999) is checked.
 */
export function splitEndpoint(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/** IPv6 link-local unicast, fe80::/10 (RFC 4291 section 2.5.6). */
function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

export function localEndpoints(
  port: number,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): RegisteredEndpoint[] {
  const out: RegisteredEndpoint[] = [];
  const seen = new Set<string>();
  for (const [, infos] of Object.entries(interfaces).sort(([a], [b]) => a.localeCompare(b))) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv6' && isLinkLocalV6(info.address)) continue;
      const address = formatEndpoint(info.address, port);
      if (seen.has(address)) continue;
      seen.add(address);
      out.push({ source: 'local', address });
    }
  }
  return out;
}
