// SPDX-License-Identifier: Apache-2.0
// Agent mode's parts that need no device: the preflight errors (no /dev/net/tun, not root, both also
// through the real CLI as an unprivileged user), the route table's ordering and reference counts, and
// the pinger's packets judged by the e2e suite's independent packet oracle (checksums, echo replies).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadBinding } from '@nexodus/native';
import { IpAddress } from '@nexodus/netstack';
import { pino } from 'pino';
import { echoReplyFor, parseEcho, parseIp } from '../../../test/e2e/lib/packets.js';
import { hostAddresses } from '../src/agent/agent-tunnel.js';
import { RouteTable } from '../src/agent/ip-link.js';
import { agentPreflight, tunOpenError } from '../src/agent/tun-device.js';
import type { NexdError } from '../src/errors.js';
import { buildEchoRequest, PING_PAYLOAD_SIZE, Pinger } from '../src/tunnel/pinger.js';
import { NEXD_CLI, nexdNodeFlags } from './harness/processes.js';

const silent = pino({ level: 'silent' });
const binding = loadBinding().binding;

describe('agent preflight: a clear error before anything is registered', () => {
  test('no /dev/net/tun: NEX_ERR_AGENT_NO_TUN says how to get it and offers nexd proxy', (t) => {
    if (!binding) return t.skip('native addon not built');
    assert.throws(
      () => agentPreflight({ tunPath: '/nonexistent/net/tun', getuid: () => 0, binding }),
      (e: NexdError) =>
        e.code === 'NEX_ERR_AGENT_NO_TUN' &&
        /\/nonexistent\/net\/tun is missing/.test(e.message) &&
        /modprobe tun/.test(e.message) &&
        /nexd proxy/.test(e.message),
    );
  });

  test('not root: NEX_ERR_AGENT_PRIVILEGES names the uid and the way out', (t) => {
    if (!binding) return t.skip('native addon not built');
    assert.throws(
      () => agentPreflight({ tunPath: '/dev/null', getuid: () => 1000, binding }),
      (e: NexdError) =>
        e.code === 'NEX_ERR_AGENT_PRIVILEGES' &&
        /uid 1000/.test(e.message) &&
        /CAP_NET_ADMIN/.test(e.message),
    );
  });

  test('TUNSETIFF errnos map to typed errors', () => {
    assert.equal(tunOpenError('wg0', 1).code, 'NEX_ERR_AGENT_PRIVILEGES');
    assert.equal(tunOpenError('wg0', 2).code, 'NEX_ERR_AGENT_NO_TUN');
    const busy = tunOpenError('wg0', 16);
    assert.equal(busy.code, 'NEX_ERR_AGENT_LINK');
    assert.match(busy.message, /ip link del wg0/);
  });

  test('the real nexd as an unprivileged user exits 1 with the privilege error', (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to switch to an unprivileged user');
    if (!binding) return t.skip('native addon not built');
    const dir = mkdtempSync(join(tmpdir(), 'nexd-agent-'));
    chmodSync(dir, 0o777);
    try {
      const r = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          ...nexdNodeFlags(),
          NEXD_CLI,
          '--state-dir',
          join(dir, 'state'),
          // Nothing listens here: the preflight must fail before any login is tried.
          'http://127.0.0.1:9',
        ],
        {
          encoding: 'utf8',
          timeout: 20_000,
          env: { ...process.env, NEXD_USERNAME: 'u', NEXD_PASSWORD: 'p' },
        },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /agent mode creates a network device and routes, which needs root/);
      assert.match(r.stderr, /uid 65534/);
      assert.doesNotMatch(r.stderr, /127\.0\.0\.1:9/, 'no login was attempted');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('the real nexd with /dev/net/tun hidden (tmpfs over /dev/net) exits 1 with NEX_ERR_AGENT_NO_TUN text', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root for a mount namespace');
  if (!binding) return t.skip('native addon not built');
  const dir = mkdtempSync(join(tmpdir(), 'nexd-agent-'));
  try {
    const nexd = [
      process.execPath,
      ...nexdNodeFlags(),
      NEXD_CLI,
      '--state-dir',
      join(dir, 's'),
      'http://127.0.0.1:9',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs none /dev/net && exec ${nexd}`], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, NEXD_USERNAME: 'u', NEXD_PASSWORD: 'p' },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /\/dev\/net\/tun is missing: agent mode needs the kernel's TUN driver/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('device addresses', () => {
  test('service mode: IPv4 as a /32, IPv6 keeps the VPC prefix (as the original nexd)', () => {
    assert.deepEqual(hostAddresses(['100.100.0.7/16', '200::7/64']), ['100.100.0.7/32', '200::7/64']);
  });
});

describe('RouteTable: peer allowed IPs as routes, in order, reference counted', () => {
  const recorder = () => {
    const calls: string[] = [];
    const failOn = new Set<string>();
    return {
      calls,
      failOn,
      ip: async (args: readonly string[]) => {
        calls.push(args.join(' '));
        if (failOn.has(args.join(' '))) throw new Error('RTNETLINK answers: File exists');
      },
    };
  };

  test('a peer added, changed and removed gives replace / del in that order', async () => {
    const r = recorder();
    const t = new RouteTable('wg0', silent, ['100.100.0.1/32'], r.ip);
    t.set('A', ['100.100.0.2/32', '200::2/128']);
    t.set('A', ['100.100.0.2/32', '10.0.0.0/24']);
    t.remove('A');
    await t.idle();
    assert.deepEqual(r.calls, [
      '-4 route replace 100.100.0.2/32 dev wg0',
      '-6 route replace 200::2/128 dev wg0',
      '-4 route replace 10.0.0.0/24 dev wg0',
      '-6 route del 200::2/128 dev wg0',
      '-4 route del 100.100.0.2/32 dev wg0',
      '-4 route del 10.0.0.0/24 dev wg0',
    ]);
    assert.deepEqual(t.routes(), []);
  });

  test('own addresses are never routed; a prefix two peers claim stays until both let go', async () => {
    const r = recorder();
    const t = new RouteTable('wg0', silent, ['100.100.0.1/32'], r.ip);
    t.set('A', ['100.100.0.1/32', '10.9.0.0/16']);
    t.set('B', ['10.9.0.0/16']);
    t.remove('A');
    await t.idle();
    assert.deepEqual(r.calls, ['-4 route replace 10.9.0.0/16 dev wg0']);
    assert.deepEqual(t.routes(), ['10.9.0.0/16']);
    t.remove('B');
    await t.idle();
    assert.equal(r.calls.at(-1), '-4 route del 10.9.0.0/16 dev wg0');
  });

  test('a failing route is counted and the rest still applies', async () => {
    const r = recorder();
    r.failOn.add('-4 route replace 10.1.0.0/16 dev wg0');
    const t = new RouteTable('wg0', silent, [], r.ip);
    t.set('A', ['10.1.0.0/16', '10.2.0.0/16']);
    await t.idle();
    assert.equal(t.failures, 1);
    assert.equal(r.calls.at(-1), '-4 route replace 10.2.0.0/16 dev wg0');
  });
});

describe('Pinger: echo requests into the engine, replies out of it', () => {
  const src4 = IpAddress.from('100.100.0.1');
  const dst4 = IpAddress.from('100.100.0.2');

  test('requests carry valid checksums (IPv4 and ICMPv6 with its pseudo-header)', () => {
    for (const [s, d] of [
      [src4, dst4],
      [IpAddress.from('200::1'), IpAddress.from('200::2')],
    ] as const) {
      const ip = parseIp(buildEchoRequest(s, d, 0x1234, 7));
      assert.equal(ip.src, s.toString());
      assert.equal(ip.dst, d.toString());
      const echo = parseEcho(ip);
      assert.equal(echo?.type, 'request');
      assert.equal(echo?.identifier, 0x1234);
      assert.equal(echo?.sequence, 7);
      assert.equal(echo?.data.length, PING_PAYLOAD_SIZE);
    }
  });

  test("the peer's reply is taken with an rtt; other packets pass on", async () => {
    const sent: Uint8Array[] = [];
    const pinger = new Pinger(
      (p) => {
        sent.push(p);
        return 'sent';
      },
      ['100.100.0.1/16', '200::1/64'],
    );
    const pending = pinger.ping('100.100.0.2', 5000);
    assert.equal(pinger.active, true);
    const reply = echoReplyFor(sent[0]!)!;
    // A reply with another sequence number (someone else's ping) is not ours.
    const other = echoReplyFor(buildEchoRequest(src4, dst4, 1, 999))!;
    assert.equal(pinger.intercept(other), false);
    assert.equal(pinger.intercept(sent[0]!), false, 'a request is never taken');
    assert.equal(pinger.intercept(reply), true);
    const r = await pending;
    assert.equal(r.address, '100.100.0.2');
    assert.ok(r.rttMs !== undefined && r.rttMs >= 0);
    assert.equal(pinger.active, false);
    assert.equal(pinger.intercept(reply), false, 'a duplicate reply passes on');
  });

  test('no route, no source address of the family, timeout and close each say so', async () => {
    const pinger = new Pinger(() => 'no-route', ['100.100.0.1/16']);
    assert.equal((await pinger.ping('100.100.0.9', 1000)).error, 'no-route');
    assert.equal((await pinger.ping('200::9', 1000)).error, 'no-source');
    const quiet = new Pinger(() => 'sent', ['100.100.0.1/16']);
    assert.equal((await quiet.ping('100.100.0.9', 20)).error, 'timeout');
    const open = quiet.ping('100.100.0.9', 5000);
    quiet.close();
    assert.equal((await open).error, 'closed');
    assert.throws(() => quiet.ping('not-an-ip', 10), TypeError);
  });
});
