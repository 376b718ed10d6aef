// SPDX-License-Identifier: Apache-2.0
// Tests of the end-to-end harness itself: namespaces and their cleanup, wireguard-go <-> wireguard-go with the
// kernel on both ends (the reference link), the delaying/reordering UDP relay and the random-drop rule.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type KernelPeer, kernelPeer, writeRandomFile } from './lib/kernel-peer.js';
import { exec, execHost, Lab } from './lib/netns.js';
import { kernelPing, udpRequest } from './lib/probes.js';
import { type ReferencePair, referencePair, runIperfClient } from './lib/reference-pair.js';
import { BASE_TOOLS, rootSkipReason } from './lib/root.js';
import { addRandomDrop, UdpRelay } from './lib/udp-relay.js';
import { WireGuardGo } from './lib/wireguard-go.js';

const skip = rootSkipReason([...BASE_TOOLS, 'socat', 'iperf3', 'ss']);
const kernelSkip = rootSkipReason([...BASE_TOOLS, 'socat', 'iperf3', 'ss', 'nginx', 'curl', 'sha256sum']);

describe('relay (loopback, no root needed)', () => {
  /** Sends `n` numbered datagrams through a relay between two loopback sockets; returns arrival order. */
  async function through(
    opts: { delayMs: number; reorderRate: number; seed: number; maxQueue?: number },
    n: number,
  ) {
    const sink = createSocket('udp4');
    const src = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => src.bind(0, '127.0.0.1', () => r()));
    const relay = await UdpRelay.start({
      ...opts,
      a: { bind: { address: '127.0.0.1' } },
      b: { bind: { address: '127.0.0.1' }, target: { address: '127.0.0.1', port: sink.address().port } },
    });
    const got: number[] = [];
    sink.on('message', (m) => got.push(m.readUInt32BE(0)));
    const t0 = performance.now();
    let firstAt = 0;
    sink.once('message', () => (firstAt = performance.now() - t0));
    // Paced in bursts of 50: loopback sockets have the default 208 KiB receive buffer, which a 1000-datagram
    // burst released at once would overflow at the sink (that is the kernel, not the relay, losing them).
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(i);
      src.send(b, relay.a.port, '127.0.0.1');
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 2));
    }
    const expected = () => n - relay.counters.queueDrops;
    const deadline = performance.now() + 3000;
    while (got.length < expected() && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    await relay.close();
    sink.close();
    src.close();
    return { got, counters: relay.counters, firstAt };
  }

  test('delays every datagram by at least delayMs and keeps order when reorderRate is 0', async () => {
    const r = await through({ delayMs: 30, reorderRate: 0, seed: 1 }, 50);
    assert.equal(r.got.length, 50);
    assert.deepEqual(
      r.got,
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.ok(r.firstAt >= 29, `first datagram after ${r.firstAt.toFixed(1)} ms, expected >= 30 ms`);
    assert.equal(r.counters.aToB, 50);
    assert.equal(r.counters.reordered, 0);
  });

  test('reorders about the requested fraction, deterministically for a seed', async () => {
    const n = 1000;
    const r1 = await through({ delayMs: 5, reorderRate: 0.05, seed: 42 }, n);
    const r2 = await through({ delayMs: 5, reorderRate: 0.05, seed: 42 }, n);
    assert.equal(r1.got.length, n, 'every datagram arrives');
    assert.deepEqual(
      [...r1.got].sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok(
      r1.counters.reordered >= 25 && r1.counters.reordered <= 80,
      `reordered ${r1.counters.reordered}/1000`,
    );
    assert.equal(r2.counters.reordered, r1.counters.reordered, 'same seed, same choice');
    const inversions = r1.got.filter((v, i) => i > 0 && v < r1.got[i - 1]).length;
    assert.ok(inversions > 0, 'some datagrams overtook others');
  });

  test('a full queue drops and counts instead of growing', async () => {
    const r = await through({ delayMs: 200, reorderRate: 0, seed: 1, maxQueue: 10 }, 100);
    assert.ok(r.counters.queueDrops > 0, 'some datagrams dropped');
    assert.equal(r.counters.aToB + r.counters.queueDrops, 100);
    assert.ok(r.counters.aToB >= 10);
  });

  test('rejects impossible settings with a clear error', async () => {
    const side = { bind: { address: '127.0.0.1' } };
    await assert.rejects(
      UdpRelay.start({ a: side, b: side, reorderRate: 1.5 }),
      /reorderRate must be a fraction/,
    );
    await assert.rejects(UdpRelay.start({ a: side, b: side, delayMs: -1 }), /delayMs must be within/);
  });
});

