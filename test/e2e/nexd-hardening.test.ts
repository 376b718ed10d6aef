// SPDX-License-Identifier: Apache-2.0
// nexd faults from the adversarial review (issue 16, items 11-16), each end to end against the real
// server and real nexd processes on loopback.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  freePort,
  httpBackend,
  httpGet,
  NexdProcess,
  nexctl,
  nexdRun,
  ServerProcess,
  stopAll,
  tcpEcho,
  tempDir,
  udpEcho,
  udpRequest,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();

describe('a proxy reaches its own VPC address (item 11)', { skip }, () => {
  after(() => stopAll());

  test('curl -> egress -> own ingress -> local server, over IPv4 and IPv6', async () => {
    const server = await ServerProcess.start();
    const web = await httpBackend('Hello from myself\n');
    try {
      const a = await NexdProcess.start({
        tag: 'self',
        args: ['proxy', '--ingress', `tcp:80:127.0.0.1:${web.port}`, server.url],
      });
      const { ipv4, ipv6 } = a.addresses;
      const p4 = await freePort();
      const p6 = await freePort();
      for (const rule of [`tcp:${p4}:${ipv4}:80`, `tcp:${p6}:[${ipv6}]:80`]) {
        const r = await nexctl(['--state-dir', a.stateDir, 'nexd', 'proxy', 'add', '--egress', rule]);
        assert.equal(r.code, 0, r.stderr);
      }
      for (const port of [p4, p6]) {
        const r = await httpGet(`http://127.0.0.1:${port}/`, 5000);
        assert.equal(r.status, 200);
        assert.equal(r.body, 'Hello from myself\n');
      }
    } finally {
      await web.close();
    }
  });
});

