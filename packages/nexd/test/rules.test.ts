// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatRule,
  listenerKey,
  type ProxyRule,
  parseRule,
  RuleParseError,
  ruleKey,
} from '../src/proxy/rules.js';

describe('parseRule: good rules', () => {
  const good: [string, Omit<ProxyRule, 'type'>][] = [
    [
      'tcp:80:100.100.0.1:80',
      { protocol: 'tcp', listenPort: 80, destination: { host: '100.100.0.1', port: 80 } },
    ],
    [
      'udp:53:[fd00::53]:5353',
      { protocol: 'udp', listenPort: 53, destination: { host: 'fd00::53', port: 5353 } },
    ],
    [
      'tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80',
      {
        protocol: 'tcp',
        listenPort: 80,
        destination: { host: 'nginx-service.nexd-proxy-demo1.svc.cluster.local', port: 80 },
      },
    ],
    [
      'TCP:1:localhost:65535',
      { protocol: 'tcp', listenPort: 1, destination: { host: 'localhost', port: 65535 } },
    ],
    ['tcp:8080:[::1]:8080', { protocol: 'tcp', listenPort: 8080, destination: { host: '::1', port: 8080 } }],
    [
      'udp:65535:db.example.:1',
      { protocol: 'udp', listenPort: 65535, destination: { host: 'db.example.', port: 1 } },
    ],
    [
      'tcp:443:[200::1]:443',
      { protocol: 'tcp', listenPort: 443, destination: { host: '200::1', port: 443 } },
    ],
  ];
  for (const [text, want] of good) {
    test(`accepts ${text}`, () => {
      assert.deepEqual(parseRule('egress', text), { type: 'egress', ...want });
    });
  }
});

describe('parseRule: every bad form names its part', () => {
  const bad: [string, string, RegExp][] = [
    ['', 'rule', /has no ":" separators/],
    ['tcp', 'rule', /has no ":" separators/],
    ['tcp:80', 'rule', /only 2 of 4 parts/],
    ['tcp:80:1.2.3.4', 'rule', /only 3 of 4 parts/],
    ['tcp:80:[fd00::1]', 'rule', /only 3 of 4 parts/],
    ['tcp :80:1.2.3.4:80', 'rule', /whitespace/],
    [':80:1.2.3.4:80', 'protocol', /protocol is empty/],
    ['sctp:80:1.2.3.4:80', 'protocol', /protocol "sctp" is not tcp or udp/],
    ['tcp::1.2.3.4:80', 'port', /port is empty/],
    ['tcp:http:1.2.3.4:80', 'port', /port "http" is not a number/],
    ['tcp:-1:1.2.3.4:80', 'port', /port "-1" is not a number/],
    ['tcp:0:1.2.3.4:80', 'port', /port 0 is out of range \(1-65535\)/],
    ['tcp:65536:1.2.3.4:80', 'port', /port 65536 is out of range/],
    ['tcp:080:1.2.3.4:80', 'port', /leading zero/],
    ['tcp:80::80', 'destination', /destination is empty/],
    ['tcp:80:1.2.3.4:', 'destination_port', /destination port is empty/],
    ['tcp:80:1.2.3.4:x', 'destination_port', /destination port "x" is not a number/],
    ['tcp:80:1.2.3.4:0', 'destination_port', /destination port 0 is out of range/],
    ['tcp:80:1.2.3.4:99999', 'destination_port', /destination port 99999 is out of range/],
    ['tcp:80:fd00::1:80', 'destination', /IPv6 destination fd00::1 must be in brackets, i.e. \[fd00::1\]/],
    ['tcp:80:[fd00::1:80', 'destination', /no closing "\]"/],
    ['tcp:80:[1.2.3.4]:80', 'destination', /"1.2.3.4" in brackets is not an IPv6 address/],
    ['tcp:80:[fd00::1]x:80', 'destination', /expected ":" after "\]"/],
    ['tcp:80:100.100.0.256:80', 'destination', /100.100.0.256 is not a valid IPv4 address/],
    ['tcp:80:under_score.example:80', 'destination', /not a valid DNS name \(label "under_score"\)/],
    ['tcp:80:-lead.example:80', 'destination', /not a valid DNS name/],
    ['tcp:80:a..b:80', 'destination', /not a valid DNS name \(label ""\)/],
    [`tcp:80:${'a'.repeat(64)}.example:80`, 'destination', /not a valid DNS name/],
    [`tcp:80:${'abcdefghi.'.repeat(26)}com:80`, 'destination', /longer than 253 characters/],
    ['tcp:80:host:80:90', 'destination', /more than 4 parts/],
  ];
  for (const [text, part, message] of bad) {
    test(`rejects ${JSON.stringify(text)} (${part})`, () => {
      assert.throws(
        () => parseRule('ingress', text),
        (err: unknown) => {
          assert.ok(err instanceof RuleParseError, `got ${String(err)}`);
          assert.equal(err.code, 'NEX_ERR_PROXY_RULE');
          assert.equal(err.part, part);
          assert.equal(err.rule, text);
          assert.match(err.message, message);
          assert.match(err.message, /^invalid ingress rule /);
          assert.match(err.message, /expected protocol:port:destination:destination_port, e\.g\. /);
          return true;
        },
      );
    });
  }
});

describe('formatRule', () => {
  test('brackets IPv6 destinations and keeps names', () => {
    assert.equal(formatRule(parseRule('ingress', 'udp:53:[fd00::53]:53')), 'udp:53:[fd00::53]:53');
    assert.equal(formatRule(parseRule('ingress', 'TCP:80:svc.ns:80')), 'tcp:80:svc.ns:80');
  });

  test('round-trips generated rules', () => {
    const host = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.domain().filter((d) => !d.split('.').every((l) => /^[0-9]+$/.test(l))),
    );
    const rule = fc.record({
      type: fc.constantFrom('ingress' as const, 'egress' as const),
      protocol: fc.constantFrom('tcp' as const, 'udp' as const),
      listenPort: fc.integer({ min: 1, max: 65535 }),
      destination: fc.record({ host, port: fc.integer({ min: 1, max: 65535 }) }),
    });
    fc.assert(
      fc.property(rule, (r) => {
        assert.deepEqual(parseRule(r.type, formatRule(r)), { ...r, destination: { ...r.destination } });
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  test('parse never throws anything but RuleParseError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          parseRule('egress', s);
        } catch (err) {
          assert.ok(err instanceof RuleParseError);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

test('ruleKey and listenerKey group rules by type, protocol and port', () => {
  const a = parseRule('ingress', 'tcp:80:a.example:80');
  const b = parseRule('ingress', 'tcp:80:b.example:80');
  const c = parseRule('egress', 'tcp:80:a.example:80');
  assert.notEqual(ruleKey(a), ruleKey(b));
  assert.equal(listenerKey(a), listenerKey(b));
  assert.notEqual(listenerKey(a), listenerKey(c));
  assert.equal(ruleKey(a), 'ingress tcp:80:a.example:80');
});