describe('served files (no root needed)', () => {
  test('writeRandomFile writes the exact size in chunks and returns the SHA-256 of what is on disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nxe-files-'));
    try {
      for (const size of [0, 1, 1024 * 1024, 1024 * 1024 * 1.5 + 3]) {
        const path = join(dir, `f${size}`);
        const sha = writeRandomFile(path, size);
        const content = readFileSync(path);
        assert.equal(content.length, size);
        assert.equal(sha, createHash('sha256').update(content).digest('hex'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab (network namespaces)', { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create('hrn');
  });
  after(async () => {
    await lab?.cleanup();
  });

  test('exec in a namespace returns stdout, stderr and exit code', async () => {
    const ns = await lab.netns('x');
    const ok = await exec(ns, 'sh', ['-c', 'echo out; echo err >&2; exit 3'], { check: false });
    assert.deepEqual(ok, { stdout: 'out\n', stderr: 'err\n', code: 3 });
    await assert.rejects(exec(ns, 'sh', ['-c', 'echo nope >&2; exit 1']), /exited with 1: nope/);
    // The namespace really is separate: only loopback exists in it.
    const links = await exec(ns, 'ip', ['-o', 'link', 'show']);
    assert.equal(links.stdout.trim().split('\n').length, 1);
  });

  test('veth addresses, IPv4 and IPv6, are usable at once (no DAD)', async () => {
    const n1 = await lab.netns('v1');
    const n2 = await lab.netns('v2');
    const v = await lab.veth(
      { ns: n1, addrs: ['198.18.0.1/30', 'fd00:18::1/64'] },
      { ns: n2, addrs: ['198.18.0.2/30', 'fd00:18::2/64'] },
    );
    const addrs = (await exec(n1, 'ip', ['-6', 'addr', 'show', 'dev', v.a.ifname])).stdout;
    assert.match(addrs, /fd00:18::1\/64/);
    assert.doesNotMatch(addrs, /fd00:18::1\/64[^\n]*tentative/);
    const p4 = await kernelPing(lab, n1, '198.18.0.2', { count: 3, intervalMs: 10 });
    const p6 = await kernelPing(lab, n1, 'fd00:18::2', { count: 3, intervalMs: 10 });
    assert.equal(p4.received, 3);
    assert.equal(p6.received, 3);
  });

  test('a spawned server is stopped; namespaces, root links and UAPI sockets of a dead run are swept', async () => {
    const ns = await lab.netns('s');
    const p = lab.spawn(ns, 'sleep', ['60']);
    const code = await p.stop(500);
    assert.notEqual(code, 0, 'sleep did not finish on its own');
    assert.ok(p.exit !== undefined);
    // A pid that certainly does not exist any more: a child that has already exited.
    const dead = spawnSync('true').pid ?? 1;
    const pid36 = dead.toString(36).padStart(5, '0');
    const stale = `nxe-hrn-${pid36}-old`;
    const staleLink = `nxhrn${pid36}zz`;
    const staleSock = `/var/run/wireguard/nxhrn${pid36}zz.sock`;
    await execHost('ip', ['netns', 'add', stale]);
    await execHost('ip', ['link', 'add', staleLink, 'type', 'veth', 'peer', 'name', `${staleLink}p`]);
    mkdirSync('/var/run/wireguard', { recursive: true });
    writeFileSync(staleSock, '');
    await Lab.sweep('hrn');
    const list = (await execHost('ip', ['netns', 'list'])).stdout;
    assert.doesNotMatch(list, new RegExp(stale));
    assert.match(list, new RegExp(ns), 'the live lab keeps its namespaces');
    const links = await execHost('ip', ['link', 'show', staleLink], { check: false });
    assert.notEqual(links.code, 0, 'the stale root-namespace veth is gone');
    assert.equal(existsSync(staleSock), false, 'the stale UAPI socket path is gone');
  });

  test('bad names are refused with a clear error', async () => {
    await assert.rejects(Lab.create('TOOLONG'), /lab tag must be 3 characters/);
    await assert.rejects(lab.netns('has space'), /namespace name must be/);
  });
});

describe('reference pair: wireguard-go <-> wireguard-go, kernel on both ends', { skip }, () => {
  let lab: Lab;
  let direct: ReferencePair;
  before(async () => {
    lab = await Lab.create('hrp');
    direct = await referencePair(lab, 'd');
  });
  after(async () => {
    await lab?.cleanup();
  });

  test('ping through the tunnel, IPv4 and IPv6, completes a handshake on both sides', async () => {
    const p4 = await kernelPing(lab, direct.a.ns, direct.b.tunnel4, {
      count: 5,
      intervalMs: 20,
      timeoutMs: 3000,
    });
    assert.equal(p4.received, 5, `IPv4 echoes back: ${p4.received}/5`);
    const p6 = await kernelPing(lab, direct.b.ns, direct.a.tunnel6, {
      count: 5,
      intervalMs: 20,
      timeoutMs: 3000,
    });
    assert.equal(p6.received, 5, `IPv6 echoes back: ${p6.received}/5`);
    const peerOfA = await direct.a.wg.peer(direct.b.wg.publicKey);
    const peerOfB = await direct.b.wg.peer(direct.a.wg.publicKey);
    assert.ok(peerOfA && peerOfA.latestHandshake > 0 && peerOfA.rxBytes > 0, 'a saw a handshake and data');
    assert.ok(
      peerOfB && peerOfB.latestHandshake > 0 && peerOfB.txBytes > 0,
      'b saw a handshake and sent data',
    );
    assert.equal(peerOfA.endpoint, `${direct.b.underlay}:${direct.b.wg.listenPort}`);
  });

  test('iperf3 over the tunnel gives a throughput figure (the netstack benchmark reference)', async (t) => {
    const server = await direct.iperfServer('b');
    const r = await direct.iperf('a', { seconds: 2 });
    await server.stop();
    t.diagnostic(
      `wireguard-go <-> wireguard-go iperf3 single stream: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s`,
    );
    assert.ok(r.bitsPerSecond > 10e6, `expected > 10 Mbit/s, got ${r.bitsPerSecond}`);
    assert.ok(r.bytes > 1e6);
  });

  test('a random-drop rule on the underlay drops part of a burst, and removing it restores delivery', async () => {
    const rule = await addRandomDrop(direct.b.ns, direct.b.underlayIf, 0.5, 'in');
    const lossy = await kernelPing(lab, direct.a.ns, direct.b.tunnel4, {
      count: 40,
      intervalMs: 5,
      timeoutMs: 500,
    });
    const dropped = await rule.dropped();
    await rule.remove();
    assert.ok(lossy.received < 40 && lossy.received > 0, `with 50% drop, ${lossy.received}/40 came back`);
    assert.ok(dropped > 0, 'the rule counted drops');
    const clean = await kernelPing(lab, direct.a.ns, direct.b.tunnel4, {
      count: 10,
      intervalMs: 5,
      timeoutMs: 1000,
    });
    assert.equal(clean.received, 10);
  });

  test('through the relay, a 20 ms delay adds about 2 x 20 ms to the RTT', async () => {
    const base = await kernelPing(lab, direct.a.ns, direct.b.tunnel4, { count: 5, intervalMs: 20 });
    const delayed = await referencePair(lab, 'r', { relay: { delayMs: 20, seed: 7 } });
    const p = await kernelPing(lab, delayed.a.ns, delayed.b.tunnel4, {
      count: 5,
      intervalMs: 100,
      timeoutMs: 3000,
    });
    // Echo 0 carries the handshake as well; judge the steady state by the median.
    assert.ok(p.received >= 4, `echoes back through the relay: ${p.received}/5`);
    assert.ok(
      p.medianRtt >= 38,
      `median RTT ${p.medianRtt.toFixed(1)} ms through a 20 ms relay, expected >= 38`,
    );
    assert.ok(p.medianRtt > base.medianRtt + 30, `relay ${p.medianRtt} ms vs direct ${base.medianRtt} ms`);
    assert.ok(delayed.relay && delayed.relay.counters.aToB >= 5 && delayed.relay.counters.bToA >= 5);
    await delayed.close();
  });
});

describe('relay throughput (figures for the netstack tests)', { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create('hrt');
  });
  after(async () => {
    await lab?.cleanup();
  });

  test('iperf3 through an out-of-process relay: the relay counts both directions and stops cleanly', async (t) => {
    const pair = await referencePair(lab, 'p', { relay: { process: true } });
    const server = await pair.iperfServer('b');
    const r = await pair.iperf('a', { seconds: 2 });
    await server.stop();
    const c = await pair.relayProcess!.counters();
    t.diagnostic(
      `wireguard-go pair through the relay process: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, ` +
        `relayed ${c.aToB}/${c.bToA} datagrams, queue drops ${c.queueDrops}`,
    );
    assert.ok(r.bitsPerSecond > 5e6, `expected > 5 Mbit/s, got ${r.bitsPerSecond}`);
    assert.ok(c.aToB > 1000 && c.bToA > 100, `relayed ${c.aToB} / ${c.bToA}`);
    const final = await pair.relayProcess!.stop();
    assert.ok(final && final.aToB >= c.aToB, 'final counters come back on stop');
    assert.ok(pair.relayProcess!.proc.exit !== undefined, 'the relay process has exited');
  });
});

