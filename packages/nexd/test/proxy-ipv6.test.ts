// SPDX-License-Identifier: Apache-2.0
// IPv6 on both sides: an IPv6 destination in brackets, an IPv6 listener, and the default dual-stack
// listener (`::`) accepting IPv4 clients, for TCP and UDP.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, test } from 'node:test';
import { NodeDatagramNetwork, NodeStreamNetwork } from '../src/proxy/node-network.js';
import { ProxyEngine } from '../src/proxy/proxy.js';
import { parseRule } from '../src/proxy/rules.js';
import { captureLogs, freePort } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function v6TcpEcho(): Promise<number> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => s.write(`${s.remoteAddress}|${d}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => srv.listen(0, '::1', () => r()));
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return (srv.address() as net.AddressInfo).port;
}

function roundTrip(host: string, port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const c = net.connect({ host, port, allowHalfOpen: true }, () => c.end(data));
    c.on('data', (d) => {
      got += d;
    });
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

function makeProxy(tunnelHost: string, localHost?: string) {
  const proxy = new ProxyEngine({
    tunnel: {
      stream: new NodeStreamNetwork({ listenHost: tunnelHost }),
      datagram: new NodeDatagramNetwork({ listenHost: tunnelHost }),
    },
    local: {
      stream: new NodeStreamNetwork(localHost ? { listenHost: localHost } : {}),
      datagram: new NodeDatagramNetwork(localHost ? { listenHost: localHost } : {}),
    },
    logger: captureLogs().logger,
    udpSweepIntervalMs: 0,
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

test('tcp ingress on an IPv6 listener to an IPv6 destination in brackets', async () => {
  const echoPort = await v6TcpEcho();
  const port = await freePort();
  const proxy = makeProxy('::1', '::1');
  await proxy.addRule(parseRule('ingress', `tcp:${port}:[::1]:${echoPort}`));
  assert.equal(await roundTrip('::1', port, 'six'), '::1|six');
});

test('egress on the default dual-stack listener accepts IPv4 and IPv6 clients', async () => {
  const echoPort = await v6TcpEcho();
  const port = await freePort();
  const proxy = makeProxy('127.0.0.2');
  await proxy.addRule(parseRule('egress', `tcp:${port}:[::1]:${echoPort}`));
  assert.equal(await roundTrip('127.0.0.1', port, 'four'), '::1|four');
  assert.equal(await roundTrip('::1', port, 'six'), '::1|six');
});

test('udp over IPv6: flow to [::1] and replies back to an IPv4 client of the dual-stack listener', async () => {
  const echo = dgram.createSocket('udp6');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('U:'), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '::1', () => r()));
  cleanups.push(() => new Promise<void>((r) => echo.close(() => r())));
  const port = await freePort('udp');
  const proxy = makeProxy('127.0.0.2');
  await proxy.addRule(parseRule('egress', `udp:${port}:[::1]:${echo.address().port}`));
  for (const [type, host] of [
    ['udp4', '127.0.0.1'],
    ['udp6', '::1'],
  ] as const) {
    const c = dgram.createSocket(type);
    cleanups.push(() => new Promise<void>((r) => c.close(() => r())));
    const reply = new Promise<string>((resolve) => c.once('message', (m) => resolve(m.toString())));
    c.send('ping', port, host);
    assert.equal(await reply, 'U:ping');
  }
  assert.equal(proxy.udpFlows, 2);
});

test('listeners fall back to the next address when one is not available (IPv6 switched off in a pod)', async () => {
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is not on this host: binding it fails with EADDRNOTAVAIL, as `::`
  // fails with EAFNOSUPPORT on a kernel without IPv6.
  const hosts = ['192.0.2.1', '127.0.0.1'];
  const port = await freePort();
  const stream = new NodeStreamNetwork({ listenHost: hosts });
  const l = await stream.listen(port, (c) => c.end('fallback'));
  cleanups.push(() => l.close());
  const got = await new Promise<string>((resolve, reject) => {
    let s = '';
    const c = net.connect(port, '127.0.0.1');
    c.on('data', (d) => {
      s += d;
    });
    c.on('end', () => resolve(s));
    c.on('error', reject);
  });
  assert.equal(got, 'fallback');
  const uport = await freePort('udp');
  const dl = await new NodeDatagramNetwork({ listenHost: hosts }).bind(uport, () => {});
  cleanups.push(() => dl.close());
  // Other errors are not masked by the fallback: a busy port fails on the first address.
  await assert.rejects(
    new NodeStreamNetwork({ listenHost: ['127.0.0.1', '127.0.0.2'] }).listen(port, () => {}),
    {
      code: 'NEX_ERR_PROXY_LISTEN',
      message: /EADDRINUSE/,
    },
  );
});
