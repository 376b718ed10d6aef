// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { toDraft, toRule, validateRule, validRange } from '../src/forms/security-rules.js';

const draft = (p: Partial<Parameters<typeof validateRule>[0]>) => ({
  ip_protocol: 'tcp',
  from_port: '',
  to_port: '',
  ip_ranges: '',
  ...p,
});

describe('security rule validation', () => {
  it('accepts addresses, CIDRs within their family and same-family ranges', () => {
    for (const ok of ['10.0.0.0/8', '100.100.0.1', '200::/64', '::1', 'fd00::1-fd00::9', '1.2.3.4-1.2.3.9']) {
      expect(validRange(ok), ok).toBe(true);
    }
    for (const bad of [
      '10.0.0.300',
      '10.0.0.0/33',
      '200::/129',
      '1.2.3.4-::1',
      'example.com',
      '1.2.3.4/8/1',
    ]) {
      expect(validRange(bad), bad).toBe(false);
    }
  });

  it('names the field that is wrong', () => {
    expect(validateRule(draft({ from_port: '70000' })).from_port).toMatch(/0 to 65535/);
    expect(validateRule(draft({ from_port: '90', to_port: '80' })).to_port).toMatch(/not be below/);
    expect(validateRule(draft({ ip_protocol: 'icmp', from_port: '80' })).from_port).toMatch(
      /tcp and udp only/,
    );
    expect(validateRule(draft({ ip_ranges: '10.0.0.0/8, nope' })).ip_ranges).toMatch(/nope/);
    expect(validateRule(draft({ from_port: '80', to_port: '81', ip_ranges: '10.0.0.0/8' }))).toEqual({});
  });

  it('converts between the API rule and the draft both ways', () => {
    const rule = { ip_protocol: 'udp' as const, from_port: 53, to_port: 53, ip_ranges: ['100.100.0.0/16'] };
    expect(toRule(toDraft(rule))).toEqual(rule);
    expect(toRule(draft({ from_port: '443' }))).toEqual({ ip_protocol: 'tcp', from_port: 443, to_port: 443 });
    expect(toDraft({ ip_protocol: '', from_port: 0, to_port: 0 }).ip_protocol).toBe('ip');
  });
});