describe('kernel peer: wireguard-go + nginx + iperf3 + UDP echo behind a tunnel', {
  skip: kernelSkip,
}, () => {
  let lab: Lab;
  let k: KernelPeer;
  let client: WireGuardGo;
  let clientNs: string;
  before(async () => {
    lab = await Lab.create('hrk');
    k = await kernelPeer(lab, { fileSize: 256 * 1024 });
    // A wireguard-go client in its own namespace stands in for our engine until the netstack exists; it reaches
    // the kernel peer through a relay in this process (no IP forwarding in the root namespace needed).
    clientNs = await lab.netns('c');
    const sub = await lab.subnet();
    await lab.veth({ ns: clientNs, addrs: [`${sub.b4}/30`] }, { ns: null, addrs: [`${sub.a4}/30`] });
    client = await WireGuardGo.start(lab, clientNs, { addresses: ['198.19.0.2/24', 'fd00:19::2/64'] });
    const relay = await UdpRelay.start({
      a: { bind: { address: sub.a4 }, target: { address: sub.b4, port: client.listenPort } },
      b: { bind: { address: k.rootAddress4 }, target: k.endpoint },
    });
    lab.defer(() => relay.close());
    await client.setPeer({
      publicKey: k.wg.publicKey,
      endpoint: relay.a,
      allowedIps: ['198.19.0.1/32', 'fd00:19::1/128'],
    });
    await k.addPeer({
      publicKey: client.publicKey,
      endpoint: relay.b,
      allowedIps: ['198.19.0.2/32', 'fd00:19::2/128'],
    });
  });
  after(async () => {
    await lab?.cleanup();
  });

  test('nginx serves the random file byte-identical over IPv4 and IPv6 through the tunnel', async () => {
    for (const host of [k.tunnel4, `[${k.tunnel6}]`]) {
      const r = await exec(clientNs, 'sh', [
        '-c',
        `curl -sS --max-time 10 http://${host}:${k.httpPort}${k.file.path} | sha256sum`,
      ]);
      assert.equal(r.stdout.split(' ')[0], k.file.sha256, `sha256 of the download from ${host}`);
    }
  });

  test('the UDP echo server and iperf3 -s answer through the tunnel', async () => {
    const data = Buffer.from('echo me');
    for (const dst of [k.tunnel4, k.tunnel6]) {
      const r = await udpRequest(clientNs, dst, k.udpEchoPort, data);
      assert.deepEqual(r.data, data);
      assert.equal(r.from.replace(/^::ffff:/, ''), dst);
    }
    const ip = await runIperfClient(clientNs, k.tunnel4, { seconds: 1, port: k.iperfPort });
    assert.ok(ip.bitsPerSecond > 1e6, `iperf3 through the relay: ${ip.bitsPerSecond} bit/s`);
  });
});
