// SPDX-License-Identifier: Apache-2.0
// The proxy engine over node:net on loopback for both sides (a stand-in for the tunnel side), with real
// TCP echo servers as destinations.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { NodeDatagramNetwork, NodeStreamNetwork, type Resolver } from '../src/proxy/node-network.js';
import { ProxyEngine } from '../src/proxy/proxy.js';
import { parseRule } from '../src/proxy/rules.js';
import { FAILOVER_DIAL_TIMEOUT_MS, HEALTH_CHECK_INTERVAL_MS } from '../src/proxy/tcp.js';
import { captureLogs, eventually, freePort, type TcpEcho, tcpEcho, tcpRoundTrip } from './helpers.js';

const side = (resolve?: Resolver) => ({
  stream: new NodeStreamNetwork({ listenHost: '127.0.0.1', ...(resolve ? { resolve } : {}) }),
  datagram: new NodeDatagramNetwork({ listenHost: '127.0.0.1' }),
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function echo(tag: string): Promise<TcpEcho> {
  const e = await tcpEcho(tag);
  cleanups.push(() => e.close());
  return e;
}

function makeProxy(resolve?: Resolver) {
  const logs = captureLogs();
  const proxy = new ProxyEngine({
    tunnel: side(),
    local: side(resolve),
    logger: logs.logger,
    udpSweepIntervalMs: 0,
  });
  cleanups.push(() => proxy.close());
  return { proxy, logs };
}

describe('tcp proxy', () => {
  test('ingress: a connection on the tunnel side reaches the local destination and back', async () => {
    const backend = await echo('A');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${backend.port}`));
    const reply = await tcpRoundTrip(port, 'hello');
    assert.equal(reply.toString(), 'A:hello');
    await eventually(() => proxy.status()[0].active === 0, 2000, 'connection to finish');
    const [s] = proxy.status();
    assert.equal(s.connections, 1);
    assert.equal(s.bytesToDestination, 5);
    assert.equal(s.bytesFromDestination, 7);
    assert.equal(s.rule, `tcp:${port}:127.0.0.1:${backend.port}`);
  });

  test('egress: mirror image, 4 MiB each way intact with backpressure', async () => {
    const backend = await echo('B');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${backend.port}`));
    const payload = randomBytes(4 * 1024 * 1024);
    const reply = await tcpRoundTrip(port, payload);
    assert.equal(reply.subarray(0, 2).toString(), 'B:');
    assert.equal(
      createHash('sha256').update(reply.subarray(2)).digest('hex'),
      createHash('sha256').update(payload).digest('hex'),
    );
    await eventually(() => proxy.status()[0].active === 0);
    assert.equal(proxy.status()[0].bytesToDestination, payload.length);
  });

  test('half-close: the client may keep reading after it sent FIN', async () => {
    // A server that waits for the client's FIN before answering: only works if FIN is forwarded
    // without closing the return direction.
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (d) => {
        n += d.length;
      });
      s.on('end', () => s.end(`got ${n} bytes`));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(
      parseRule('ingress', `tcp:${port}:127.0.0.1:${(srv.address() as net.AddressInfo).port}`),
    );
    assert.equal((await tcpRoundTrip(port, 'x'.repeat(1000))).toString(), 'got 1000 bytes');
  });

  test('backpressure: a destination that stops reading stalls the client; the proxy buffers a bounded amount', async () => {
    const held: net.Socket[] = [];
    const srv = net.createServer((s) => {
      s.pause(); // never reads
      held.push(s);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(
      () =>
        new Promise((r) => {
          for (const s of held) s.destroy();
          srv.close(r);
        }),
    );
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(
      parseRule('ingress', `tcp:${port}:127.0.0.1:${(srv.address() as net.AddressInfo).port}`),
    );
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    cleanups.push(async () => c.destroy());
    await new Promise<void>((r) => c.once('connect', () => r()));
    const chunk = Buffer.alloc(1 << 20);
    let offered = 0;
    // Offer 64 MiB, but only as fast as the socket accepts it.
    for (let i = 0; i < 64; i++) {
      offered += chunk.length;
      if (!c.write(chunk)) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => c.once('drain', () => r(true))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
        ]);
        if (!drained) break;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    const through = proxy.status()[0].bytesToDestination;
    assert.ok(offered < 64 << 20, `the client was stalled (offered ${offered} bytes)`);
    // Kernel socket buffers on two loopback hops plus one stream high-water mark: a few MiB at most.
    assert.ok(through < 32 << 20, `proxy accepted ${through} bytes`);
  });

  test('200 concurrent connections through two round-robin rules all complete', async () => {
    const a = await echo('A');
    const b = await echo('B');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${a.port}`));
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${b.port}`));
    await eventually(() => proxy.status().every((r) => !r.down), 2000, 'B checked and up');
    const checks = a.connections + b.connections;
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => tcpRoundTrip(port, `${i}`)));
    const tags = replies.map((r) => r.toString().slice(0, 1));
    assert.equal(tags.filter((t) => t === 'A').length, 100);
    assert.equal(tags.filter((t) => t === 'B').length, 100);
    for (const [i, r] of replies.entries()) assert.equal(r.toString().slice(2), `${i}`);
    await eventually(() => proxy.activeConnections === 0);
    // Health checks (a connect every second) may have come in between.
    assert.ok(a.connections + b.connections - checks >= 200);
  });

  test('rules sharing type+protocol+port alternate round-robin', async () => {
    const a = await echo('A');
    const b = await echo('B');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${a.port}`));
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${b.port}`));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push((await tcpRoundTrip(port, '.')).toString());
    assert.deepEqual(seen, ['A:.', 'B:.', 'A:.', 'B:.']);
  });

  test('failover: a target that starts refusing is skipped without the client noticing, and taken back once it listens', async () => {
    const a = await echo('A');
    const bPort = await freePort();
    const listenB = async () => {
      const srv = net.createServer((s) => {
        s.on('error', () => {});
        s.once('data', (d) => s.end(`B:${d}`));
      });
      await new Promise<void>((r) => srv.listen(bPort, '127.0.0.1', () => r()));
      return srv;
    };
    let b = await listenB();
    const port = await freePort();
    const { proxy, logs } = makeProxy();
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${a.port}`));
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${bPort}`));
    await eventually(() => proxy.status().every((r) => !r.down), 2000, 'both targets up');
    // B goes away between two health checks: the next connection picked for B is dialled on to A.
    await new Promise((r) => b.close(r));
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) replies.push((await tcpRoundTrip(port, `${i}`)).toString());
    assert.deepEqual(replies, ['A:0', 'A:1', 'A:2', 'A:3', 'A:4', 'A:5'], 'every connection answered by A');
    const dead = proxy.status().find((r) => r.rule.endsWith(`:${bPort}`))!;
    assert.equal(dead.down, true);
    assert.ok(
      dead.dialFailures <= 1,
      'tried at most once (a health check may have found it first), then skipped',
    );
    assert.ok(logs.lines.some((l) => l.msg === 'proxy target down: skipped while another is up'));
    // B comes back: the health check (a connect every HEALTH_CHECK_INTERVAL_MS) takes it back.
    b = await listenB();
    cleanups.push(() => new Promise((r) => b.close(r)));
    await eventually(() => proxy.status().every((r) => !r.down), 3 * HEALTH_CHECK_INTERVAL_MS, 'B up again');
    const tags = new Set<string>();
    for (let i = 0; i < 4; i++) tags.add((await tcpRoundTrip(port, '.')).toString().slice(0, 1));
    assert.deepEqual([...tags].sort(), ['A', 'B']);
  });

  test('a dial that fails with another target left goes on to it, and says so once', async () => {
    const a = await echo('A');
    const dead = await freePort();
    const port = await freePort();
    const { proxy, logs } = makeProxy();
    // The dead target is added first (a port's first target is up from the start) and is picked first.
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${dead}`));
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${a.port}`));
    await eventually(() => !proxy.status()[1]!.down, 2000, 'A up');
    assert.equal((await tcpRoundTrip(port, 'x')).toString(), 'A:x');
    assert.ok(logs.lines.some((l) => String(l.msg).endsWith('failed; trying the next target')));
  });

  test('a target joining a port that serves takes connections only once a check through it connected', async () => {
    const a = await echo('A');
    const b = await echo('B');
    const port = await freePort();
    const { proxy, logs } = makeProxy();
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${a.port}`));
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${b.port}`));
    // The check runs at once, so the joining target is up within a round trip, not an interval.
    await eventually(() => logs.lines.some((l) => l.msg === 'proxy target up'), HEALTH_CHECK_INTERVAL_MS / 2);
    assert.ok(b.connections >= 1, 'checked with a connect');
    const tags = new Set<string>();
    for (let i = 0; i < 4; i++) tags.add((await tcpRoundTrip(port, '.')).toString().slice(0, 1));
    assert.deepEqual([...tags].sort(), ['A', 'B']);
  });

  test('failover: a target that never answers is left after FAILOVER_DIAL_TIMEOUT_MS, the client is served', async () => {
    const a = await echo('A');
    const port = await freePort();
    const { proxy } = makeProxy(async (host) => {
      if (host === 'gone.nexd-test.internal') return new Promise(() => {});
      return { address: host, family: 4 };
    });
    await proxy.addRule(parseRule('ingress', `tcp:${port}:gone.nexd-test.internal:80`));
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${a.port}`));
    // The live target joined second: it is in rotation once its first check connected.
    await eventually(
      () => proxy.status().length === 2 && a.connections >= 1,
      2000,
      'the check of the live target',
    );
    const started = Date.now();
    assert.equal((await tcpRoundTrip(port, 'x')).toString(), 'A:x');
    const took = Date.now() - started;
    assert.ok(took >= FAILOVER_DIAL_TIMEOUT_MS - 50 && took < FAILOVER_DIAL_TIMEOUT_MS + 1500, `${took} ms`);
    // Marked down: the next connections go straight to the live target.
    const t2 = Date.now();
    for (let i = 0; i < 3; i++) assert.equal((await tcpRoundTrip(port, 'y')).toString(), 'A:y');
    assert.ok(Date.now() - t2 < 1000);
  });

  test('a destination name is resolved again for every new connection', async () => {
    const a = await echo('A');
    const b = await echo('B');
    let calls = 0;
    // The resolver maps the name to loopback; which backend answers is decided by the port in the rule,
    // so we move the name between two loopback addresses and bind the backends accordingly.
    const srvB = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(net.connect(b.port, '127.0.0.1')).pipe(s);
    });
    const port = await freePort();
    const backendPort = await freePort();
    // A listens on 127.0.0.1:backendPort, B on 127.0.0.2:backendPort (relayed to the echo server).
    const srvA = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(net.connect(a.port, '127.0.0.1')).pipe(s);
    });
    await new Promise<void>((r) => srvA.listen(backendPort, '127.0.0.1', () => r()));
    await new Promise<void>((r) => srvB.listen(backendPort, '127.0.0.2', () => r()));
    cleanups.push(() => new Promise((r) => srvA.close(r)));
    cleanups.push(() => new Promise((r) => srvB.close(r)));
    let target = '127.0.0.1';
    const resolver: Resolver = async (host) => {
      calls++;
      assert.equal(host, 'svc.nexd-test.internal');
      return { address: target, family: 4 };
    };
    const { proxy } = makeProxy(resolver);
    await proxy.addRule(parseRule('ingress', `tcp:${port}:svc.nexd-test.internal:${backendPort}`));
    assert.equal((await tcpRoundTrip(port, '1')).toString(), 'A:1');
    target = '127.0.0.2';
    assert.equal((await tcpRoundTrip(port, '2')).toString(), 'B:2');
    assert.equal(calls, 2);
  });

  test('a failed dial resets the client at once and logs one line per connection', async () => {
    const dead = await freePort();
    const port = await freePort();
    const { proxy, logs } = makeProxy();
    await proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:${dead}`));
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', (e) => resolve(e));
        c.on('close', () => resolve(undefined));
      });
      assert.equal(err?.code, 'ECONNRESET', 'client sees an RST, not a clean close');
      assert.ok(Date.now() - started < 1000);
    }
    await eventually(() => proxy.status()[0].active === 0);
    const warnings = logs.lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 2);
    assert.match(String(warnings[0].msg), /proxy dial to 127\.0\.0\.1:\d+ failed/);
    assert.equal(warnings[0].err, 'ECONNREFUSED');
    assert.equal(proxy.status()[0].dialFailures, 2);
  });

  test('an unresolvable name fails the dial the same way', async () => {
    const port = await freePort();
    const { proxy, logs } = makeProxy(async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    });
    await proxy.addRule(parseRule('ingress', `tcp:${port}:nowhere.nexd-test.internal:80`));
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', resolve);
      c.on('close', () => resolve(undefined));
    });
    assert.equal(err?.code, 'ECONNRESET');
    await eventually(() => logs.lines.some((l) => l.err === 'ENOTFOUND'));
  });

  test('a dial that does not complete in time (here: DNS never answers) fails with ETIMEDOUT', async () => {
    const port = await freePort();
    const logs = captureLogs();
    const proxy = new ProxyEngine({
      tunnel: side(),
      local: {
        stream: new NodeStreamNetwork({
          listenHost: '127.0.0.1',
          connectTimeoutMs: 150,
          resolve: () => new Promise(() => {}),
        }),
        datagram: new NodeDatagramNetwork({ listenHost: '127.0.0.1' }),
      },
      logger: logs.logger,
      udpSweepIntervalMs: 0,
    });
    cleanups.push(() => proxy.close());
    await proxy.addRule(parseRule('ingress', `tcp:${port}:slow.nexd-test.internal:80`));
    const started = Date.now();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', resolve);
      c.on('close', () => resolve(undefined));
    });
    assert.equal(err?.code, 'ECONNRESET');
    assert.ok(Date.now() - started >= 140);
    await eventually(() => logs.lines.some((l) => l.err === 'ETIMEDOUT'));
  });

  test('a client that leaves while its dial is in flight is noticed once the dial completes; nothing leaks', async () => {
    // The accepted socket stays paused until its upstream exists (its bytes wait in the kernel, with TCP
    // backpressure), so its FIN is read only after the dial; then both sides are torn down.
    const backend = await echo('A');
    const port = await freePort();
    let release: (() => void) | undefined;
    const { proxy } = makeProxy(async () => {
      await new Promise<void>((r) => {
        release = r;
      });
      return { address: '127.0.0.1', family: 4 };
    });
    await proxy.addRule(parseRule('ingress', `tcp:${port}:held.nexd-test.internal:${backend.port}`));
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    await eventually(() => release !== undefined, 2000, 'dial to start');
    assert.equal(proxy.status()[0].active, 1);
    c.destroy();
    release!();
    await eventually(() => backend.connections === 1, 2000, 'late dial to reach the backend');
    await eventually(() => proxy.status()[0].active === 0 && proxy.activeConnections === 0, 2000, 'teardown');
    assert.equal(proxy.status()[0].connections, 1);
  });

  test('runtime add/remove: removing the last rule on a port closes its listener', async () => {
    const a = await echo('A');
    const b = await echo('B');
    const port = await freePort();
    const { proxy } = makeProxy();
    const ra = parseRule('egress', `tcp:${port}:127.0.0.1:${a.port}`);
    const rb = parseRule('egress', `tcp:${port}:127.0.0.1:${b.port}`);
    await proxy.addRule(ra);
    await proxy.addRule(rb);
    await proxy.removeRule(ra);
    assert.equal((await tcpRoundTrip(port, 'x')).toString(), 'B:x');
    assert.equal((await tcpRoundTrip(port, 'y')).toString(), 'B:y');
    await proxy.removeRule(rb);
    assert.deepEqual(proxy.rules(), []);
    await assert.rejects(tcpRoundTrip(port, 'z'), { code: 'ECONNREFUSED' });
    // The port can be opened again.
    await proxy.addRule(ra);
    assert.equal((await tcpRoundTrip(port, 'w')).toString(), 'A:w');
  });

  test('duplicates, unknown rules and busy ports give typed errors and leave the rule set unchanged', async () => {
    const port = await freePort();
    const { proxy } = makeProxy();
    const r = parseRule('ingress', `tcp:${port}:127.0.0.1:9`);
    await proxy.addRule(r);
    await assert.rejects(proxy.addRule(r), { code: 'NEX_ERR_PROXY_RULE_EXISTS' });
    await assert.rejects(proxy.removeRule(parseRule('ingress', `tcp:${port}:127.0.0.1:10`)), {
      code: 'NEX_ERR_PROXY_RULE_NOT_FOUND',
    });
    // egress on the same port number uses the same loopback address in this test: the port is busy.
    await assert.rejects(proxy.addRule(parseRule('egress', `tcp:${port}:127.0.0.1:9`)), {
      code: 'NEX_ERR_PROXY_LISTEN',
      message: /EADDRINUSE/,
    });
    assert.equal(proxy.rules().length, 1);
  });

  test('close drains: new connections are refused, open ones finish, stragglers are aborted at the deadline', async () => {
    const backend = await echo('A');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${backend.port}`));
    const c = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.on('error', () => {});
    c.write('one');
    await eventually(() => Buffer.concat(got).toString() === 'A:one');
    const closing = proxy.close({ drainMs: 300 });
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(tcpRoundTrip(port, 'new'), { code: 'ECONNREFUSED' });
    c.write('two');
    await eventually(
      () => Buffer.concat(got).toString() === 'A:onetwo',
      1000,
      'open connection to keep working',
    );
    const result = await closing;
    assert.equal(result.aborted, 1);
    await closed;
  });

  test('close returns as soon as the last open connection ends, long before a generous drain deadline', async () => {
    const backend = await echo('A');
    const port = await freePort();
    const { proxy } = makeProxy();
    await proxy.addRule(parseRule('ingress', `tcp:${port}:127.0.0.1:${backend.port}`));
    const c = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('error', () => {});
    c.write('one');
    await eventually(() => Buffer.concat(got).toString() === 'A:one');
    const closing = proxy.close({ drainMs: 60_000 });
    c.end();
    let guard: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      closing,
      new Promise<'stuck'>((r) => {
        guard = setTimeout(() => r('stuck'), 5_000);
      }),
    ]);
    clearTimeout(guard);
    assert.deepEqual(result, { aborted: 0 });
  });
});
