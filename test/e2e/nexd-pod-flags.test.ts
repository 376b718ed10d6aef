// SPDX-License-Identifier: Apache-2.0
// The flags a pod needs, end to end on loopback with the real nexodus-server and real nginx: ingress rules
// with `,proxy-protocol=v1|v2` make nginx (`listen ... proxy_protocol`) see the remote device's VPC address;
// the WireGuard port is 51820 or the last one, kept in the state across restarts and never fatal when taken;
// --mtu and the underlay's MTU; --unix-socket for nexd and nexctl; --vpc-id registers into another VPC.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  freePort,
  httpGet,
  NexdProcess,
  nexctl,
  ServerProcess,
  stopAll,
  tempDir,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';
import { nginxServerConfig } from './lib/kernel-peer.js';
import { which } from './lib/root.js';

const skip = buildSkipReason() ?? (which('nginx') ? undefined : 'needs nginx (run scripts/install-deps.sh)');

/** nginx on 127.0.0.1:`port` that answers every request with the client address the PROXY header gave it. */
async function proxyProtocolNginx(port: number): Promise<{ close(): void }> {
  const dir = tempDir('ngx');
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    nginxServerConfig(
      dir,
      `    listen 127.0.0.1:${port} proxy_protocol;\n    return 200 "client=$proxy_protocol_addr port=$proxy_protocol_port\\n";`,
      { masterProcess: false },
    ),
  );
  const proc = spawn(which('nginx')!, ['-c', conf, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  await waitFor('nginx to listen', async () => {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    return up || undefined;
  });
  return { close: () => proc.kill('SIGTERM') };
}

function stateOf(stateDir: string): { listenPort?: number } {
  return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { listenPort?: number };
}

describe('nexd pod flags end to end (server, nginx with proxy_protocol, proxies on loopback)', {
  skip,
}, () => {
  let server: ServerProcess;
  let nginx: { close(): void };
  let a: NexdProcess;
  let b: NexdProcess;
  let socketPath: string;
  let aGlobals: string[];
  let aArgs: string[];
  const port: Record<string, number> = {};

  before(async () => {
    server = await ServerProcess.start();
    const nginxPort = await freePort();
    nginx = await proxyProtocolNginx(nginxPort);
    const aState = tempDir('a');
    socketPath = join(aState, 'control', 'ctl.sock');
    mkdirSync(join(aState, 'control'));
    aGlobals = ['--mtu', '1300', '--unix-socket', socketPath];
    aArgs = [
      'proxy',
      '--ingress',
      `tcp:8080:127.0.0.1:${nginxPort},proxy-protocol=v1`,
      '--ingress',
      `tcp:8081:127.0.0.1:${nginxPort},proxy-protocol=v2`,
      server.url,
    ];
    a = await NexdProcess.start({ tag: 'a', stateDir: aState, globals: aGlobals, args: aArgs });
    for (const k of ['v1', 'v2', 'v2six']) port[k] = await freePort();
    const { ipv4, ipv6 } = a.addresses;
    b = await NexdProcess.start({
      tag: 'b',
      args: [
        'proxy',
        '--egress',
        `tcp:${port.v1}:${ipv4}:8080`,
        '--egress',
        `tcp:${port.v2}:${ipv4}:8081`,
        '--egress',
        `tcp:${port.v2six}:[${ipv6}]:8081`,
        server.url,
      ],
    });
    await b.waitPeer(a.publicKey);
  });

  after(async () => {
    await stopAll();
    nginx?.close();
  });

  test("PROXY v1: nginx behind A's ingress sees B's VPC IPv4 address as the client", async () => {
    const r = await httpGet(`http://127.0.0.1:${port.v1}/`);
    assert.equal(r.status, 200);
    assert.match(r.body, new RegExp(`^client=${b.addresses.ipv4.replaceAll('.', '\\.')} port=\\d+\\n$`));
  });

  test("PROXY v2 over IPv4 and IPv6: the binary header carries B's VPC address of that family", async () => {
    assert.match(
      (await httpGet(`http://127.0.0.1:${port.v2}/`)).body,
      new RegExp(`^client=${b.addresses.ipv4}`),
    );
    assert.equal(
      (await httpGet(`http://127.0.0.1:${port.v2six}/`)).body.split(' ')[0],
      `client=${b.addresses.ipv6}`,
    );
  });

  test('--mtu is the tunnel MTU; without it the underlay interface decides (at most 1420)', () => {
    const mtuLine = (n: NexdProcess) => n.child.logs.find((l) => l.msg === `tunnel MTU ${l.mtu}`);
    assert.deepEqual([mtuLine(a)?.mtu, mtuLine(a)?.why], [1300, '--mtu']);
    const bLine = mtuLine(b);
    assert.ok(
      bLine && typeof bLine.mtu === 'number' && bLine.mtu >= 1280 && bLine.mtu <= 1420,
      JSON.stringify(bLine),
    );
  });

  test('--unix-socket: nexd listens there, nexctl --unix-socket reaches it and lists the rule options', async () => {
    const r = await nexctl(['--unix-socket', socketPath, '-o', 'json', 'nexd', 'proxy', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const rules = (JSON.parse(r.stdout) as { rule: string }[]).map((x) => x.rule);
    assert.ok(
      rules.some((x) => x.endsWith(',proxy-protocol=v1')),
      r.stdout,
    );
    const env = await nexctl(['-o', 'json', 'nexd', 'status'], { NEXD_UNIX_SOCKET: socketPath });
    assert.equal(env.code, 0, env.stderr);
  });

  test('the WireGuard port is kept in the state and reused after a restart', async () => {
    const first = stateOf(a.stateDir).listenPort;
    assert.ok(first !== undefined && first > 0, 'A stored its port');
    await a.stop();
    // A first start binds 51820, which another test's nexd running meanwhile may take while A is down (then
    // A rightly moves on, see the next test): the restart is made to reuse a port nobody else asks for.
    const stored = await freePort('udp');
    const file = join(a.stateDir, 'state.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), listenPort: stored }));
    a = await NexdProcess.start({ tag: 'a', stateDir: a.stateDir, globals: aGlobals, args: aArgs });
    assert.equal(stateOf(a.stateDir).listenPort, stored);
    assert.ok(
      a.child.logs.some((l) => l.port === stored),
      'the socket is bound to the stored port',
    );
    const r = await waitFor('B to reach the restarted A', async () => {
      const got = await httpGet(`http://127.0.0.1:${port.v1}/`, 3000).catch(() => undefined);
      return got?.status === 200 ? got : undefined;
    });
    assert.match(r.body, /^client=/);
  });

  test('a stored port that is taken is not fatal: nexd warns and binds another, and stores that', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '0.0.0.0', resolve));
    const taken = holder.address().port;
    const dir = tempDir('c');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: 1, proxyRules: [], listenPort: taken }));
    try {
      const c = await NexdProcess.start({ tag: 'c', stateDir: dir, args: ['proxy', server.url] });
      assert.ok(
        c.child.logs.some(
          (l) => l.msg === `UDP port ${taken} is in use; trying port 51820 (--listen-port fixes the port)`,
        ),
      );
      const now = stateOf(dir).listenPort;
      assert.ok(now !== undefined && now !== taken, `stored ${now}`);
      await c.stop();
    } finally {
      holder.close();
    }
  });

  test('--vpc-id registers into that VPC: the device is there and not a peer of the default VPC', async () => {
    const tokens = await new OAuthClient({ baseUrl: server.url }).passwordGrant('admin', ADMIN_PASSWORD);
    const api = new NexodusClient({ baseUrl: server.url, token: tokens.access_token });
    const org = (await api.listOrganizations())[0]!;
    const vpc = await api.createVpc({
      organization_id: org.id,
      description: 'pod flags',
      ipv4_cidr: '100.64.0.0/24',
    });
    const d = await NexdProcess.start({
      tag: 'd',
      globals: ['--vpc-id', vpc.id],
      args: ['proxy', server.url],
    });
    assert.match(d.addresses.ipv4, /^100\.64\.0\.\d+$/);
    const inVpc = await api.listDevicesInVpc(vpc.id);
    assert.deepEqual(
      inVpc.map((x) => x.public_key),
      [d.publicKey],
    );
    await d.stop();
    await api.close();
  });
});
