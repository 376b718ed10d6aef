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

export class AllowedIps<T> {
  private readonly v4 = new TrieNode<T>();
  private readonly v6 = new TrieNode<T>();

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
  }

  /**
   * Longest-prefix match of the address at `buf[offset..]` (4 bytes for family 4, 16 for 6).
   * Allocation-free; the caller guarantees the bytes are in bounds.
   */
  lookup(buf: Uint8Array, offset: number, family: 4 | 6): T | undefined {
    let node: TrieNode<T> | undefined = family === 4 ? this.v4 : this.v6;
    const bits = family === 4 ? 32 : 128;
    let best = node.value;
    for (let i = 0; i < bits; i++) {
      const bit = (buf[offset + (i >> 3)] >> (7 - (i & 7))) & 1;
      node = bit ? node.one : node.zero;
      if (node === undefined) break;
      if (node.value !== undefined) best = node.value;
    }
    return best;
  }

  /** Removes every prefix owned by `value` and prunes emptied branches. */
  removeValue(value: T): void {
    prune(this.v4, value);
    prune(this.v6, value);
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
