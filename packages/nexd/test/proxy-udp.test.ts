// SPDX-License-Identifier: Apache-2.0
// UDP forwarding over node:dgram on loopback for both sides, with real UDP echo servers and an injected
// clock for flow expiry.
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { afterEach, describe, test } from 'node:test';
import { NodeDatagramNetwork, NodeStreamNetwork, type Resolver } from '../src/proxy/node-network.js';
import { ProxyEngine } from '../src/proxy/proxy.js';
import { parseRule } from '../src/proxy/rules.js';
import { UDP_MAX_PENDING } from '../src/proxy/udp.js';
import { captureLogs, eventually, freePort, udpClient, udpEcho, udpRequest } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const side = (resolve?: Resolver) => ({
  stream: new NodeStreamNetwork({ listenHost: '127.0.0.1' }),
  datagram: new NodeDatagramNetwork({ listenHost: '127.0.0.1', ...(resolve ? { resolve } : {}) }),
});

function setup(resolve?: Resolver) {
  const clock = {
    t: 1_000_000,
    now() {
      return this.t;
    },
  };
  const logs = captureLogs();
  const proxy = new ProxyEngine({
    tunnel: side(),
    local: side(resolve),
    logger: logs.logger,
    clock,
    udpSweepIntervalMs: 0,
  });
  cleanups.push(() => proxy.close());
  return { proxy, logs, clock };
}

async function client(): Promise<dgram.Socket> {
  const c = await udpClient();
  cleanups.push(() => c.close());
  return c;
}

