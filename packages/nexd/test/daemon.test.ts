// SPDX-License-Identifier: Apache-2.0
// The daemon with a loopback data plane: rules from flags, the control socket (add/remove/list/status/
// peers/version), persistence across a restart, and the health server.
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { GlobalConfig } from '../src/config.js';
import { ControlCallError, ControlClient } from '../src/control/client.js';
import { CONTROL_MAX_LINE, controlSocketPath } from '../src/control/protocol.js';
import { type Daemon, startDaemon } from '../src/daemon.js';
import { parseRule } from '../src/proxy/rules.js';
import { FileStateStore } from '../src/state/file-store.js';
import {
  LOCAL_HOST,
  loopbackDataPlane,
  loopbackSide,
  SAMPLE_PEERS,
  TUNNEL_HOST,
} from './fixtures/loopback-data-plane.js';
import { captureLogs, freePort, type TcpEcho, tcpEcho, tcpRoundTrip, tempDir } from './helpers.js';

let dir: { path: string; remove(): Promise<void> };
let echo: TcpEcho;
const running: Daemon[] = [];
const clients: ControlClient[] = [];

beforeEach(async () => {
  dir = await tempDir();
  echo = await tcpEcho('E');
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const d of running.splice(0)) await d.stop(0).catch(() => {});
  await echo.close();
  await dir.remove();
});

function config(extra: Partial<GlobalConfig> = {}): GlobalConfig {
  return {
    stateDir: join(dir.path, 'state'),
    insecureSkipTlsVerify: false,
    logLevel: 'info',
    drainSeconds: 0,
    serviceUrl: 'http://127.0.0.1:1',
    ...extra,
  };
}

async function start(rules: string[] = [], extra: Partial<GlobalConfig> = {}, ready = true) {
  const logs = captureLogs();
  const d = await startDaemon({
    config: config(extra),
    rules: rules.map((r) => parseRule(r.split(' ')[0] as 'ingress' | 'egress', r.split(' ')[1])),
    logger: logs.logger,
    store: new FileStateStore(join(dir.path, 'state')),
    dataPlane: loopbackDataPlane({ ready }),
    local: loopbackSide(LOCAL_HOST),
    keyLocations: { mountedPrivateKey: join(dir.path, 'none.key') },
  });
  running.push(d);
  return { d, logs };
}

async function client(): Promise<ControlClient> {
  const c = await ControlClient.connect(controlSocketPath(join(dir.path, 'state')));
  clients.push(c);
  return c;
}

