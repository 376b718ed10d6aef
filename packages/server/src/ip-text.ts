// SPDX-License-Identifier: Apache-2.0
// Strict text forms of addresses and CIDRs. ipaddr.js accepts the historical inet_aton spellings
// (`010.0.0.0` read as octal 8.0.0.0, `0x0a.1`, `10.1` for 10.0.0.1); an API must not: one address has one
// spelling, and what a client sends is what it meant. IPv4 is four decimal octets without leading zeros,
// a prefix length is decimal without leading zeros; IPv6 is RFC 4291 text (an embedded IPv4 part follows
// the IPv4 rule).
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
/** An IPv6 text: hex groups, `::`, and optionally a dotted IPv4 tail (checked by IPV4_RE). */
const IPV6_CHARS_RE = /^[0-9a-fA-F:]+(?::(\d+\.\d+\.\d+\.\d+))?$/;
const PREFIX_RE = /^(?:0|[1-9][0-9]{0,2})$/;

/** Parses one address in its strict form, or undefined. */
export function parseStrictAddress(text: string): IpAddress | undefined {
  if (IPV4_RE.test(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(':')) return undefined;
  const m = IPV6_CHARS_RE.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined && !IPV4_RE.test(m[1])) return undefined;
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
}

/** Parses `address/prefix` in its strict form, or undefined. */
export function parseStrictCidr(text: string): [IpAddress, number] | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseStrictAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!addr || !PREFIX_RE.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (addr.kind() === 'ipv4' ? 32 : 128)) return undefined;
  return [addr, prefix];
}
