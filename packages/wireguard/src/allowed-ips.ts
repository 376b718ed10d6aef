// SPDX-License-Identifier: Apache-2.0
// Cryptokey routing table (section 2 of the paper): longest-prefix match over IPv4 and IPv6, one binary
// trie per family. Outgoing packets pick their peer by destination; incoming packets are dropped unless
// their source maps back to the peer that sent them. Lookups walk the packet's bytes in place.
import { type Cidr, formatCidr } from './ip.js';

class TrieNode<T> {
  zero: TrieNode<T> | undefined = undefined;
  one: TrieNode<T> | undefined = undefined;
  /** Owner of the prefix ending at this node (depth = prefix length), if any. */
  value: T | undefined = undefined;
}

/**
 * Lookup results are cached in a direct-mapped table keyed by the whole address, because a bit-wise
 * walk costs ~100 ns (IPv4) to ~400 ns (IPv6) and every packet needs one (destination on send, source
 * on receive), usually for the same few addresses. Any insert/remove clears the cache.
 */
const CACHE_BITS = 8;
const CACHE_SLOTS = 1 << CACHE_BITS;
/** Fibonacci hashing (Knuth, TAOCP 6.4): multiply by 2^32/phi and keep the top CACHE_BITS bits. */
const FIBONACCI_HASH = 0x9e3779b1;
const SLOT_SHIFT = 32 - CACHE_BITS;
const EMPTY_V4 = -1; // not a u32, so never equal to an address

export class AllowedIps<T> {
  private readonly v4 = new TrieNode<T>();
  private readonly v6 = new TrieNode<T>();
  private readonly v4Keys = new Float64Array(CACHE_SLOTS).fill(EMPTY_V4);
  private readonly v4Values: (T | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
  private readonly v6Keys = new Uint32Array(CACHE_SLOTS * 4);
  private readonly v6Valid = new Uint8Array(CACHE_SLOTS);
  private readonly v6Values: (T | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

  /** Maps `cidr` to `value`; a prefix already owned by another value moves to this one (as `wg set`). */
  insert(cidr: Cidr, value: T): void {
    let node = cidr.family === 4 ? this.v4 : this.v6;
    for (let i = 0; i < cidr.prefix; i++) {
      const bit = (cidr.bytes[i >> 3] >> (7 - (i & 7))) & 1;
      let child = bit ? node.one : node.zero;
      if (!child) {
        child = new TrieNode<T>();
        if (bit) node.one = child;
        else node.zero = child;
      }
      node = child;
    }
    node.value = value;
    this.clearCache();
  }

  /**
   * Longest-prefix match of the address at `buf[offset..]` (4 bytes for family 4, 16 for 6).
   * Allocation-free; the caller guarantees the bytes are in bounds.
   */
  lookup(buf: Uint8Array, offset: number, family: 4 | 6): T | undefined {
    if (family === 4) {
      const key =
        ((buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]) >>> 0;
      const slot = Math.imul(key, FIBONACCI_HASH) >>> SLOT_SHIFT;
      if (this.v4Keys[slot] === key) return this.v4Values[slot];
      const v = walk(this.v4, buf, offset, 32);
      this.v4Keys[slot] = key;
      this.v4Values[slot] = v;
      return v;
    }
    const w0 = word(buf, offset);
    const w1 = word(buf, offset + 4);
    const w2 = word(buf, offset + 8);
    const w3 = word(buf, offset + 12);
    // Fold the four words (weights 31^0..31^3, so equal words in different places do not cancel).
    const slot =
      Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 29791), FIBONACCI_HASH) >>>
      SLOT_SHIFT;
    const k = this.v6Keys;
    const b = slot * 4;
    if (this.v6Valid[slot] === 1 && k[b] === w0 && k[b + 1] === w1 && k[b + 2] === w2 && k[b + 3] === w3) {
      return this.v6Values[slot];
    }
    const v = walk(this.v6, buf, offset, 128);
    k[b] = w0;
    k[b + 1] = w1;
    k[b + 2] = w2;
    k[b + 3] = w3;
    this.v6Valid[slot] = 1;
    this.v6Values[slot] = v;
    return v;
  }

  private clearCache(): void {
    this.v4Keys.fill(EMPTY_V4);
    this.v4Values.fill(undefined);
    this.v6Valid.fill(0);
    this.v6Values.fill(undefined);
  }

  /** Removes every prefix owned by `value` and prunes emptied branches. */
  removeValue(value: T): void {
    prune(this.v4, value);
    prune(this.v6, value);
    this.clearCache();
  }

  /** The prefixes owned by `value`, IPv4 first, in address order. */
  entriesFor(value: T): string[] {
    const out: string[] = [];
    collect(this.v4, value, new Uint8Array(4), 0, 4, out);
    collect(this.v6, value, new Uint8Array(16), 0, 6, out);
    return out;
  }

  /** Number of trie nodes, to show that churn does not grow the table. */
  nodeCount(): number {
    return count(this.v4) + count(this.v6);
  }
}

/** Longest-prefix walk, one bit per level; the value of the deepest node passed wins. */
function walk<T>(root: TrieNode<T>, buf: Uint8Array, offset: number, bits: number): T | undefined {
  let node: TrieNode<T> | undefined = root;
  let best = root.value;
  for (let i = 0; i < bits; i++) {
    const bit = (buf[offset + (i >> 3)] >> (7 - (i & 7))) & 1;
    node = bit ? node.one : node.zero;
    if (node === undefined) break;
    if (node.value !== undefined) best = node.value;
  }
  return best;
}

/** Big-endian u32 at `off` (unsigned). */
function word(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Returns true when `node` became empty and may be unlinked. */
function prune<T>(node: TrieNode<T>, value: T): boolean {
  if (node.value === value) node.value = undefined;
  if (node.zero && prune(node.zero, value)) node.zero = undefined;
  if (node.one && prune(node.one, value)) node.one = undefined;
  return node.value === undefined && !node.zero && !node.one;
}

function collect<T>(
  node: TrieNode<T>,
  value: T,
  bytes: Uint8Array,
  depth: number,
  family: 4 | 6,
  out: string[],
): void {
  if (node.value === value) out.push(formatCidr({ family, bytes: new Uint8Array(bytes), prefix: depth }));
  if (node.zero) collect(node.zero, value, bytes, depth + 1, family, out);
  if (node.one) {
    bytes[depth >> 3] |= 0x80 >> (depth & 7);
    collect(node.one, value, bytes, depth + 1, family, out);
    bytes[depth >> 3] &= ~(0x80 >> (depth & 7));
  }
}

function count<T>(node: TrieNode<T> | undefined): number {
  return node ? 1 + count(node.zero) + count(node.one) : 0;
}