describe('daemon', () => {
  test('flag rules work at start and the address line is logged', async () => {
    const port = await freePort();
    const { logs } = await start([`ingress tcp:${port}:127.0.0.1:${echo.port}`]);
    assert.equal((await tcpRoundTrip(port, 'hi', TUNNEL_HOST)).toString(), 'E:hi');
    assert.ok(
      logs.lines.some(
        (l) =>
          l.msg === 'New local Wireguard interface addresses assigned IPv4 [ 100.100.0.1 ] IPv6 [ 200::1 ]',
      ),
    );
  });

  test('control: version, status, peers', async () => {
    const { d } = await start();
    const c = await client();
    assert.match((await c.call('version')).version, /^\d+\.\d+\.\d+/);
    const status = await c.call('status');
    assert.equal(status.publicKey, d.keys.publicKey);
    assert.deepEqual(status.addresses, { ipv4: ['100.100.0.1'], ipv6: ['200::1'] });
    assert.equal(status.ready, true);
    assert.equal(status.mode, 'service');
    assert.equal(status.rules, 0);
    assert.deepEqual(await c.call('peers'), SAMPLE_PEERS);
  });

  test('control: add, list, remove at runtime; rules persist and come back after a restart with the same keys', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const first = await start([`ingress tcp:${p1}:127.0.0.1:${echo.port}`]);
    const c = await client();
    const added = await c.call('proxy.add', { egress: [`tcp:${p2}:127.0.0.1:${echo.port}`] });
    assert.deepEqual(added.added, [{ type: 'egress', rule: `tcp:${p2}:127.0.0.1:${echo.port}` }]);
    assert.equal((await tcpRoundTrip(p2, 'rt', LOCAL_HOST)).toString(), 'E:rt');
    const list = await c.call('proxy.list');
    assert.deepEqual(
      list.map((r) => [r.type, r.origin, r.connections]),
      [
        ['ingress', 'flag', 0],
        ['egress', 'runtime', 1],
      ],
    );
    const saved = await new FileStateStore(join(dir.path, 'state')).load();
    assert.deepEqual(saved.proxyRules, [{ type: 'egress', rule: `tcp:${p2}:127.0.0.1:${echo.port}` }]);

    c.close();
    await first.d.stop(0);
    running.splice(0);
    const second = await start([`ingress tcp:${p1}:127.0.0.1:${echo.port}`]);
    assert.equal(second.d.keySource, 'state');
    assert.equal(second.d.keys.publicKey, first.d.keys.publicKey);
    assert.equal((await tcpRoundTrip(p2, 'back', LOCAL_HOST)).toString(), 'E:back', 'runtime rule restored');

    const c2 = await client();
    const removed = await c2.call('proxy.remove', { egress: [`tcp:${p2}:127.0.0.1:${echo.port}`] });
    assert.equal(removed.removed.length, 1);
    await assert.rejects(tcpRoundTrip(p2, 'gone', LOCAL_HOST), { code: 'ECONNREFUSED' });
    assert.deepEqual((await new FileStateStore(join(dir.path, 'state')).load()).proxyRules, []);
  });

  test('control: bad, duplicate and unknown rules are typed errors and change nothing', async () => {
    const port = await freePort();
    await start([`ingress tcp:${port}:127.0.0.1:${echo.port}`]);
    const c = await client();
    const rejects = (p: Promise<unknown>, code: string, message: RegExp) =>
      assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof ControlCallError);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
    await rejects(c.call('proxy.add', { ingress: ['tcp:80:x'] }), 'NEX_ERR_PROXY_RULE', /only 3 of 4 parts/);
    await rejects(
      c.call('proxy.add', { ingress: [`tcp:${port}:127.0.0.1:${echo.port}`] }),
      'NEX_ERR_PROXY_RULE_EXISTS',
      /already exists; nothing was added/,
    );
    await rejects(
      c.call('proxy.remove', { egress: ['tcp:1:a:1'] }),
      'NEX_ERR_PROXY_RULE_NOT_FOUND',
      /does not exist/,
    );
    await rejects(c.call('proxy.add', {}), 'NEX_ERR_BAD_FLAG', /at least one --ingress or --egress/);
    // The egress port is taken by another process: the ingress rule of the same batch is rolled back.
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, LOCAL_HOST, () => r()));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const free = await freePort();
    try {
      await rejects(
        c.call('proxy.add', {
          ingress: [`tcp:${free}:127.0.0.1:1`],
          egress: [`tcp:${busyPort}:127.0.0.2:1`],
        }),
        'NEX_ERR_PROXY_LISTEN',
        /EADDRINUSE/,
      );
    } finally {
      busy.close();
    }
    assert.equal((await c.call('proxy.list')).length, 1);
    assert.deepEqual((await new FileStateStore(join(dir.path, 'state')).load()).proxyRules, []);
  });

  test('control socket: owner-only, garbage gets an error line, the connection stays usable', async () => {
    await start();
    const path = controlSocketPath(join(dir.path, 'state'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir.path, 'state'))).mode & 0o777, 0o700);
    const lines: unknown[] = [];
    const s = net.connect(path);
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
    s.write('not json\n{"id":2}\n{"id":3,"method":"nope"}\n{"id":4,"method":"version"}\n');
    const deadline = Date.now() + 2000;
    while (lines.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    s.destroy();
    const byId = new Map(lines.map((l) => [(l as { id: unknown }).id, l]));
    assert.match(JSON.stringify(lines[0]), /not valid JSON/);
    assert.match(JSON.stringify(lines[1]), /request must be/);
    assert.match(JSON.stringify(byId.get(3)), /unknown method nope; known: version, status, peers/);
    assert.ok((byId.get(4) as { result: { version: string } }).result.version);
  });

  test('control socket: a request over CONTROL_MAX_LINE bytes is refused even when it has fewer characters', async () => {
    await start();
    const s = net.connect(controlSocketPath(join(dir.path, 'state')));
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d: string) => {
      got += d;
    });
    s.on('error', () => {});
    // 'é' is two bytes in UTF-8: 0.6 x CONTROL_MAX_LINE characters are 1.2 x as many bytes, and no newline.
    s.write('é'.repeat(Math.ceil(CONTROL_MAX_LINE * 0.6)));
    let guard: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      new Promise<'closed'>((r) => s.on('close', () => r('closed'))),
      new Promise<'still open'>((r) => {
        guard = setTimeout(() => r('still open'), 10_000);
      }),
    ]);
    clearTimeout(guard);
    s.destroy();
    assert.equal(outcome, 'closed');
    assert.match(got, new RegExp(`request longer than ${CONTROL_MAX_LINE} bytes`));
  });

  test('a second daemon on the same state dir is refused; a stale socket file is replaced', async () => {
    const { d } = await start();
    await assert.rejects(start(), { code: 'NEX_ERR_CONTROL', message: /another nexd is already serving/ });
    await d.stop(0);
    running.splice(0);
    const path = controlSocketPath(join(dir.path, 'state'));
    await writeFile(path, 'stale');
    await start();
    assert.equal((await (await client()).call('status')).rules, 0);
  });

  test('health: /healthz, /readyz follows readiness, /metrics counts per rule', async () => {
    const port = await freePort();
    const { d } = await start(
      [`ingress tcp:${port}:127.0.0.1:${echo.port}`],
      { healthAddr: { host: '127.0.0.1', port: 0 } },
      false,
    );
    const base = `http://127.0.0.1:${d.health!.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /not ready: registered, peer-stream-at-tail/);
    d.readiness.set('registered');
    d.readiness.set('peer-stream-at-tail');
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    await tcpRoundTrip(port, 'abc', TUNNEL_HOST);
    await new Promise((r) => setTimeout(r, 50));
    d.metrics.handshakes.inc();
    const text = await (await fetch(`${base}/metrics`)).text();
    const label = `{type="ingress",rule="tcp:${port}:127.0.0.1:${echo.port}"}`;
    assert.ok(text.includes(`nexd_proxy_connections_total${label} 1`), text);
    assert.ok(text.includes(`nexd_proxy_bytes_to_destination_total${label} 3`));
    assert.ok(text.includes(`nexd_proxy_bytes_from_destination_total${label} 5`));
    assert.ok(text.includes('nexd_peers 1'));
    assert.ok(text.includes('nexd_wireguard_handshakes_total 1'));
    assert.ok(text.includes('nexd_stream_reconnects_total 0'));
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);
    d.readiness.setShuttingDown();
    assert.match(await (await fetch(`${base}/readyz`)).text(), /shutting-down/);
  });

  test('a busy --health-addr stops the start with NEX_ERR_BAD_FLAG and releases everything', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const port = await freePort();
    try {
      await assert.rejects(
        start([`ingress tcp:${port}:127.0.0.1:9`], { healthAddr: { host: '127.0.0.1', port: busyPort } }),
        {
          code: 'NEX_ERR_BAD_FLAG',
          message: new RegExp(`--health-addr 127\\.0\\.0\\.1:${busyPort}: cannot listen \\(EADDRINUSE\\)`),
        },
      );
    } finally {
      busy.close();
    }
    // The rule's port and the control socket were released: a new start succeeds.
    await start([`ingress tcp:${port}:127.0.0.1:9`]);
  });

  test('a corrupt state file stops the start with a clear error and is left as it was', async () => {
    const store = new FileStateStore(join(dir.path, 'state'));
    await store.save({ version: 1, proxyRules: [] });
    await writeFile(store.location, '{"version":1,"proxyRules":[{"type":"ingress","rule":"tcp:1:a"}]}');
    await assert.rejects(start(), { code: 'NEX_ERR_STATE_CORRUPT', message: /will not overwrite it/ });
    await assert.rejects(store.load(), { code: 'NEX_ERR_STATE_CORRUPT' });
  });

  test('concurrent proxy.add requests are all applied and all persisted', async () => {
    await start();
    const c = await client();
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    await Promise.all(ports.map((p) => c.call('proxy.add', { egress: [`tcp:${p}:127.0.0.2:80`] })));
    assert.equal((await c.call('proxy.list')).length, 4);
    const saved = await new FileStateStore(join(dir.path, 'state')).load();
    assert.deepEqual(
      saved.proxyRules.map((r) => r.rule).sort(),
      ports.map((p) => `tcp:${p}:127.0.0.2:80`).sort(),
    );
  });

  test('standalone --wg-config: its PrivateKey is the device key; a bad file stops the start with file:line', async () => {
    const { generateKeyPair } = await import('../src/keys.js');
    const kp = generateKeyPair();
    const file = join(dir.path, 'wg0.conf');
    await writeFile(file, `[Interface]\nPrivateKey = ${kp.privateKey}\nAddress = 100.100.0.9/32\n`);
    const { d } = await start([], { wgConfig: file, serviceUrl: undefined });
    assert.equal(d.keySource, 'wg-config');
    assert.equal(d.keys.publicKey, kp.publicKey);
    const s = await (await client()).call('status');
    assert.equal(s.mode, 'standalone');
    await d.stop(0);
    running.splice(0);
    await writeFile(file, `[Interface]\nPrivateKey = ${kp.privateKey}\nAddress = 100.100.0.300\n`);
    await assert.rejects(start([], { wgConfig: file, serviceUrl: undefined }), {
      code: 'NEX_ERR_WG_CONFIG',
      message: /wg0\.conf:3: Address: "100\.100\.0\.300" is not an IP address/,
    });
  });

  test('a persisted rule that cannot start is logged and kept in the state', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, LOCAL_HOST, () => r()));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      const store = new FileStateStore(join(dir.path, 'state'));
      const rule = { type: 'egress' as const, rule: `tcp:${busyPort}:127.0.0.2:80` };
      await store.save({ version: 1, proxyRules: [rule] });
      const { d, logs } = await start();
      assert.equal(d.proxy.rules().length, 0);
      assert.ok(
        logs.lines.some((l) => l.msg === 'cannot restore proxy rule' && /EADDRINUSE/.test(String(l.err))),
      );
      assert.deepEqual((await store.load()).proxyRules, [rule]);
    } finally {
      busy.close();
    }
  });

  test('control: a UDP rule added at runtime carries datagrams', async () => {
    const dgram = await import('node:dgram');
    const echoUdp = dgram.createSocket('udp4');
    echoUdp.on('message', (m, r) => echoUdp.send(m, r.port, r.address));
    await new Promise<void>((r) => echoUdp.bind(0, '127.0.0.1', () => r()));
    const port = await freePort('udp');
    await start();
    const c = await client();
    try {
      await c.call('proxy.add', { ingress: [`udp:${port}:127.0.0.1:${echoUdp.address().port}`] });
      const sock = dgram.createSocket('udp4');
      const reply = new Promise<string>((r) => sock.once('message', (m) => r(m.toString())));
      sock.send('dgram', port, TUNNEL_HOST);
      assert.equal(await reply, 'dgram');
      sock.close();
      const [rule] = await c.call('proxy.list');
      assert.equal(rule.connections, 1);
      assert.equal(rule.bytesFromDestination, 5);
    } finally {
      echoUdp.close();
    }
  });
});
