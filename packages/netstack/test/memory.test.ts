// SPDX-License-Identifier: Apache-2.0
// Memory per idle established connection (issue target: <= 16 KiB). Buffers are allocated lazily and small
// ones are given back when they drain, so an idle connection is little more than its control block.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IpAddress, type TcpSocket } from '../src/index.js';
import { Simulator } from '../src/testing/simulator.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('memory', () => {
  it('idle established connections cost well under 16 KiB each (both ends measured)', () => {
    const N = 1000;
    const limits = { maxConnections: 4 * N, backlog: 2 * N };
    const sim = new Simulator({ seed: 60, wire: { delay: 0.05 }, a: { limits }, b: { limits } });
    const l = sim.b.tcpListen(80);
    assert.ok(typeof l !== 'string');
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const ab0 = process.memoryUsage().arrayBuffers;
    const clients: TcpSocket[] = [];
    const servers: TcpSocket[] = [];
    for (let i = 0; i < N; i++)
      clients.push(sim.a.tcpConnect(IpAddress.from('100.100.0.2'), 80, sim.now) as TcpSocket);
    sim.run(
      () => servers.length === N,
      60_000,
      () => {
        for (let s = l.accept(); s; s = l.accept()) servers.push(s);
      },
    );
    // One request/response on each, then idle.
    for (const c of clients) c.send(new Uint8Array(200));
    sim.run(() => servers.every((s) => s.recvAvailable === 200), sim.now + 60_000);
    for (const s of servers) {
      s.recv(new Uint8Array(200));
      s.send(new Uint8Array(300));
    }
    sim.run(() => clients.every((c) => c.recvAvailable === 300), sim.now + 60_000);
    for (const c of clients) c.recv(new Uint8Array(300));
    sim.runUntil(sim.now + 1_000);
    gc();
    const perConnection =
      (process.memoryUsage().heapUsed - heap0 + process.memoryUsage().arrayBuffers - ab0) / (2 * N);
    console.log(`memory per idle connection: ${(perConnection / 1024).toFixed(2)} KiB`);
    assert.equal(sim.b.stats().tcp.connections, N);
    assert.ok(perConnection < 16 * 1024, `${perConnection} bytes per idle connection`);
  });
});
