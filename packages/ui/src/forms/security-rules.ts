// SPDX-License-Identifier: Apache-2.0
// The security-group rule editor's model: drafts as typed in the form, validated per field before they go
// to the server (the same limits as @nexodus/api's securityRuleSchema), and converted to API rules.
import type { SecurityRule } from '@nexodus/api/schemas';

export const PROTOCOLS = ['ip', 'ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'icmpv4', 'icmpv6'] as const;
const PORTED = new Set(['tcp', 'udp']);
const MAX_RANGES = 256;
const MAX_PORT = 65535;

export interface RuleDraft {
  ip_protocol: string;
  from_port: string;
  to_port: string;
  /** comma- or space-separated CIDRs, addresses or address ranges (a-b) */
  ip_ranges: string;
}

export type RuleErrors = Partial<Record<keyof RuleDraft, string>>;

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isV6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) && groups.length <= (halves.length === 2 ? 7 : 8);
}

function isAddress(s: string): boolean {
  return V4.test(s) || isV6(s);
}

/** One entry of ip_ranges: an address, a CIDR with a prefix that fits its family, or `a-b`. */
export function validRange(s: string): boolean {
  const dash = s.split('-');
  if (dash.length === 2)
    return isAddress(dash[0]) && isAddress(dash[1]) && V4.test(dash[0]) === V4.test(dash[1]);
  const [addr, prefix, extra] = s.split('/');
  if (extra !== undefined || !isAddress(addr)) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (V4.test(addr) ? 32 : 128);
}

export function splitRanges(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text.trim())) return undefined;
  const n = Number(text);
  return n <= MAX_PORT ? n : undefined;
}

export function validateRule(d: RuleDraft): RuleErrors {
  const errors: RuleErrors = {};
  if (!(PROTOCOLS as readonly string[]).includes(d.ip_protocol)) {
    errors.ip_protocol = `Choose one of ${PROTOCOLS.join(', ')}.`;
  }
  const ported = PORTED.has(d.ip_protocol);
  for (const k of ['from_port', 'to_port'] as const) {
    const text = d[k].trim();
    if (text === '') continue;
    if (!ported) errors[k] = 'Ports apply to tcp and udp only; leave this empty.';
    else if (port(text) === undefined) errors[k] = `A port is a whole number from 0 to ${MAX_PORT}.`;
  }
  const from = port(d.from_port);
  const to = port(d.to_port);
  if (ported && !errors.from_port && !errors.to_port && from !== undefined && to !== undefined && from > to) {
    errors.to_port = 'The last port must not be below the first port.';
  }
  const ranges = splitRanges(d.ip_ranges);
  const bad = ranges.filter((r) => !validRange(r));
  if (bad.length > 0) {
    errors.ip_ranges = `Not an address, CIDR or range: ${bad.join(', ')} (i.e. 10.0.0.0/8, 200::1, 100.100.0.1-100.100.0.9).`;
  } else if (ranges.length > MAX_RANGES) {
    errors.ip_ranges = `At most ${MAX_RANGES} entries.`;
  }
  return errors;
}

export function hasErrors(e: RuleErrors): boolean {
  return Object.keys(e).length > 0;
}

export function toRule(d: RuleDraft): SecurityRule {
  const from = port(d.from_port);
  const to = port(d.to_port);
  const ranges = splitRanges(d.ip_ranges);
  return {
    ip_protocol: d.ip_protocol as SecurityRule['ip_protocol'],
    ...(from !== undefined ? { from_port: from } : {}),
    ...(to !== undefined ? { to_port: to } : from !== undefined ? { to_port: from } : {}),
    ...(ranges.length > 0 ? { ip_ranges: ranges } : {}),
  };
}

export function toDraft(r: SecurityRule): RuleDraft {
  const ported = PORTED.has(r.ip_protocol);
  return {
    ip_protocol: r.ip_protocol === '' ? 'ip' : r.ip_protocol,
    from_port:
      ported && r.from_port !== undefined && !(r.from_port === 0 && r.to_port === 0)
        ? String(r.from_port)
        : '',
    to_port:
      ported && r.to_port !== undefined && !(r.from_port === 0 && r.to_port === 0) ? String(r.to_port) : '',
    ip_ranges: (r.ip_ranges ?? []).join(', '),
  };
}

export const EMPTY_RULE: RuleDraft = { ip_protocol: 'tcp', from_port: '', to_port: '', ip_ranges: '' };
