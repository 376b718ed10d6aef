// SPDX-License-Identifier: Apache-2.0
// Allowed-IPs trie: longest-prefix match, a seeded differential test against a naive list, and CIDR parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AllowedIps } from '../src/allowed-ips.js';
import { type Cidr, formatIp, parseCidr, parseIp } from '../src/ip.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function matches(c: Cidr, addr: Uint8Array): boolean {
  for (let i = 0; i < c.prefix; i++) {
    const bit = 0x80 >> (i & 7);
    if ((c.bytes[i >> 3] & bit) !== (addr[i >> 3] & bit)) return false;
  }
  return true;
}

describe('ip parsing', () => {
  test('IPv4 and IPv6 literals, including :: and embedded IPv4', () => {
    assert.deepEqual([...parseIp('10.1.2.3')!], [10, 1, 2, 3]);
    assert.equal(formatIp(parseIp('fd00::1')!), 'fd00::1');
    assert.equal(formatIp(parseIp('::')!), '::');
    assert.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
    assert.equal(formatIp(parseIp('::ffff:192.0.2.1')!), '::ffff:c000:201');
    assert.equal(formatIp(parseIp('1:2:3:4:5:6:7:8')!), '1:2:3:4:5:6:7:8');
    for (const bad of ['10.0.0', '1.2.3.256', 'fd00::1::2', 'fe80::1%eth0', 'hello', '']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  test('CIDRs clear host bits and reject bad prefixes', () => {
    const c = parseCidr('10.1.2.3/8')!;
    assert.deepEqual([...c.bytes], [10, 0, 0, 0]);
    assert.equal(c.prefix, 8);
    assert.equal(parseCidr('fd00::7')!.prefix, 128);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/a', 'x/8']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
});

describe('allowed IPs trie', () => {
  test('longest prefix wins; default route catches the rest', () => {
    const t = new AllowedIps<string>();
    t.insert(parseCidr('0.0.0.0/0')!, 'default');
    t.insert(parseCidr('10.0.0.0/8')!, 'ten');
    t.insert(parseCidr('10.1.0.0/16')!, 'ten-one');
    t.insert(parseCidr('10.1.2.3/32')!, 'host');
    const at = (s: string) => t.lookup(parseIp(s)!, 0, 4);
    assert.equal(at('10.1.2.3'), 'host');
    assert.equal(at('10.1.2.4'), 'ten-one');
    assert.equal(at('10.2.0.0'), 'ten');
    assert.equal(at('192.0.2.1'), 'default');
    assert.equal(t.lookup(parseIp('fd00::1')!, 0, 6), undefined, 'families are separate');
  });

  test('cached results follow inserts and removals (IPv4 and IPv6)', () => {
    const t = new AllowedIps<string>();
    const v4 = parseIp('10.1.2.3')!;
    const v6 = parseIp('fd00:1::3')!;
    t.insert(parseCidr('10.0.0.0/8')!, 'A');
    t.insert(parseCidr('fd00::/16')!, 'A');
    assert.equal(t.lookup(v4, 0, 4), 'A');
    assert.equal(t.lookup(v6, 0, 6), 'A');
    t.insert(parseCidr('10.1.2.0/24')!, 'B');
    t.insert(parseCidr('fd00:1::/32')!, 'B');
    assert.equal(t.lookup(v4, 0, 4), 'B');
    assert.equal(t.lookup(v6, 0, 6), 'B');
    t.removeValue('B');
    assert.equal(t.lookup(v4, 0, 4), 'A');
    assert.equal(t.lookup(v6, 0, 6), 'A');
    t.removeValue('A');
    assert.equal(t.lookup(v4, 0, 4), undefined);
    assert.equal(t.lookup(v6, 0, 6), undefined);
  });

  test('lookup reads the address in place at an offset', () => {
    const t = new AllowedIps<string>();
    t.insert(parseCidr('fd00:1::/32')!, 'six');
    const buf = new Uint8Array(40);
    buf.set(parseIp('fd00:1::42')!, 24);
    assert.equal(t.lookup(buf, 24, 6), 'six');
  });

  test('re-inserting a prefix moves it; removeValue prunes the nodes', () => {
    const t = new AllowedIps<string>();
    const empty = t.nodeCount();
    t.insert(parseCidr('10.0.0.0/24')!, 'a');
    t.insert(parseCidr('10.0.0.0/24')!, 'b');
    assert.deepEqual(t.entriesFor('a'), []);
    assert.deepEqual(t.entriesFor('b'), ['10.0.0.0/24']);
    t.removeValue('b');
    assert.equal(t.lookup(parseIp('10.0.0.1')!, 0, 4), undefined);
    assert.equal(t.nodeCount(), empty);
  });

  for (const family of [4, 6] as const) {
    test(`seeded differential test against a naive list (IPv${family})`, () => {
      const next = rng(family === 4 ? 0xc0ffee : 0xbeef);
      const bytes = family === 4 ? 4 : 16;
      const t = new AllowedIps<number>();
      const naive: { cidr: Cidr; value: number }[] = [];
      const randomAddr = () => {
        const a = new Uint8Array(bytes);
        for (let i = 0; i < bytes; i++) a[i] = next() & 0xff;
        // Concentrate addresses in a few top prefixes so that prefixes overlap often.
        a[0] = family === 4 ? 10 : 0xfd;
        if (next() % 2) a[1] = 1;
        return a;
      };
      const probes = Array.from({ length: 40 }, randomAddr);
      const check = (addr: Uint8Array) => {
        let best: { cidr: Cidr; value: number } | undefined;
        for (const e of naive)
          if (matches(e.cidr, addr) && (!best || e.cidr.prefix > best.cidr.prefix)) best = e;
        assert.equal(t.lookup(addr, 0, family), best?.value, formatIp(addr));
      };
      for (let i = 0; i < 600; i++) {
        // The same probes are looked up between changes: the result cache must never answer stale.
        if (i % 50 === 0) for (const a of probes) check(a);
        const addr = randomAddr();
        const prefix = next() % (bytes * 8 + 1);
        const text = `${formatIp(addr)}/${prefix}`;
        const cidr = parseCidr(text)!;
        const value = next() % 40;
        t.insert(cidr, value);
        const existing = naive.findIndex(
          (e) => e.cidr.prefix === prefix && formatIp(e.cidr.bytes) === formatIp(cidr.bytes),
        );
        if (existing >= 0) naive.splice(existing, 1);
        naive.push({ cidr, value });
      }
      for (let removed = 0; removed < 5; removed++) {
        const value = next() % 40;
        t.removeValue(value);
        for (let i = naive.length - 1; i >= 0; i--) if (naive[i].value === value) naive.splice(i, 1);
      }
      for (let i = 0; i < 3000; i++) {
        const addr = randomAddr();
        let best: { cidr: Cidr; value: number } | undefined;
        for (const e of naive)
          if (matches(e.cidr, addr) && (!best || e.cidr.prefix > best.cidr.prefix)) best = e;
        assert.equal(t.lookup(addr, 0, family), best?.value, formatIp(addr));
      }
    });
  }
});
