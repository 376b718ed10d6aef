// SPDX-License-Identifier: Apache-2.0
// Proxy rules: `protocol:port:destination:destination_port[,option=value...]`, e.g.
// `tcp:80:nginx.ns.svc.cluster.local:80`, `udp:53:[fd00::53]:53` or `tcp:80:nginx:8080,proxy-protocol=v2`. A rule is ingress (listen on the VPC side, dial the local network) or egress
// (listen on the local network, dial through the VPC). Parsing is strict and every error names the part
// at fault and the expected form, because these strings come straight from a Kubernetes manifest.
import { isIPv4, isIPv6 } from 'node:net';
import { NexdError } from '../errors.js';
import { PROXY_PROTOCOL_VERSIONS, type ProxyProtocolVersion } from './proxy-protocol.js';

export type ProxyType = 'ingress' | 'egress';
export type ProxyProtocol = 'tcp' | 'udp';

export interface ProxyDestination {
  /** An IPv4 address, an IPv6 address without brackets, or a DNS name, i.e. `100.100.0.1`, `fd00::1`, `db.ns.svc`. */
  host: string;
  /** 1-65535, i.e. `80`. */
  port: number;
}

export interface ProxyRule {
  type: ProxyType;
  protocol: ProxyProtocol;
  /** The port this rule listens on (VPC side for ingress, local side for egress), i.e. `8080`. */
  listenPort: number;
  destination: ProxyDestination;
  /** `,proxy-protocol=v1|v2` (TCP only): a PROXY protocol header goes to the destination first. */
  proxyProtocol?: ProxyProtocolVersion;
}

/** Which part of a rule string was wrong. */
export type RulePart = 'rule' | 'protocol' | 'port' | 'destination' | 'destination_port' | 'option';

export const RULE_FORM = 'protocol:port:destination:destination_port';
const RULE_EXAMPLE = 'tcp:80:100.100.0.1:80 or udp:53:[fd00::53]:53';
const MAX_PORT = 65535;
/** RFC 1035 section 2.3.4: at most 253 characters in a name (255 octets on the wire) and 63 per label. */
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

export class RuleParseError extends NexdError {
  readonly rule: string;
  readonly part: RulePart;
  constructor(type: ProxyType | undefined, rule: string, part: RulePart, detail: string) {
    const what = type ? `${type} rule` : 'proxy rule';
    super(
      'NEX_ERR_PROXY_RULE',
      `invalid ${what} ${JSON.stringify(rule)}: ${detail}; expected ${RULE_FORM}, e.g. ${RULE_EXAMPLE}`,
    );
    this.name = 'RuleParseError';
    this.rule = rule;
    this.part = part;
  }
}

function parsePort(
  type: ProxyType | undefined,
  rule: string,
  part: 'port' | 'destination_port',
  text: string,
): number {
  const label = part === 'port' ? 'port' : 'destination port';
  if (text === '') throw new RuleParseError(type, rule, part, `${label} is empty`);
  if (!/^[0-9]+$/.test(text)) {
    throw new RuleParseError(type, rule, part, `${label} ${JSON.stringify(text)} is not a number (1-65535)`);
  }
  if (text.length > 1 && text.startsWith('0')) {
    throw new RuleParseError(type, rule, part, `${label} ${JSON.stringify(text)} has a leading zero`);
  }
  const n = Number(text);
  if (n < 1 || n > MAX_PORT) {
    throw new RuleParseError(type, rule, part, `${label} ${text} is out of range (1-65535)`);
  }
  return n;
}

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;

