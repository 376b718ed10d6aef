// SPDX-License-Identifier: Apache-2.0
// Which UDP port the WireGuard socket binds. An explicit `--listen-port` is a demand: taken or an error.
// Otherwise a device keeps the port of its last start (stored in its state), because peers and NAT
// mappings still point at it; a new device takes WireGuard's well-known 51820, which firewall rules and
// NetworkPolicies are usually written for; and when that is taken too (two proxies on one host) any free
// port, since a running proxy is worth more than a predictable port.

/** WireGuard's conventional port (wg-quick, the original nexd). */
export const DEFAULT_LISTEN_PORT = 51820;
/** Let the system pick a free port. */
const ANY_PORT = 0;

/** The ports to try in order: `[asked]` when given, else the stored one, 51820 and any. */
export function listenPortCandidates(asked: number | undefined, stored: number | undefined): number[] {
  if (asked !== undefined) return [asked];
  return [...new Set([stored ?? DEFAULT_LISTEN_PORT, DEFAULT_LISTEN_PORT, ANY_PORT])];
}

/** True when `err` (or its cause chain) is the bind error that means the port is in use. */
export function isAddressInUse(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  }
  return false;
}