describe('udp proxy', () => {
  test('ingress and egress carry datagrams both ways, one flow per client address', async () => {
    const e = await udpEcho('E');
    cleanups.push(() => e.close());
    const [pi, pe] = [await freePort('udp'), await freePort('udp')];
    const { proxy } = setup();
    await proxy.addRule(parseRule('ingress', `udp:${pi}:127.0.0.1:${e.port}`));
    await proxy.addRule(parseRule('egress', `udp:${pe}:127.0.0.1:${e.port}`));
    const c1 = await client();
    const c2 = await client();
    assert.equal(await udpRequest(c1, pi, 'a'), 'E:a');
    assert.equal(await udpRequest(c1, pi, 'b'), 'E:b');
    assert.equal(await udpRequest(c2, pi, 'c'), 'E:c');
    assert.equal(await udpRequest(c1, pe, 'd'), 'E:d');
    assert.equal(proxy.udpFlows, 3);
    assert.equal(e.clients.size, 3, 'each client address has its own socket towards the destination');
    const [ingress, egress] = proxy.status();
    assert.equal(ingress.connections, 2);
    assert.equal(ingress.bytesToDestination, 3);
    assert.equal(ingress.bytesFromDestination, 9);
    assert.equal(egress.connections, 1);
  });

  test('flows expire after 60 s idle on the injected clock, not before', async () => {
    const e = await udpEcho('E');
    cleanups.push(() => e.close());
    const port = await freePort('udp');
    const { proxy, clock } = setup();
    await proxy.addRule(parseRule('ingress', `udp:${port}:127.0.0.1:${e.port}`));
    const c = await client();
    assert.equal(await udpRequest(c, port, '1'), 'E:1');
    clock.t += 30_000;
    assert.equal(await udpRequest(c, port, '2'), 'E:2', 'traffic refreshes the flow');
    clock.t += 59_999;
    assert.equal(proxy.sweepUdpFlows(), 0);
    assert.equal(proxy.udpFlows, 1);
    clock.t += 1;
    assert.equal(proxy.sweepUdpFlows(), 1);
    assert.equal(proxy.udpFlows, 0);
    assert.equal(proxy.status()[0].active, 0);
    assert.equal(await udpRequest(c, port, '3'), 'E:3', 'the same client gets a new flow');
    assert.equal(proxy.status()[0].connections, 2);
    assert.equal(e.clients.size, 2);
  });

  test('new flows alternate round-robin between rules on one port', async () => {
    const a = await udpEcho('A');
    const b = await udpEcho('B');
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const port = await freePort('udp');
    const { proxy } = setup();
    await proxy.addRule(parseRule('ingress', `udp:${port}:127.0.0.1:${a.port}`));
    await proxy.addRule(parseRule('ingress', `udp:${port}:127.0.0.1:${b.port}`));
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(await udpRequest(await client(), port, `${i}`));
    assert.deepEqual(got, ['A:0', 'B:1', 'A:2', 'B:3']);
  });

  test('a flow whose name does not resolve is logged once and its datagrams dropped', async () => {
    const port = await freePort('udp');
    let calls = 0;
    const { proxy, logs } = setup(async () => {
      calls++;
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    });
    await proxy.addRule(parseRule('ingress', `udp:${port}:dns.nexd-test.internal:53`));
    const c = await client();
    for (let i = 0; i < 5; i++) c.send(`q${i}`, port, '127.0.0.1');
    await eventually(
      () => {
        const s = proxy.status()[0];
        return s.dialFailures === 1 && s.datagramsDropped === 5;
      },
      2000,
      '5 dropped datagrams',
    );
    assert.equal(calls, 1, 'resolved once per flow, not per datagram');
    assert.equal(logs.lines.filter((l) => l.level === 40).length, 1);
    assert.equal(proxy.status()[0].active, 0);
  });

  test('datagrams arriving while a flow is being set up are queued up to a bound, the rest counted as dropped', async () => {
    const e = await udpEcho('E');
    cleanups.push(() => e.close());
    const port = await freePort('udp');
    let release: (() => void) | undefined;
    const { proxy } = setup(async () => {
      await new Promise<void>((r) => {
        release = r;
      });
      return { address: '127.0.0.1', family: 4 };
    });
    await proxy.addRule(parseRule('ingress', `udp:${port}:slow-dns.nexd-test.internal:${e.port}`));
    const c = await client();
    const got: string[] = [];
    c.on('message', (m) => got.push(m.toString()));
    for (let i = 0; i < 40; i++) c.send(`m${i}`, port, '127.0.0.1');
    await eventually(
      () => release !== undefined && proxy.status()[0].datagramsDropped === 40 - UDP_MAX_PENDING,
    );
    release!();
    await eventually(() => got.length === UDP_MAX_PENDING, 2000, 'queued datagrams delivered');
    assert.deepEqual(
      got,
      Array.from({ length: UDP_MAX_PENDING }, (_, i) => `E:m${i}`),
    );
  });

  test('ICMP port unreachable from the destination is logged once per flow', async () => {
    const dead = await freePort('udp');
    const port = await freePort('udp');
    const { proxy, logs } = setup();
    await proxy.addRule(parseRule('ingress', `udp:${port}:127.0.0.1:${dead}`));
    const c = await client();
    for (let i = 0; i < 4; i++) {
      c.send('x', port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(() => logs.lines.some((l) => l.err === 'ECONNREFUSED'), 2000, 'ECONNREFUSED log');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(logs.lines.filter((l) => l.level === 40).length, 1);
  });

  test('the flow table is bounded: datagrams that would open more flows are dropped, logged once', async () => {
    const e = await udpEcho('E');
    cleanups.push(() => e.close());
    const port = await freePort('udp');
    const logs = captureLogs();
    const proxy = new ProxyEngine({
      tunnel: side(),
      local: side(),
      logger: logs.logger,
      udpSweepIntervalMs: 0,
      maxUdpFlows: 2,
    });
    cleanups.push(() => proxy.close());
    await proxy.addRule(parseRule('ingress', `udp:${port}:127.0.0.1:${e.port}`));
    assert.equal(await udpRequest(await client(), port, 'a'), 'E:a');
    assert.equal(await udpRequest(await client(), port, 'b'), 'E:b');
    const third = await client();
    await assert.rejects(udpRequest(third, port, 'c', 150), /no UDP reply/);
    await assert.rejects(udpRequest(third, port, 'd', 150), /no UDP reply/);
    assert.equal(proxy.udpFlows, 2);
    assert.equal(proxy.status()[0].datagramsDropped, 2);
    assert.equal(logs.lines.filter((l) => l.msg === 'UDP flow table full; dropping new flows').length, 1);
  });

  test('removing the last UDP rule on a port closes the port and its flows', async () => {
    const e = await udpEcho('E');
    cleanups.push(() => e.close());
    const port = await freePort('udp');
    const { proxy } = setup();
    const r = parseRule('ingress', `udp:${port}:127.0.0.1:${e.port}`);
    await proxy.addRule(r);
    const c = await client();
    assert.equal(await udpRequest(c, port, 'x'), 'E:x');
    await proxy.removeRule(r);
    assert.equal(proxy.udpFlows, 0);
    await assert.rejects(udpRequest(c, port, 'y', 200), /no UDP reply/);
  });
});
