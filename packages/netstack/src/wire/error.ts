// SPDX-License-Identifier: Apache-2.0
// Why a view could not be built over a buffer. Checked constructors return one of these instead of throwing.
export const WireError = {
  /** The buffer is shorter than the header (or the header's own length fields) claim. */
  Truncated: 1,
  /** A field holds a value the protocol forbids (bad version, header length below minimum, bad option). */
  Malformed: 2,
  /** Valid but not handled by this stack (e.g. an unknown IPv6 extension header such as ESP). */
  Unsupported: 3,
} as const;
export type WireError = (typeof WireError)[keyof typeof WireError];

/** IP protocol numbers (IANA) the stack dispatches on. */
export const IpProtocol = {
  HopByHop: 0,
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
  Ipv6Route: 43,
  Ipv6Frag: 44,
  Esp: 50,
  Ah: 51,
  Icmpv6: 58,
  Ipv6NoNxt: 59,
  Ipv6Opts: 60,
} as const;

/** Big-endian field accessors shared by all views (no DataView per packet). */
export function readU16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
