// SPDX-License-Identifier: Apache-2.0
// What a pod needs of nexd's flags: --mtu from the pod interface, --listen-port 51820 and kept, --vpc-id,
// --security-group-id, --unix-socket, and rules that put a PROXY protocol header before the client's bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveNexdArgs } from '../src/config.js';
import { proxyProtocolHeader } from '../src/proxy/proxy-protocol.js';
import { formatRule, parseRule, RuleParseError } from '../src/proxy/rules.js';
import { isAddressInUse, listenPortCandidates } from '../src/tunnel/listen-port.js';
import { chooseTunnelMtu, underlayInterface } from '../src/tunnel/mtu.js';

const UUID = '0a1b2c3d-0000-4000-8000-00000000abcd';

function config(args: string[], env: Record<string, string> = {}) {
  const r = resolveNexdArgs([...args, 'proxy', 'https://svc.example'], env);
  if (!r.ok) throw r.error;
  assert.equal(r.command.kind, 'proxy');
  return (r.command as { config: import('../src/config.js').GlobalConfig }).config;
}

function badFlag(args: string[]): string {
  const r = resolveNexdArgs([...args, 'proxy', 'https://svc.example'], {});
  assert.ok(!r.ok, `${args.join(' ')} should be refused`);
  return r.error.message;
}

describe('flags', () => {
  test('--mtu / NEXD_MTU: 1280-65535, else a bad flag naming the range', () => {
    assert.equal(config(['--mtu', '1380']).mtu, 1380);
    assert.equal(config([], { NEXD_MTU: '9000' }).mtu, 9000);
    assert.equal(config([]).mtu, undefined);
    assert.match(
      badFlag(['--mtu', '1000']),
      /--mtu "1000" is not an MTU; expected a number of bytes 1280-65535/,
    );
    assert.match(badFlag(['--mtu', 'big']), /is not an MTU/);
  });

  test('--vpc-id / --security-group-id: UUIDs (lower-cased), else a bad flag', () => {
    const c = config(['--vpc-id', UUID.toUpperCase(), '--security-group-id', UUID]);
    assert.equal(c.vpcId, UUID);
    assert.equal(c.securityGroupId, UUID);
    assert.equal(config([], { NEXD_VPC_ID: UUID }).vpcId, UUID);
    assert.match(badFlag(['--vpc-id', 'default']), /--vpc-id "default" is not an id; expected a UUID/);
  });

  test('--unix-socket / NEXD_UNIX_SOCKET names the control socket', () => {
    assert.equal(config(['--unix-socket', '/run/nexd/ctl.sock']).unixSocket, '/run/nexd/ctl.sock');
    assert.equal(config([], { NEXD_UNIX_SOCKET: '/tmp/x.sock' }).unixSocket, '/tmp/x.sock');
  });
});

describe('tunnel MTU', () => {
  const procfs = (files: Record<string, string>) => (path: string) => files[path];
  const ROUTE_HEADER = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n';

  test('the IPv4 default route names the underlay; its MTU minus 80 (a CNI with VXLAN: 1450 -> 1370)', () => {
    const read = procfs({
      '/proc/net/route': `${ROUTE_HEADER}eth0\t00000000\t0100580A\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0000580A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`,
      '/sys/class/net/eth0/mtu': '1450\n',
    });
    const u = underlayInterface(read, () => ['lo', 'eth0']);
    assert.deepEqual(u, { name: 'eth0', mtu: 1450, via: 'ipv4-default-route' });
    assert.deepEqual(chooseTunnelMtu(undefined, u), {
      mtu: 1370,
      reason: 'eth0 (ipv4-default-route) MTU 1450 - 80',
    });
  });

  test('IPv6-only pods: the ::/0 route of /proc/net/ipv6_route', () => {
    const read = procfs({
      '/proc/net/route': ROUTE_HEADER,
      '/proc/net/ipv6_route':
        'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1\n' +
        '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n',
      '/sys/class/net/eth1/mtu': '1500',
    });
    assert.deepEqual(
      underlayInterface(read, () => []),
      { name: 'eth1', mtu: 1500, via: 'ipv6-default-route' },
    );
  });

  test('no default route: the largest interface other than lo; none at all: 1420', () => {
    const read = procfs({
      '/sys/class/net/lo/mtu': '65536',
      '/sys/class/net/a/mtu': '1400',
      '/sys/class/net/b/mtu': '1500',
    });
    assert.deepEqual(
      underlayInterface(read, () => ['lo', 'a', 'b']),
      { name: 'b', mtu: 1500, via: 'largest-interface' },
    );
    assert.equal(
      underlayInterface(procfs({}), () => ['lo']),
      undefined,
    );
    assert.equal(chooseTunnelMtu(undefined, undefined).mtu, 1420);
  });

  test('never above 1420 unless asked (jumbo frames), never below 1280 (IPv6 minimum)', () => {
    assert.equal(
      chooseTunnelMtu(undefined, { name: 'eth0', mtu: 9001, via: 'ipv4-default-route' }).mtu,
      1420,
    );
    assert.equal(chooseTunnelMtu(8921, { name: 'eth0', mtu: 9001, via: 'ipv4-default-route' }).mtu, 8921);
    const small = chooseTunnelMtu(undefined, { name: 'eth0', mtu: 1300, via: 'ipv4-default-route' });
    assert.equal(small.mtu, 1280);
    assert.match(small.reason, /below 1280/);
  });
});

