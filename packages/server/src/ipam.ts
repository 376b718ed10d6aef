// SPDX-License-Identifier: Apache-2.0
// Per-VPC IP address management. The pool is a VPC's CIDR; the database's UNIQUE (vpc_id, address) is the
// guarantee against double assignment, this module only picks a candidate (lowest free host address).
import ipaddr from 'ipaddr.js';
import { NexError } from './errors.js';
import { parseStrictAddress, parseStrictCidr } from './ip-text.js';

export const DEFAULT_IPV4_CIDR = '100.100.0.0/16';
export const DEFAULT_IPV6_CIDR = '200::/64';

export type Family = 4 | 6;

export interface Pool {
  family: Family;
  /** canonical text, i.e. 100.100.0.0/16 */
  cidr: string;
  prefix: number;
  /** first and last assignable address as integers */
  first: bigint;
  last: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
/** Smallest pools we accept: a /30 gives two IPv4 hosts, a /126 three IPv6 hosts. */
const MAX_PREFIX: Record<Family, number> = { 4: 30, 6: 126 };

function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let n = 0n;
  for (const b of addr.toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBigInt(n: bigint, family: Family): string {
  const len = family === 4 ? 4 : 16;
  const bytes = new Array<number>(len);
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * Blocks a pool must not overlap: its addresses are not unicast host addresses a tunnel can carry
 * (RFC 6890 special-purpose registries). A pool that covers one of them (0.0.0.0/0, 8.0.0.0/1) is refused
 * as well as one inside it (127.1.0.0/16).
 */
const NON_UNICAST: Record<Family, ReadonlyArray<[string, string]>> = {
  4: [
    ['0.0.0.0/8', '"this network" (RFC 791)'],
    ['127.0.0.0/8', 'loopback (RFC 1122)'],
    ['169.254.0.0/16', 'link-local (RFC 3927)'],
    ['224.0.0.0/4', 'multicast (RFC 5771)'],
    ['240.0.0.0/4', 'reserved and broadcast (RFC 1112, RFC 919)'],
  ],
  6: [
    ['::/127', 'the unspecified and loopback addresses (RFC 4291)'],
    ['::ffff:0:0/96', 'IPv4-mapped addresses (RFC 4291)'],
    ['fe80::/10', 'link-local (RFC 4291)'],
    ['ff00::/8', 'multicast (RFC 4291)'],
  ],
};

function blockRange(cidr: string): { first: bigint; last: bigint } {
  const [addr, prefix] = ipaddr.parseCIDR(cidr);
  const bits = BigInt((addr.kind() === 'ipv4' ? 32 : 128) - prefix);
  const first = (toBigInt(addr) >> bits) << bits;
  return { first, last: first + (1n << bits) - 1n };
}

const NON_UNICAST_RANGES: Record<
  Family,
  Array<{ first: bigint; last: bigint; cidr: string; what: string }>
> = {
  4: NON_UNICAST[4].map(([cidr, what]) => ({ ...blockRange(cidr), cidr, what })),
  6: NON_UNICAST[6].map(([cidr, what]) => ({ ...blockRange(cidr), cidr, what })),
};

/**
 * Parses a VPC pool CIDR. `field` names the request field for the 400. The address must be the network
 * address (no host bits), so that two spellings of one pool cannot exist.
 */
export function parsePool(cidr: string, family: Family, field: string): Pool {
  const parsed = parseStrictCidr(cidr);
  if (!parsed) {
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: ${JSON.stringify(cidr)} is not a CIDR (decimal octets without leading zeros), expected i.e. ${family === 4 ? DEFAULT_IPV4_CIDR : DEFAULT_IPV6_CIDR}`,
      { field },
    );
  }
  const [addr, prefix] = parsed;
  if ((family === 4) !== (addr.kind() === 'ipv4')) {
    throw new NexError('NEX_ERR_BAD_CIDR', `${field}: ${cidr} is not an IPv${family} CIDR`, { field });
  }
  if (prefix > MAX_PREFIX[family]) {
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: /${prefix} is too small for a pool, use at most /${MAX_PREFIX[family]}`,
      { field },
    );
  }
  const bits = BITS[family];
  const hostBits = BigInt(bits - prefix);
  const value = toBigInt(addr);
  const network = (value >> hostBits) << hostBits;
  if (network !== value) {
    const canonical = `${fromBigInt(network, family)}/${prefix}`;
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: ${cidr} has host bits set, did you mean ${canonical}?`,
      { field },
    );
  }
  const size = 1n << hostBits;
  const end = network + size - 1n;
  const clash = NON_UNICAST_RANGES[family].find((b) => network <= b.last && b.first <= end);
  if (clash) {
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: ${cidr} overlaps ${clash.cidr}, ${clash.what}; use a unicast range such as ${family === 4 ? '10.0.0.0/16 or 100.64.0.0/16' : 'fd00:1::/64'}`,
      { field },
    );
  }
  // IPv4: skip the network and broadcast addresses. IPv6: skip the subnet-router anycast address (RFC 4291 2.6.1).
  const first = network + 1n;
  const last = family === 4 ? network + size - 2n : network + size - 1n;
  return { family, cidr: `${fromBigInt(network, family)}/${prefix}`, prefix, first, last };
}

/** Parses one address and checks it is an assignable host of `pool`; returns its canonical text. */
export function checkRequested(pool: Pool, address: string, field: string): string {
  let addr: ipaddr.IPv4 | ipaddr.IPv6 | undefined = parseStrictAddress(address.replace(/\/(32|128)$/, ''));
  if (!addr) {
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: ${JSON.stringify(address)} is not an IP address (decimal octets without leading zeros)`,
      { field },
    );
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress())
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  const n = toBigInt(addr);
  if ((pool.family === 4) !== (addr.kind() === 'ipv4') || n < pool.first || n > pool.last) {
    throw new NexError(
      'NEX_ERR_BAD_CIDR',
      `${field}: ${address} is not an assignable address of ${pool.cidr}`,
      { field },
    );
  }
  return fromBigInt(n, pool.family);
}

/** The addresses of `taken` (ip_allocations texts) as integers. */
function usedAddresses(taken: Iterable<string>): Set<bigint> {
  const used = new Set<bigint>();
  for (const t of taken) {
    try {
      used.add(toBigInt(ipaddr.parse(t)));
    } catch {
      // A row we cannot parse cannot collide with a canonical candidate either; the UNIQUE constraint on
      // (vpc_id, address) still guards the insert.
    }
  }
  return used;
}

/** Lowest assignable address of `pool` not in `taken` (canonical texts), or undefined when full. */
export function pickFree(pool: Pool, taken: Iterable<string>): string | undefined {
  const used = usedAddresses(taken);
  for (let n = pool.first; n <= pool.last; n++) {
    if (!used.has(n)) return fromBigInt(n, pool.family);
    // `used` holds at most as many entries as the VPC has devices, so this loop is bounded by that.
  }
  return undefined;
}

/** Validates a CIDR a device advertises (any prefix, host bits allowed as in `ip route`), returns canonical text. */
export function checkAdvertisedCidr(cidr: string, field: string): string {
  const parsed = parseStrictCidr(cidr);
  if (parsed) return `${parsed[0].toString()}/${parsed[1]}`;
  throw new NexError(
    'NEX_ERR_BAD_CIDR',
    `${field}: ${JSON.stringify(cidr)} is not a CIDR (i.e. 172.16.42.0/24, no leading zeros)`,
    { field },
  );
}

interface CachedPool {
  /** the VPC revision after which `used` was exact */
  revision: number;
  used: Set<bigint>;
  /** no free address below this one */
  hint: bigint;
}

/**
 * Remembers a VPC's used addresses between registrations, so a registration does not re-read and re-parse
 * the whole pool. Every change to a VPC's devices takes the VPC's next revision (also on other replicas), so
 * the cache is exact only when this transaction's revision directly follows the cached one; otherwise it is
 * rebuilt from the database. A rolled-back transaction leaves a revision gap and so forces a rebuild too.
 * The database's UNIQUE (vpc_id, address) stays the guarantee.
 */
export class PoolCache {
  private readonly pools = new Map<string, CachedPool>();

  /** Picks the lowest free address for a transaction holding `revision` (call inside that transaction). */
  async pick(
    vpcId: string,
    pool: Pool,
    revision: number,
    loadTaken: () => Promise<string[]>,
  ): Promise<string | undefined> {
    const key = `${vpcId}|${pool.family}|${pool.cidr}`;
    let entry = this.pools.get(key);
    // A cache that finds the pool full may only be missing frees (rolled-back picks stay marked used): re-read.
    if (entry && entry.revision === revision - 1 && this.firstFree(entry, pool) === undefined)
      entry = undefined;
    if (!entry || entry.revision !== revision - 1) {
      entry = { revision: revision - 1, used: usedAddresses(await loadTaken()), hint: pool.first };
      this.pools.set(key, entry);
    }
    const n = this.firstFree(entry, pool);
    entry.revision = revision;
    if (n === undefined) return undefined;
    entry.used.add(n);
    entry.hint = n + 1n;
    return fromBigInt(n, pool.family);
  }

  private firstFree(entry: CachedPool, pool: Pool): bigint | undefined {
    let n = entry.hint;
    while (n <= pool.last && entry.used.has(n)) n++;
    entry.hint = n;
    return n > pool.last ? undefined : n;
  }

  /** Forget a VPC's pools (the VPC or one of its devices was deleted here). */
  drop(vpcId: string): void {
    for (const k of this.pools.keys()) if (k.startsWith(`${vpcId}|`)) this.pools.delete(k);
  }
}
