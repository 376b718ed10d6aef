// SPDX-License-Identifier: Apache-2.0
// SecurityPolicy (security/filter.ts): the original's permit-only model, rule by rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SecurityPolicy } from '../src/security/filter.js';
import { SecurityGate } from '../src/security/gate.js';

const tcp = (address: string, port: number) => ({ protocol: 'tcp' as const, address, port });
const udp = (address: string, port: number) => ({ protocol: 'udp' as const, address, port });

describe('SecurityPolicy', () => {
  test('no rules in a direction (the default group) permits everything', () => {
    const p = SecurityPolicy.compile({ id: 'g', inbound_rules: [], outbound_rules: [] });
    assert.ok(p.allowsInbound(tcp('100.100.0.9', 22)));
    assert.ok(p.allowsOutbound(udp('200::9', 53)));
    assert.ok(SecurityPolicy.allowAll().allowsInbound(tcp('1.2.3.4', 1)));
  });

  test('one rule: only what it permits passes; the other direction stays open', () => {
    const p = SecurityPolicy.compile({
      id: 'g',
      inbound_rules: [{ ip_protocol: 'tcp', from_port: 80, to_port: 80, ip_ranges: ['100.100.0.0/24'] }],
    });
    assert.ok(p.allowsInbound(tcp('100.100.0.7', 80)));
    assert.equal(p.allowsInbound(tcp('100.100.1.7', 80)), false, 'source outside the CIDR');
    assert.equal(p.allowsInbound(tcp('100.100.0.7', 81)), false, 'other port');
    assert.equal(p.allowsInbound(udp('100.100.0.7', 80)), false, 'other protocol');
    assert.ok(p.allowsOutbound(tcp('9.9.9.9', 1)), 'no outbound rules: open');
  });

  test('ports: 0/0 every port, from alone one port, a range inclusive', () => {
    const p = (from_port?: number, to_port?: number) =>
      SecurityPolicy.compile({ id: 'g', inbound_rules: [{ ip_protocol: 'udp', from_port, to_port }] });
    assert.ok(p(0, 0).allowsInbound(udp('100.100.0.1', 65535)));
    assert.ok(p().allowsInbound(udp('100.100.0.1', 1)));
    assert.ok(p(53, 0).allowsInbound(udp('100.100.0.1', 53)));
    assert.equal(p(53, 0).allowsInbound(udp('100.100.0.1', 54)), false);
    assert.ok(p(1000, 2000).allowsInbound(udp('100.100.0.1', 1000)));
    assert.ok(p(1000, 2000).allowsInbound(udp('100.100.0.1', 2000)));
    assert.equal(p(1000, 2000).allowsInbound(udp('100.100.0.1', 2001)), false);
  });

  test("protocols: '' and ip are any; ipv4/ipv6 one family; icmp never matches a proxied flow", () => {
    const p = (ip_protocol: string) => SecurityPolicy.compile({ id: 'g', outbound_rules: [{ ip_protocol }] });
    for (const any of ['', 'ip']) {
      assert.ok(p(any).allowsOutbound(tcp('100.100.0.1', 1)));
      assert.ok(p(any).allowsOutbound(udp('200::1', 1)));
    }
    assert.ok(p('ipv4').allowsOutbound(udp('100.100.0.1', 1)));
    assert.equal(p('ipv4').allowsOutbound(udp('200::1', 1)), false);
    assert.ok(p('ipv6').allowsOutbound(tcp('200::1', 1)));
    assert.equal(p('ipv6').allowsOutbound(tcp('100.100.0.1', 1)), false);
    assert.equal(p('icmp').allowsOutbound(tcp('100.100.0.1', 1)), false, 'an icmp-only group shuts tcp');
  });

  test('ip_ranges: addresses, CIDRs (both families) and first-last ranges; junk permits nothing', () => {
    const p = (ip_ranges: string[]) =>
      SecurityPolicy.compile({ id: 'g', inbound_rules: [{ ip_protocol: 'tcp', ip_ranges }] });
    assert.ok(p(['100.100.0.5']).allowsInbound(tcp('100.100.0.5', 1)));
    assert.equal(p(['100.100.0.5']).allowsInbound(tcp('100.100.0.6', 1)), false);
    assert.ok(p(['200::/64']).allowsInbound(tcp('200::abcd', 1)));
    assert.equal(p(['200::/64']).allowsInbound(tcp('100.100.0.1', 1)), false, 'other family');
    const r = p(['100.100.0.10-100.100.0.20']);
    assert.ok(r.allowsInbound(tcp('100.100.0.10', 1)));
    assert.ok(r.allowsInbound(tcp('100.100.0.20', 1)));
    assert.equal(r.allowsInbound(tcp('100.100.0.21', 1)), false);
    assert.equal(p(['not-an-address']).allowsInbound(tcp('100.100.0.1', 1)), false);
    assert.equal(p(['100.100.0.0/99']).allowsInbound(tcp('100.100.0.1', 1)), false);
    assert.equal(p(['100.100.0.1']).allowsInbound(tcp('garbage', 1)), false);
  });

  test('several rules: any one permitting is enough', () => {
    const p = SecurityPolicy.compile({
      id: 'g',
      inbound_rules: [
        { ip_protocol: 'tcp', from_port: 22, to_port: 22, ip_ranges: ['100.100.0.1'] },
        { ip_protocol: 'udp', from_port: 53, to_port: 53 },
      ],
    });
    assert.ok(p.allowsInbound(tcp('100.100.0.1', 22)));
    assert.ok(p.allowsInbound(udp('100.100.0.77', 53)));
    assert.equal(p.allowsInbound(tcp('100.100.0.77', 22)), false);
  });
});

describe('SecurityGate', () => {
  test('counts refusals, tracks admitted connections and closes those a new policy refuses', () => {
    const refusals: string[] = [];
    const gate = new SecurityGate({ onRefused: (d, p) => refusals.push(`${d}/${p}`) });
    const closed: string[] = [];
    const ok = gate.admitStream('inbound', tcp('100.100.0.2', 80), () => closed.push('a'));
    const other = gate.admitStream('inbound', tcp('100.100.0.3', 80), () => closed.push('b'));
    assert.ok(ok && other);
    assert.equal(gate.openConnections, 2);
    const n = gate.setPolicy(
      SecurityPolicy.compile({
        id: 'g',
        inbound_rules: [{ ip_protocol: 'tcp', ip_ranges: ['100.100.0.2'] }],
      }),
    );
    assert.equal(n, 1);
    assert.deepEqual(closed, ['b']);
    assert.equal(gate.counters.closedByPolicyChange, 1);
    assert.equal(
      gate.admitStream('inbound', tcp('100.100.0.3', 80), () => {}),
      undefined,
    );
    assert.equal(gate.counters.tcpRefused, 1);
    assert.equal(gate.admitDatagram('inbound', udp('100.100.0.2', 53)), false, 'no udp rule');
    assert.equal(gate.counters.udpDropped, 1);
    assert.deepEqual(refusals, ['inbound/tcp', 'inbound/udp']);
    ok.untrack();
    assert.equal(gate.openConnections, 0);
  });
});