describe('the service unreachable at start (item 13)', { skip }, () => {
  after(() => stopAll());

  const readyz = async (port: number) =>
    (await httpGet(`http://127.0.0.1:${port}/readyz`, 2000).catch(() => ({ status: 0 }))).status;
  const retries = (n: NexdProcess) =>
    n.child.logs.filter((l) => /the service is not reachable yet; retrying/.test(String(l.msg))).length;

  test('first start: nexd retries with backoff, not ready but alive, then registers once the server is up', async () => {
    const server = await ServerProcess.start();
    await server.stop();
    const health = await freePort();
    const n = await NexdProcess.start({
      tag: 'late',
      globals: ['--health-addr', `127.0.0.1:${health}`],
      args: ['proxy', server.url],
      wait: false,
    });
    await n.child.waitOutput('two logged retries', () => (retries(n) >= 2 ? true : undefined));
    assert.ok(n.child.running, 'nexd did not exit');
    assert.equal((await httpGet(`http://127.0.0.1:${health}/healthz`)).status, 200, 'alive');
    assert.equal(await readyz(health), 503, 'not ready');
    await server.start();
    await n.running();
    await waitFor('ready', async () => ((await readyz(health)) === 200 ? true : undefined), 20_000);
  });

  test('restart with saved peers: the data plane serves at once while the service is down, ready once it is back', async () => {
    const server = await ServerProcess.start();
    const web = await httpBackend('served from saved peers\n');
    try {
      const a = await NexdProcess.start({
        tag: 'sva',
        args: ['proxy', '--ingress', `tcp:80:127.0.0.1:${web.port}`, server.url],
      });
      const egress = await freePort();
      const health = await freePort();
      const bArgs = {
        tag: 'svb',
        globals: ['--health-addr', `127.0.0.1:${health}`],
        args: ['proxy', '--egress', `tcp:${egress}:${a.addresses.ipv4}:80`, server.url],
      };
      const b = await NexdProcess.start(bArgs);
      await b.waitPeer(a.publicKey);
      assert.equal((await httpGet(`http://127.0.0.1:${egress}/`)).body, 'served from saved peers\n');
      await b.stop();
      // A graceful stop stores the peer list applied last, even when its write was still in flight.
      const stored = JSON.parse(readFileSync(join(b.stateDir, 'state.json'), 'utf8'));
      assert.deepEqual(
        stored.network.peers.map((p: { publicKey: string }) => p.publicKey),
        [a.publicKey],
      );
      await server.stop();
      const b2 = await NexdProcess.start({ ...bArgs, stateDir: b.stateDir });
      assert.ok(b2.child.logs.some((l) => /peers saved at the last run/.test(String(l.msg))));
      const r = await waitFor('a GET through the saved peer', () =>
        httpGet(`http://127.0.0.1:${egress}/`, 3000),
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\nA: ${a.publicKey}\nB:\n${b2.child.stdout}`);
      });
      assert.equal(r.body, 'served from saved peers\n');
      assert.ok(retries(b2) >= 1, 'the registration is being retried');
      assert.equal(await readyz(health), 503, 'not ready while the service is down');
      await server.start();
      await waitFor('ready', async () => ((await readyz(health)) === 200 ? true : undefined), 30_000);
    } finally {
      await web.close();
    }
  });
});

describe('control socket clients that half-close (item 14)', { skip }, () => {
  after(() => stopAll());

  test('proxy.add then FIN: the answer arrives, the rule is active; proxy.remove likewise', async () => {
    const server = await ServerProcess.start();
    const n = await NexdProcess.start({ tag: 'hcl', args: ['proxy', server.url] });
    const port = await freePort();
    const call = (method: string) =>
      new Promise<string>((resolve, reject) => {
        const c = net.connect({ path: join(n.stateDir, 'nexd.sock'), allowHalfOpen: true });
        let got = '';
        c.setEncoding('utf8');
        c.on('data', (d: string) => {
          got += d;
        });
        c.on('end', () => {
          c.end();
          resolve(got);
        });
        c.on('error', reject);
        c.on('connect', () =>
          c.end(`${JSON.stringify({ id: 7, method, params: { egress: [`tcp:${port}:100.100.9.9:80`] } })}\n`),
        );
      });
    const added = JSON.parse(await call('proxy.add')) as { id: number; result?: unknown };
    assert.deepEqual(added, {
      id: 7,
      result: { added: [{ type: 'egress', rule: `tcp:${port}:100.100.9.9:80` }] },
    });
    const list = await nexctl(['--state-dir', n.stateDir, 'nexd', 'proxy', 'list', '-o', 'json']);
    assert.match(list.stdout, new RegExp(`tcp:${port}:100\\.100\\.9\\.9:80`));
    const removed = JSON.parse(await call('proxy.remove')) as { id: number; result?: unknown };
    assert.deepEqual(removed, {
      id: 7,
      result: { removed: [{ type: 'egress', rule: `tcp:${port}:100.100.9.9:80` }] },
    });
  });
});

describe('a restarted nexd gets the first datagram sent to it once ready (item 12)', { skip }, () => {
  after(() => stopAll());

  test('restart the lower key, then the higher key: the first UDP datagram after /readyz 200 arrives', async () => {
    const server = await ServerProcess.start();
    type Side = {
      n: NexdProcess;
      health: number;
      egress: number;
      echo: { port: number; close(): Promise<void> };
    };
    const start = async (tag: string, stateDir?: string, old?: Side): Promise<Side> => {
      const echo = old?.echo ?? (await udpEcho(`${tag}:`));
      const health = old?.health ?? (await freePort());
      const n = await NexdProcess.start({
        tag,
        ...(stateDir ? { stateDir } : {}),
        globals: ['--health-addr', `127.0.0.1:${health}`],
        args: ['proxy', '--ingress', `udp:7000:127.0.0.1:${echo.port}`, server.url],
      });
      return { n, health, echo, egress: old?.egress ?? (await freePort('udp')) };
    };
    const ready = (s: Side) =>
      waitFor(
        `${s.n.publicKey} ready`,
        async () =>
          (await httpGet(`http://127.0.0.1:${s.health}/readyz`, 1000).catch(() => undefined))?.status === 200,
        30_000,
      );
    let x = await start('rsx');
    let y = await start('rsy');
    try {
      // Each reaches the other's UDP echo through an egress rule (stored, so it survives the restart).
      for (const [from, to] of [
        [x, y],
        [y, x],
      ] as const) {
        const r = await nexctl([
          '--state-dir',
          from.n.stateDir,
          'nexd',
          'proxy',
          'add',
          '--egress',
          `udp:${from.egress}:${to.n.addresses.ipv4}:7000`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      await ready(x);
      await ready(y);
      assert.equal(await waitFor('x -> y', () => udpRequest(x.egress, 'hi', 2000)), 'rsy:hi');
      assert.equal(await waitFor('y -> x', () => udpRequest(y.egress, 'hi', 2000)), 'rsx:hi');
      const lowerFirst = x.n.publicKey < y.n.publicKey ? ['x', 'y'] : ['y', 'x'];
      for (const which of lowerFirst) {
        const restarted = which === 'x' ? x : y;
        const other = which === 'x' ? y : x;
        await restarted.n.stop();
        const again = await start(`rs${which}`, restarted.n.stateDir, restarted);
        if (which === 'x') x = again;
        else y = again;
        await ready(again);
        // One datagram, no retry: it must not be encrypted for the session the restart threw away.
        const key = again.n.publicKey < other.n.publicKey ? 'lower' : 'higher';
        assert.equal(
          await udpRequest(other.egress, `first-${which}`, 3000).catch((e: unknown) => String(e)),
          `rs${which}:first-${which}`,
          `the first datagram to the restarted ${key}-key nexd`,
        );
      }
    } finally {
      await x.echo.close();
      await y.echo.close();
    }
  });
});

describe('CLI polish (item 15)', { skip }, () => {
  after(() => stopAll());

  test('a fatal error is printed once: one plain line on stderr, no JSON copy on stdout', async () => {
    const dir = tempDir('fatal');
    writeFileSync(join(dir, 'state.json'), '{ not json', { mode: 0o600 });
    const r = await nexdRun(['--state-dir', dir, 'proxy', 'http://127.0.0.1:1']);
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^nexd: .*state\.json/);
    assert.doesNotMatch(r.stdout, /state\.json/, 'not also as a log line');
  });

  test('nexd prxy suggests proxy; exit 2', async () => {
    const r = await nexdRun(['prxy']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /did you mean proxy\?/);
  });
});

describe('security groups enforced in proxy mode (item 16)', { skip }, () => {
  after(() => stopAll());

  /** Opens a connection to 127.0.0.1:port, sends `hello` and waits for the echo; resolves with the socket. */
  const echoConnection = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      c.setEncoding('utf8');
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before the echo')));
      c.once('data', () => {
        c.removeAllListeners('close');
        c.removeAllListeners('error');
        resolve(c);
      });
      c.write('hello');
    });

  test('two devices in different groups: inbound by source, protocol and port; outbound; live changes', async () => {
    const server = await ServerProcess.start();
    const web = await httpBackend('web\n');
    const echo = await tcpEcho();
    const udp = await udpEcho('u:');
    try {
      const a = await NexdProcess.start({
        tag: 'sga',
        args: [
          'proxy',
          '--ingress',
          `tcp:80:127.0.0.1:${web.port}`,
          '--ingress',
          `tcp:7000:127.0.0.1:${echo.port}`,
          '--ingress',
          `udp:7007:127.0.0.1:${udp.port}`,
          server.url,
        ],
      });
      const aIp = a.addresses.ipv4;
      const port = {
        web: await freePort(),
        echo: await freePort(),
        udp: await freePort('udp'),
        cweb: await freePort(),
      };
      const b = await NexdProcess.start({
        tag: 'sgb',
        args: [
          'proxy',
          '--egress',
          `tcp:${port.web}:${aIp}:80`,
          '--egress',
          `tcp:${port.echo}:${aIp}:7000`,
          '--egress',
          `udp:${port.udp}:${aIp}:7007`,
          server.url,
        ],
      });
      const c = await NexdProcess.start({
        tag: 'sgc',
        args: ['proxy', '--egress', `tcp:${port.cweb}:${aIp}:80`, server.url],
      });
      await b.waitPeer(a.publicKey);
      await c.waitPeer(a.publicKey);
      const tokens = await new OAuthClient({ baseUrl: server.url }).passwordGrant('admin', ADMIN_PASSWORD);
      const api = new NexodusClient({ baseUrl: server.url, token: tokens.access_token });
      const devices = await api.listDevices();
      const idOf = (n: NexdProcess) => devices.find((d) => d.public_key === n.publicKey)!.id;
      const vpcId = devices[0]!.vpc_id;
      const bIp = b.addresses.ipv4;

      // Everything passes under the default group.
      assert.equal(
        (await waitFor('B -> A web', () => httpGet(`http://127.0.0.1:${port.web}/`, 3000))).body,
        'web\n',
      );
      const open = await waitFor('B -> A echo', () => echoConnection(port.echo).catch(() => undefined));

      // A's group: TCP 80 and 7000 from B's address only; no UDP.
      const groupA = await api.createSecurityGroup({
        vpc_id: vpcId,
        description: 'A',
        inbound_rules: [
          { ip_protocol: 'tcp', from_port: 80, to_port: 80, ip_ranges: [`${bIp}/32`] },
          { ip_protocol: 'tcp', from_port: 7000, to_port: 7000, ip_ranges: [bIp] },
        ],
      });
      await api.updateDevice(idOf(a), { security_group_id: groupA.id });
      await a.child.waitLog(
        'A applies its group',
        (l) => l.msg === 'security group applied' && l.securityGroupId === groupA.id,
      );
      assert.equal((await httpGet(`http://127.0.0.1:${port.web}/`)).body, 'web\n', 'B is permitted');
      await assert.rejects(httpGet(`http://127.0.0.1:${port.cweb}/`, 5000), 'C is refused (reset)');
      await assert.rejects(udpRequest(port.udp, 'x', 1500), 'UDP is dropped');
      assert.ok(!open.destroyed, 'the open connection from B is still permitted');

      // Changing A's group applies without a restart: C and UDP are permitted, B loses port 7000 and its
      // open connection is closed.
      const closed = new Promise<void>((r) => open.once('close', () => r()));
      open.on('error', () => {});
      await api.updateSecurityGroup(groupA.id, {
        inbound_rules: [
          { ip_protocol: 'tcp', from_port: 80, to_port: 80 },
          { ip_protocol: 'udp', from_port: 7007, to_port: 7007, ip_ranges: ['100.100.0.0/16'] },
        ],
      });
      assert.equal(
        (await waitFor('C permitted', () => httpGet(`http://127.0.0.1:${port.cweb}/`, 2000))).body,
        'web\n',
      );
      assert.equal(await waitFor('UDP permitted', () => udpRequest(port.udp, 'y', 1500)), 'u:y');
      await closed;
      await assert.rejects(echoConnection(port.echo), 'port 7000 is no longer permitted');

      // B's own group, outbound: only UDP; its TCP egress dials are refused by B itself.
      const groupB = await api.createSecurityGroup({
        vpc_id: vpcId,
        description: 'B',
        outbound_rules: [{ ip_protocol: 'udp' }],
      });
      await api.updateDevice(idOf(b), { security_group_id: groupB.id });
      await b.child.waitLog(
        'B applies its group',
        (l) => l.msg === 'security group applied' && l.securityGroupId === groupB.id,
      );
      await assert.rejects(httpGet(`http://127.0.0.1:${port.web}/`, 5000), 'B may not dial TCP');
      assert.equal(await udpRequest(port.udp, 'z', 3000), 'u:z', 'B may send UDP');
      await b.child.waitLog(
        'a dial failure with the security group code',
        (l) => l.err === 'NEX_ERR_SECURITY_GROUP',
      );
    } finally {
      await web.close();
      await echo.close();
      await udp.close();
    }
  });
});