describe('listen port', () => {
  test('asked: only that port; otherwise the stored one, 51820, then any free port', () => {
    assert.deepEqual(listenPortCandidates(41000, 51821), [41000]);
    assert.deepEqual(listenPortCandidates(0, 51821), [0]);
    assert.deepEqual(listenPortCandidates(undefined, 51821), [51821, 51820, 0]);
    assert.deepEqual(listenPortCandidates(undefined, undefined), [51820, 0]);
    assert.deepEqual(listenPortCandidates(undefined, 51820), [51820, 0]);
  });

  test('EADDRINUSE is recognised through the cause chain the engine and tunnel wrap it in', () => {
    const bind = Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE' });
    const wrapped = new Error('cannot open the WireGuard UDP socket', {
      cause: new Error('WG_ERR_BIND', { cause: bind }),
    });
    assert.ok(isAddressInUse(wrapped));
    assert.ok(
      !isAddressInUse(new Error('EACCES', { cause: Object.assign(new Error(), { code: 'EACCES' }) })),
    );
  });
});

describe('rule option proxy-protocol', () => {
  test('parses and formats back; it is part of the rule', () => {
    const r = parseRule('ingress', 'tcp:80:nginx.demo.svc:8080,proxy-protocol=v2');
    assert.equal(r.proxyProtocol, 'v2');
    assert.deepEqual(r.destination, { host: 'nginx.demo.svc', port: 8080 });
    assert.equal(formatRule(r), 'tcp:80:nginx.demo.svc:8080,proxy-protocol=v2');
    assert.equal(parseRule('ingress', 'tcp:443:[fd00::1]:443,proxy-protocol=v1').proxyProtocol, 'v1');
    assert.equal(parseRule('ingress', 'tcp:80:a:80').proxyProtocol, undefined);
  });

  test('bad options name the option and what is expected', () => {
    const cases: [string, RegExp][] = [
      [
        'tcp:80:a:80,proxy-protocol=v3',
        /proxy-protocol=v3 is not a version; expected proxy-protocol=v1 or proxy-protocol=v2/,
      ],
      ['udp:53:a:53,proxy-protocol=v2', /proxy-protocol applies to tcp rules only/],
      ['tcp:80:a:80,proxy-protocol=v1,proxy-protocol=v2', /given twice/],
      ['tcp:80:a:80,tls', /unknown option "tls"; the only option is proxy-protocol=v1\|v2/],
      ['tcp:80:a:80,', /unknown option ""/],
    ];
    for (const [text, re] of cases) {
      assert.throws(
        () => parseRule('ingress', text),
        (e: unknown) => e instanceof RuleParseError && e.part === 'option' && re.test(e.message),
        text,
      );
    }
  });
});

describe('PROXY protocol header (haproxy proxy-protocol.txt)', () => {
  test('v1 TCP4 and TCP6 lines; an IPv4-mapped address is plain IPv4', () => {
    const v1 = (s: string, sp: number, d: string, dp: number) =>
      Buffer.from(proxyProtocolHeader('v1', { host: s, port: sp }, { host: d, port: dp })).toString('latin1');
    assert.equal(
      v1('100.100.0.2', 40000, '100.100.0.1', 80),
      'PROXY TCP4 100.100.0.2 100.100.0.1 40000 80\r\n',
    );
    assert.equal(v1('200::2', 40000, '200::1', 80), 'PROXY TCP6 200::2 200::1 40000 80\r\n');
    assert.equal(v1('::ffff:10.0.0.9', 1, '10.0.0.1', 2), 'PROXY TCP4 10.0.0.9 10.0.0.1 1 2\r\n');
    assert.equal(v1('10.0.0.9', 1, 'fd00::1', 2), 'PROXY UNKNOWN\r\n');
  });

  test('v2: signature, PROXY command, family/transport byte, length, then addresses and ports', () => {
    const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
    const h4 = Buffer.from(
      proxyProtocolHeader('v2', { host: '100.100.0.2', port: 0x9c40 }, { host: '100.100.0.1', port: 80 }),
    );
    assert.deepEqual(
      [...h4],
      [...SIG, 0x21, 0x11, 0x00, 12, 100, 100, 0, 2, 100, 100, 0, 1, 0x9c, 0x40, 0x00, 80],
    );
    const h6 = Buffer.from(
      proxyProtocolHeader('v2', { host: '200::2', port: 1 }, { host: '200::1', port: 2 }),
    );
    assert.deepEqual([...h6.subarray(12, 16)], [0x21, 0x21, 0x00, 36]);
    assert.deepEqual([...h6.subarray(16, 32)], [0x02, 0, ...Array(13).fill(0), 2]);
    assert.deepEqual([...h6.subarray(48)], [0, 1, 0, 2]);
    const local = Buffer.from(
      proxyProtocolHeader('v2', { host: '10.0.0.1', port: 1 }, { host: 'fd00::1', port: 2 }),
    );
    assert.deepEqual([...local.subarray(12)], [0x20, 0x00, 0x00, 0x00]);
  });
});