/** Returns why `host` is not a usable destination, or undefined when it is. Brackets are handled by the caller. */
function destinationProblem(host: string): string | undefined {
  if (host === '') return 'destination is empty';
  if (isIPv4(host)) return undefined;
  if (host.includes(':')) {
    return isIPv6(host)
      ? `IPv6 destination ${host} must be in brackets, i.e. [${host}]`
      : `it has more than 4 parts (destination would be ${JSON.stringify(host)})`;
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  const labels = name.split('.');
  // A name whose labels are all numeric would be read as an IPv4 address by resolvers (RFC 1123 2.1).
  if (labels.every((l) => /^[0-9]+$/.test(l))) return `destination ${host} is not a valid IPv4 address`;
  if (name.length > MAX_NAME_LENGTH) return `destination name is longer than ${MAX_NAME_LENGTH} characters`;
  for (const l of labels) {
    if (l.length > MAX_LABEL_LENGTH || !LABEL.test(l)) {
      return `destination ${JSON.stringify(host)} is not a valid DNS name (label ${JSON.stringify(l)})`;
    }
  }
  return undefined;
}

/** Applies `,key=value` options (after the destination port) to `rule`. */
function parseOptions(type: ProxyType, text: string, options: string[], rule: ProxyRule): void {
  for (const option of options) {
    const [key, value, extra] = option.split('=');
    if (key === 'proxy-protocol') {
      if (extra !== undefined || !PROXY_PROTOCOL_VERSIONS.includes(value as ProxyProtocolVersion)) {
        throw new RuleParseError(
          type,
          text,
          'option',
          `proxy-protocol=${value ?? ''} is not a version; expected proxy-protocol=v1 or proxy-protocol=v2`,
        );
      }
      if (rule.protocol !== 'tcp') {
        throw new RuleParseError(type, text, 'option', 'proxy-protocol applies to tcp rules only');
      }
      if (rule.proxyProtocol !== undefined) {
        throw new RuleParseError(type, text, 'option', 'proxy-protocol is given twice');
      }
      rule.proxyProtocol = value as ProxyProtocolVersion;
      continue;
    }
    throw new RuleParseError(
      type,
      text,
      'option',
      `unknown option ${JSON.stringify(option)}; the only option is proxy-protocol=v1|v2`,
    );
  }
}

/**
 * Parses `protocol:port:destination:destination_port[,option...]`. Throws RuleParseError naming the bad
 * part. The protocol is case-insensitive; a DNS name is kept as written (it is resolved per connection).
 */
export function parseRule(type: ProxyType, text: string): ProxyRule {
  if (/\s/.test(text)) throw new RuleParseError(type, text, 'rule', 'it contains whitespace');
  // Options follow the first comma: no part of an address, a name or a port contains one.
  const [base, ...options] = text.split(',');
  const rule = parseAddressPart(type, text, base!);
  parseOptions(type, text, options, rule);
  return rule;
}

function parseAddressPart(type: ProxyType, text: string, ruleText: string): ProxyRule {
  const first = ruleText.indexOf(':');
  if (first < 0) throw new RuleParseError(type, text, 'rule', 'it has no ":" separators');
  const protoText = ruleText.slice(0, first);
  const protocol = protoText.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp') {
    const shown =
      protoText === '' ? 'protocol is empty' : `protocol ${JSON.stringify(protoText)} is not tcp or udp`;
    throw new RuleParseError(type, text, 'protocol', shown);
  }
  const second = ruleText.indexOf(':', first + 1);
  if (second < 0) throw new RuleParseError(type, text, 'rule', 'it has only 2 of 4 parts');
  const listenPort = parsePort(type, text, 'port', ruleText.slice(first + 1, second));
  const rest = ruleText.slice(second + 1);
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new RuleParseError(type, text, 'destination', 'IPv6 destination has no closing "]"');
    host = rest.slice(1, close);
    if (!isIPv6(host)) {
      throw new RuleParseError(
        type,
        text,
        'destination',
        `${JSON.stringify(host)} in brackets is not an IPv6 address`,
      );
    }
    const after = rest.slice(close + 1);
    if (!after.startsWith(':')) {
      const detail =
        after === '' ? 'it has only 3 of 4 parts' : `expected ":" after "]", found ${JSON.stringify(after)}`;
      throw new RuleParseError(type, text, after === '' ? 'rule' : 'destination', detail);
    }
    portText = after.slice(1);
  } else {
    const last = rest.lastIndexOf(':');
    if (last < 0) throw new RuleParseError(type, text, 'rule', 'it has only 3 of 4 parts');
    host = rest.slice(0, last);
    portText = rest.slice(last + 1);
    const problem = destinationProblem(host);
    if (problem) throw new RuleParseError(type, text, 'destination', problem);
  }
  const port = parsePort(type, text, 'destination_port', portText);
  return { type, protocol, listenPort, destination: { host, port } };
}

/** Formats a rule back into its canonical string; `parseRule(r.type, formatRule(r))` gives `r` again. */
export function formatRule(
  rule: Pick<ProxyRule, 'protocol' | 'listenPort' | 'destination' | 'proxyProtocol'>,
): string {
  const host = rule.destination.host.includes(':') ? `[${rule.destination.host}]` : rule.destination.host;
  const options = rule.proxyProtocol ? `,proxy-protocol=${rule.proxyProtocol}` : '';
  return `${rule.protocol}:${rule.listenPort}:${host}:${rule.destination.port}${options}`;
}

/** A key that identifies a rule (two rules with the same key are the same rule), i.e. `ingress tcp:80:a:80`. */
export function ruleKey(rule: ProxyRule): string {
  return `${rule.type} ${formatRule(rule)}`;
}

/** The rules that share a listener: same type, protocol and port. */
export function listenerKey(rule: Pick<ProxyRule, 'type' | 'protocol' | 'listenPort'>): string {
  return `${rule.type}/${rule.protocol}/${rule.listenPort}`;
}
