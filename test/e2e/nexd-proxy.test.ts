// SPDX-License-Identifier: Apache-2.0
// `nexd proxy` end to end, unprivileged, on loopback: the real nexodus-server and two (later three)
// nexd processes joined through our WireGuard engine and netstack. A exposes local backends with
// ingress rules, B reaches them through egress rules at A's VPC addresses (the scenario's demo 3).
// The steps share one VPC and run in order; each asserts what it changed.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  freePort,
  httpBackend,
  httpGet,
  NexdProcess,
  nexctl,
  ServerProcess,
  sleep,
  stopAll,
  tcpEcho,
  udpEcho,
  udpRequest,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();

/** `nexctl nexd proxy add|remove --ingress|--egress <rule>` against the nexd at `stateDir`; asserts it succeeded. */
async function nexctlProxy(
  stateDir: string,
  verb: 'add' | 'remove',
  flag: '--ingress' | '--egress',
  rule: string,
): Promise<void> {
  const r = await nexctl(['--state-dir', stateDir, 'nexd', 'proxy', verb, flag, rule]);
  assert.equal(r.code, 0, `nexctl nexd proxy ${verb} ${flag} ${rule}: ${r.stderr}`);
}

describe('nexd proxy end to end (server + two proxies on loopback)', { skip }, () => {
  let server: ServerProcess;
  let a: NexdProcess;
  let b: NexdProcess;
  type Backend = { port: number; close(): Promise<void> };
  const backends: Backend[] = [];
  let web1: Backend;
  let web2: Backend;
  let echo: Backend;
  let udp: Backend;
  // B's local (egress) ports
  const port: Record<string, number> = {};
  let aArgs: string[];
  let healthPort: number;
  const metric = async (name: string) => {
    const body = (await httpGet(`http://127.0.0.1:${healthPort}/metrics`)).body;
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(body);
    return m ? Number(m[1]) : Number.NaN;
  };

  before(async () => {
    server = await ServerProcess.start();
    web1 = await httpBackend('Hello from backend-1\n');
    web2 = await httpBackend('Hello from backend-2\n');
    echo = await tcpEcho();
    udp = await udpEcho('echo:');
    backends.push(web1, web2, echo, udp);
    aArgs = [
      'proxy',
      '--ingress',
      `tcp:8080:127.0.0.1:${web1.port}`,
      '--ingress',
      `tcp:8081:127.0.0.1:${web1.port}`,
      '--ingress',
      `tcp:8081:127.0.0.1:${web2.port}`,
      '--ingress',
      `tcp:7000:127.0.0.1:${echo.port}`,
      '--ingress',
      `udp:7007:127.0.0.1:${udp.port}`,
      server.url,
    ];
    // The scenario's first form: --service-url before the subcommand ... here the positional form.
    a = await NexdProcess.start({ tag: 'a', args: aArgs });
    const { ipv4, ipv6 } = a.addresses;
    for (const k of ['v4', 'v6', 'rr', 'echo', 'udp', 'udp6', 'runtime'])
      port[k] = await freePort(k.startsWith('udp') ? 'udp' : 'tcp');
    healthPort = await freePort();
    b = await NexdProcess.start({
      tag: 'b',
      globals: ['--service-url', server.url, '--health-addr', `127.0.0.1:${healthPort}`],
      args: [
        'proxy',
        '--egress',
        `tcp:${port.v4}:${ipv4}:8080`,
        '--egress',
        `tcp:${port.v6}:[${ipv6}]:8080`,
        '--egress',
        `tcp:${port.rr}:${ipv4}:8081`,
        '--egress',
        `tcp:${port.echo}:${ipv4}:7000`,
        '--egress',
        `udp:${port.udp}:${ipv4}:7007`,
        '--egress',
        `udp:${port.udp6}:[${ipv6}]:7007`,
      ],
    });
    await b.waitPeer(a.publicKey);
  });

  after(async () => {
    await stopAll();
    for (const s of backends) await s.close().catch(() => {});
  });

  test('A logs the scenario assignment line with real VPC addresses; B gets the next ones', () => {
    assert.match(a.addresses.ipv4, /^100\.100\.\d+\.\d+$/);
    assert.match(a.addresses.ipv6, /^200::[0-9a-f]+$/);
    assert.notEqual(a.addresses.ipv4, b.addresses.ipv4);
  });

  test("TCP over IPv4: a GET to B's egress port returns A's backend page", async () => {
    const r = await httpGet(`http://127.0.0.1:${port.v4}/`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'Hello from backend-1\n');
  });

  test("TCP over IPv6: the egress rule to [A's IPv6]:8080 returns the same page", async () => {
    const r = await httpGet(`http://127.0.0.1:${port.v6}/`);
    assert.equal(r.body, 'Hello from backend-1\n');
  });

  test("UDP: a datagram to B's egress port is echoed by A's backend", async () => {
    assert.equal(await udpRequest(port.udp, 'ping-1'), 'echo:ping-1');
    assert.equal(await udpRequest(port.udp, 'ping-2'), 'echo:ping-2');
    assert.equal(await udpRequest(port.udp6, 'ping-v6'), 'echo:ping-v6', "and through A's IPv6 address");
  });

  test('two ingress rules on one port alternate between the two backends', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await httpGet(`http://127.0.0.1:${port.rr}/`)).body.trim());
    assert.deepEqual(new Set(bodies), new Set(['Hello from backend-1', 'Hello from backend-2']));
    assert.notEqual(bodies[0], bodies[1]);
    assert.equal(bodies[0], bodies[2]);
    assert.equal(bodies[1], bodies[3]);
  });

  test('A and B see each other as peers with a completed handshake (nexctl nexd peers)', async () => {
    const r = await nexctl(['--state-dir', b.stateDir, '-o', 'json', 'nexd', 'peers']);
    assert.equal(r.code, 0, r.stderr);
    const peers = JSON.parse(r.stdout) as {
      publicKey: string;
      allowedIps: string[];
      latestHandshake?: string;
    }[];
    const pa = peers.find((p) => p.publicKey === a.publicKey);
    assert.ok(pa, 'A is a peer of B');
    assert.deepEqual([...pa.allowedIps].sort(), [`${a.addresses.ipv4}/32`, `${a.addresses.ipv6}/128`].sort());
    assert.ok(pa.latestHandshake, 'handshake completed');
    assert.ok((await metric('nexd_wireguard_handshakes_total')) >= 1);
    assert.equal(await metric('nexd_peers'), 1);
    assert.equal(await metric('nexd_stream_reconnects_total'), 0);
  });

  test('runtime rules: nexctl adds an ingress on A and an egress on B; removing the ingress closes it', async () => {
    await nexctlProxy(a.stateDir, 'add', '--ingress', `tcp:8082:127.0.0.1:${web2.port}`);
    await nexctlProxy(b.stateDir, 'add', '--egress', `tcp:${port.runtime}:${a.addresses.ipv4}:8082`);
    assert.equal((await httpGet(`http://127.0.0.1:${port.runtime}/`)).body, 'Hello from backend-2\n');
    await nexctlProxy(a.stateDir, 'remove', '--ingress', `tcp:8082:127.0.0.1:${web2.port}`);
    // The tunnel listener on 8082 is gone: A's netstack resets the SYN, B resets its client.
    await assert.rejects(httpGet(`http://127.0.0.1:${port.runtime}/`, 5000));
    await nexctlProxy(a.stateDir, 'add', '--ingress', `tcp:8082:127.0.0.1:${web2.port}`);
    assert.equal((await httpGet(`http://127.0.0.1:${port.runtime}/`)).body, 'Hello from backend-2\n');
  });

  test("an ingress destination given as a DNS name (like the scenario's Service names) is resolved and reached", async () => {
    // Listen on every address so whichever of 127.0.0.1 / ::1 "localhost" resolves to is served.
    const dual = http.createServer((_q, r) => r.end('Hello from a named backend\n'));
    await new Promise<void>((r) => dual.listen(0, '::', () => r()));
    const dualPort = (dual.address() as net.AddressInfo).port;
    try {
      await nexctlProxy(a.stateDir, 'add', '--ingress', `tcp:8085:localhost:${dualPort}`);
      const local = await freePort();
      await nexctlProxy(b.stateDir, 'add', '--egress', `tcp:${local}:${a.addresses.ipv4}:8085`);
      assert.equal((await httpGet(`http://127.0.0.1:${local}/`)).body, 'Hello from a named backend\n');
      await nexctlProxy(a.stateDir, 'remove', '--ingress', `tcp:8085:localhost:${dualPort}`);
      await nexctlProxy(b.stateDir, 'remove', '--egress', `tcp:${local}:${a.addresses.ipv4}:8085`);
    } finally {
      dual.closeAllConnections();
      await new Promise<void>((r) => dual.close(() => r()));
    }
  });

  test('restart A: same VPC address, same device, runtime rule restored, B follows its new endpoint', async () => {
    const before4 = a.addresses.ipv4;
    const stateDir = a.stateDir;
    const stopped = await a.stop();
    assert.equal(stopped.code, 0);
    a = await NexdProcess.start({ tag: 'a', stateDir, args: aArgs });
    assert.equal(a.addresses.ipv4, before4);
    assert.ok(a.child.logs.some((l) => l.msg === 'device already registered; updated'));
    const list = await nexctl(['--state-dir', a.stateDir, '-o', 'json', 'nexd', 'proxy', 'list']);
    const rules = JSON.parse(list.stdout) as { rule: string; origin: string }[];
    assert.ok(rules.some((r) => r.rule === `tcp:8082:127.0.0.1:${web2.port}` && r.origin === 'runtime'));
    // A listens on a new UDP port; B learns it from the watch stream and reaches the restored rule.
    const r = await waitFor('B reaches the restarted A', async () => {
      const res = await httpGet(`http://127.0.0.1:${port.runtime}/`, 3000).catch(() => undefined);
      return res?.body;
    });
    assert.equal(r, 'Hello from backend-2\n');
  });

  test('service down for 10 s: an open tunnel connection keeps working; afterwards a new device is reachable', async () => {
    const sock = net.connect(port.echo, '127.0.0.1');
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    let received = '';
    sock.on('data', (d) => {
      received += d.toString();
    });
    const roundTrip = async (msg: string) => {
      const want = received.length + msg.length;
      sock.write(msg);
      await waitFor(`echo of ${msg}`, () => received.length >= want, 5000);
      assert.ok(received.endsWith(msg));
    };
    await roundTrip('before;');
    await server.stop();
    const downSince = Date.now();
    let i = 0;
    // One round trip per second on a fixed grid (not round trip + 1 s): on a loaded machine slow round
    // trips would otherwise stretch the period and leave fewer than 8 inside the 10 s outage.
    while (Date.now() - downSince < 10_000) {
      await roundTrip(`down-${i++};`);
      await sleep(Math.max(0, downSince + i * 1000 - Date.now()));
    }
    assert.ok(i >= 8);
    await server.start();
    await roundTrip('after;');
    sock.destroy();
    // A new device C, registered after the outage, must be reachable from A's side: C egresses to A.
    const cPort = await freePort();
    const c = await NexdProcess.start({
      tag: 'c',
      args: ['proxy', '--egress', `tcp:${cPort}:${a.addresses.ipv4}:8080`, server.url],
    });
    // A's stream reconnected (after backoff) and adds C as a peer.
    await a.waitPeer(c.publicKey, 40_000);
    assert.equal((await httpGet(`http://127.0.0.1:${cPort}/`)).body, 'Hello from backend-1\n');
    const metrics = a.child.logs.filter((l) => String(l.msg).startsWith('VPC watch stream lost'));
    assert.ok(metrics.length >= 1, 'A noticed the outage and reconnected');
    assert.ok((await metric('nexd_stream_reconnects_total')) >= 1, 'B counted its reconnects');

    // A device deleted through the API disappears from its peers.
    const oauth = new OAuthClient({ baseUrl: server.url });
    const tokens = await oauth.passwordGrant('admin', ADMIN_PASSWORD);
    const api = new NexodusClient({ baseUrl: server.url, token: tokens.access_token });
    const devices = await api.listDevices();
    const cDevice = devices.find((d) => d.public_key === c.publicKey);
    assert.ok(cDevice);
    await api.deleteDevice(cDevice.id);
    await a.child.waitLog('peer remove of C', (l) => l.msg === 'peer remove' && l.publicKey === c.publicKey);
    const peers = await nexctl(['--state-dir', a.stateDir, '-o', 'json', 'nexd', 'peers']);
    const keys = (JSON.parse(peers.stdout) as { publicKey: string }[]).map((p) => p.publicKey);
    assert.ok(!keys.includes(c.publicKey), 'C is no longer a peer of A');
    assert.ok(keys.includes(b.publicKey), 'B still is');
    await api.close();
    await oauth.close();
    await c.stop();
  });
});
