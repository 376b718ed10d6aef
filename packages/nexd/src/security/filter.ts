// SPDX-License-Identifier: Apache-2.0
// Security groups in proxy mode, the pure part: a group's rules (the API's `models.SecurityRule`:
// ip_protocol, from_port, to_port, ip_ranges) compiled into a policy that answers "may this flow pass?".
// The model is the original's, AWS-like: rules only permit; a direction with no rules permits everything
// (a VPC's default group has none); once it has one rule, only what some rule permits passes.
//   ip_protocol  '' / 'ip' any; 'ipv4' / 'ipv6' any of that family; 'tcp' / 'udp'; ICMP rules never match
//                a proxied flow (the proxy carries TCP and UDP only)
//   from_port, to_port  0 and 0 (or absent) = every port; from_port alone (to_port 0) = that port; else
//                the inclusive range
//   ip_ranges    absent or empty = any address; entries are an address, a CIDR or `first-last`
// The peer address checked is the far end: the source for inbound, the destination for outbound.
import { BlockList, isIP } from 'node:net';

export type FlowProtocol = 'tcp' | 'udp';
export type Direction = 'inbound' | 'outbound';

/** One rule as the API sends it. */
export interface SecurityRuleInput {
  ip_protocol: string;
  from_port?: number;
  to_port?: number;
  ip_ranges?: string[];
}

/** One security group as the API sends it (`models.SecurityGroup`, the fields read here). */
export interface SecurityGroupInput {
  id: string;
  inbound_rules?: SecurityRuleInput[];
  outbound_rules?: SecurityRuleInput[];
}

/** A flow to decide on: its protocol, the far end's address (IP literal) and the port on our side
 * (inbound: the port it arrived at) or on theirs (outbound: the port dialled). */
export interface Flow {
  protocol: FlowProtocol;
  address: string;
  port: number;
}

interface CompiledRule {
  protocols: ReadonlySet<FlowProtocol>;
  /** undefined = both families. */
  family: 4 | 6 | undefined;
  fromPort: number;
  toPort: number;
  /** undefined = any address. */
  ranges: BlockList | undefined;
}

const ANY_PORT_TO = 65535;

function compileRule(r: SecurityRuleInput): CompiledRule | undefined {
  const proto = (r.ip_protocol ?? '').toLowerCase();
  let protocols: FlowProtocol[];
  let family: 4 | 6 | undefined;
  switch (proto) {
    case '':
    case 'ip':
      protocols = ['tcp', 'udp'];
      break;
    case 'ipv4':
      protocols = ['tcp', 'udp'];
      family = 4;
      break;
    case 'ipv6':
      protocols = ['tcp', 'udp'];
      family = 6;
      break;
    case 'tcp':
    case 'udp':
      protocols = [proto];
      break;
    default:
      // icmp, icmpv4, icmpv6 (and anything newer): no proxied flow matches.
      return undefined;
  }
  const from = r.from_port ?? 0;
  const to = r.to_port ?? 0;
  const [fromPort, toPort] = from === 0 && to === 0 ? [0, ANY_PORT_TO] : to === 0 ? [from, from] : [from, to];
  let ranges: BlockList | undefined;
  if (r.ip_ranges && r.ip_ranges.length > 0) {
    ranges = new BlockList();
    let usable = 0;
    for (const text of r.ip_ranges) if (addRange(ranges, text.trim())) usable++;
    // A rule whose every range is unusable permits nothing (never everything).
    if (usable === 0) return undefined;
  }
  return { protocols: new Set(protocols), family, fromPort, toPort, ranges };
}

/** Adds an address, CIDR or `first-last` range; false when it is none of these. */
function addRange(list: BlockList, text: string): boolean {
  const kind = (a: string) => (isIP(a) === 4 ? 'ipv4' : isIP(a) === 6 ? 'ipv6' : undefined);
  try {
    const slash = text.indexOf('/');
    if (slash >= 0) {
      const addr = text.slice(0, slash);
      const bits = text.slice(slash + 1);
      const type = kind(addr);
      if (!type || !/^[0-9]{1,3}$/.test(bits)) return false;
      list.addSubnet(addr, Number(bits), type);
      return true;
    }
    const dash = text.indexOf('-');
    if (dash >= 0) {
      const a = text.slice(0, dash);
      const b = text.slice(dash + 1);
      const type = kind(a);
      if (!type || kind(b) !== type) return false;
      list.addRange(a, b, type);
      return true;
    }
    const type = kind(text);
    if (!type) return false;
    list.addAddress(text, type);
    return true;
  } catch {
    // BlockList rejects a prefix beyond the family's bits or a reversed range: unusable, like junk.
    return false;
  }
}

function matches(rule: CompiledRule, flow: Flow, family: 4 | 6): boolean {
  if (!rule.protocols.has(flow.protocol)) return false;
  if (rule.family !== undefined && rule.family !== family) return false;
  if (flow.port < rule.fromPort || flow.port > rule.toPort) return false;
  return rule.ranges === undefined || rule.ranges.check(flow.address, family === 4 ? 'ipv4' : 'ipv6');
}

export class SecurityPolicy {
  /** undefined = the direction has no rules: everything passes. */
  readonly #inbound: CompiledRule[] | undefined;
  readonly #outbound: CompiledRule[] | undefined;
  /** The group this policy came from, i.e. for logs; undefined for allowAll(). */
  readonly groupId: string | undefined;

  private constructor(groupId: string | undefined, inbound?: CompiledRule[], outbound?: CompiledRule[]) {
    this.groupId = groupId;
    this.#inbound = inbound;
    this.#outbound = outbound;
  }

  /** No group (or the device's group is unknown yet): nothing is filtered. */
  static allowAll(): SecurityPolicy {
    return new SecurityPolicy(undefined);
  }

  static compile(group: SecurityGroupInput): SecurityPolicy {
    const dir = (rules: SecurityRuleInput[] | undefined) =>
      rules && rules.length > 0
        ? rules.map(compileRule).filter((r): r is CompiledRule => r !== undefined)
        : undefined;
    return new SecurityPolicy(group.id, dir(group.inbound_rules), dir(group.outbound_rules));
  }

  /** May a flow arriving over the tunnel from `flow.address` to our port `flow.port` pass? */
  allowsInbound(flow: Flow): boolean {
    return this.#allows(this.#inbound, flow);
  }

  /** May an egress rule dial `flow.address`:`flow.port` through the tunnel? */
  allowsOutbound(flow: Flow): boolean {
    return this.#allows(this.#outbound, flow);
  }

  allows(direction: Direction, flow: Flow): boolean {
    return direction === 'inbound' ? this.allowsInbound(flow) : this.allowsOutbound(flow);
  }

  #allows(rules: CompiledRule[] | undefined, flow: Flow): boolean {
    if (rules === undefined) return true;
    const family = isIP(flow.address);
    if (family !== 4 && family !== 6) return false;
    for (const r of rules) if (matches(r, flow, family)) return true;
    return false;
  }
}
