// SPDX-License-Identifier: Apache-2.0
// `npm run bench:relay`: demo 3's chain on loopback twice in one run, with the real nexodus-server and
//   direct: client -> B (egress) -> WireGuard over UDP -> A (ingress) -> sink
//   relay:  client -> D (egress, --relay-only) -> WireGuard over the server's DERP relay -> C (ingress) -> sink
// Figures: bulk TCP upload throughput (counted at the sink) and connection setup latency (connect -> first
// byte from the sink, p50/p99 over BENCH_CONNECTIONS sequential connections) for both, the latency the
// relay adds, and last the line relay_ratio=<relay/direct throughput>. BENCH_BYTES (default 100 MB).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  buildSkipReason,
  freePort,
  NexdProcess,
  ServerProcess,
  stopAll,
  waitFor,
} from '../packages/nexd/test/harness/processes.js';

const BYTES = Number(process.env.BENCH_BYTES ?? 100_000_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 300);
const CHUNK = 64 * 1024;

async function sinkServer(): Promise<{ port: number; close(): void }> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.write('g');
    let n = 0;
    s.on('data', (d) => {
      n += d.length;
    });
    s.on('end', () => s.end(`${n}\n`));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

function dial(port: number): Promise<{ sock: net.Socket; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('error', reject);
    sock.once('data', () => resolve({ sock, ms: performance.now() - t0 }));
  });
}

async function bulk(port: number): Promise<number> {
  const { sock } = await dial(port);
  const buf = Buffer.alloc(CHUNK, 0x5a);
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    sock.on('data', (d) => {
      text += d.toString();
    });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
  const t0 = performance.now();
  for (let sent = 0; sent < BYTES; ) {
    const n = Math.min(CHUNK, BYTES - sent);
    sent += n;
    if (!sock.write(n === CHUNK ? buf : buf.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  const counted = Number((await answer).trim());
  const secs = (performance.now() - t0) / 1000;
  sock.destroy();
  if (counted !== BYTES) throw new Error(`sink counted ${counted} bytes, sent ${BYTES}`);
  return (BYTES * 8) / secs;
}

async function latency(port: number): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const d = await dial(port);
    ms.push(d.ms);
    d.sock.destroy();
  }
  ms.sort((a, b) => a - b);
  return {
    p50: ms[Math.floor(CONNECTIONS * 0.5)]!,
    p99: ms[Math.min(CONNECTIONS - 1, Math.floor(CONNECTIONS * 0.99))]!,
  };
}

async function pair(server: ServerProcess, sink: number, tag: string, globals: string[]): Promise<number> {
  const ingress = await NexdProcess.start({
    tag: `${tag}i`,
    globals,
    args: ['proxy', '--ingress', `tcp:8080:127.0.0.1:${sink}`, server.url],
  });
  const port = await freePort();
  await NexdProcess.start({
    tag: `${tag}e`,
    globals,
    args: ['proxy', '--egress', `tcp:${port}:${ingress.addresses.ipv4}:8080`, server.url],
  });
  await waitFor(
    `the ${tag} tunnel`,
    async () => {
      const d = await dial(port).catch(() => undefined);
      d?.sock.destroy();
      return d !== undefined;
    },
    30_000,
  );
  return port;
}

const mbit = (bps: number) => `${(bps / 1e6).toFixed(0)} Mbit/s`;

async function main(): Promise<void> {
  const skip = buildSkipReason();
  if (skip) throw new Error(skip);
  const sink = await sinkServer();
  const relayPort = await freePort();
  const server = await ServerProcess.start({ args: ['--relay-listen', `127.0.0.1:${relayPort}`] });
  // No STUN on loopback; the relay pair reaches each other only through the relay.
  const direct = await pair(server, sink.port, 'rd', ['--stun-server', 'off']);
  const relayed = await pair(server, sink.port, 'rr', ['--stun-server', 'off', '--relay-only']);
  console.log(
    `bulk upload of ${(BYTES / 1e6).toFixed(0)} MB, one connection, loopback (best of two runs each)`,
  );
  const d = Math.max(await bulk(direct), await bulk(direct));
  const r = Math.max(await bulk(relayed), await bulk(relayed));
  console.log(`  direct (WireGuard over UDP):        ${mbit(d)}`);
  console.log(`  relay  (WireGuard over DERP, TCP):  ${mbit(r)}`);
  const ld = await latency(direct);
  const lr = await latency(relayed);
  console.log(
    `connection setup (connect -> first byte from the sink), ${CONNECTIONS} sequential connections`,
  );
  console.log(`  direct: p50 ${ld.p50.toFixed(2)} ms  p99 ${ld.p99.toFixed(2)} ms`);
  console.log(`  relay:  p50 ${lr.p50.toFixed(2)} ms  p99 ${lr.p99.toFixed(2)} ms`);
  console.log(`  added by the relay: p50 ${(lr.p50 - ld.p50).toFixed(2)} ms`);
  await stopAll();
  sink.close();
  console.log(`relay_ratio=${(r / d).toFixed(3)}`);
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
