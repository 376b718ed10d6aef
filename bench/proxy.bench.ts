// SPDX-License-Identifier: Apache-2.0
// `npm run bench:proxy`: the whole unprivileged chain on loopback, as the scenario's demo 3 runs it:
//   client -> B (nexd proxy, egress rule) -> WireGuard over UDP -> A (nexd proxy, ingress rule) -> server
// with the real nexodus-server, and in the same run the same bytes through two plain `socat` relays
//   client -> socat -> socat -> server
// Figures: bulk TCP throughput (client upload, counted at the server), connection setup latency p50/p99
// over 1,000 sequential connections (connect -> first byte from the server, i.e. the whole dial chain),
// and the RSS of A and B with 1,000 concurrent idle connections. Last line: ratio=<nexd/socat throughput>.
// BENCH_BYTES (default 200 MB), BENCH_CONNECTIONS (1000), BENCH_PROFILE=1 writes --cpu-prof profiles of A
// and B and prints where their time goes (BENCH_PROFILE_TOP lines each); BENCH_NODE_ARGS adds node flags
// to both proxies (i.e. --trace-gc; their stdout goes to BENCH_PROXY_STDOUT=dir if set).
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  buildSkipReason,
  Child,
  freePort,
  NexdProcess,
  ServerProcess,
  stopAll,
  tempDir,
  waitFor,
} from '../packages/nexd/test/harness/processes.js';
import { topFunctionsOfFile } from './cpu-profile.js';
import { cpuSeconds, rssMiB } from './proc-status.js';

const BYTES = Number(process.env.BENCH_BYTES ?? 200_000_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000);
const PROFILE = process.env.BENCH_PROFILE === '1';
const CHUNK = 64 * 1024;

/** Counts bytes per connection; greets every connection with one byte so a client can time the dial chain. */
async function sinkServer(): Promise<{ port: number; close(): Promise<void>; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write('g');
    let n = 0;
    s.on('data', (d) => {
      n += d.length;
    });
    s.on('end', () => s.end(`${n}\n`));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Connects and waits for the server's greeting byte; returns the socket and the time it took. */
function dial(port: number): Promise<{ sock: net.Socket; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('error', reject);
    sock.once('data', () => resolve({ sock, ms: performance.now() - t0 }));
  });
}

/** Uploads BYTES and waits for the server's byte count; returns bits/s. */
async function bulk(port: number): Promise<number> {
  const { sock } = await dial(port);
  const buf = Buffer.alloc(CHUNK, 0x5a);
  const t0 = performance.now();
  let sent = 0;
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    sock.on('data', (d) => {
      text += d.toString();
    });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
  while (sent < BYTES) {
    const n = Math.min(CHUNK, BYTES - sent);
    sent += n;
    if (!sock.write(n === CHUNK ? buf : buf.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  const counted = Number((await answer).trim());
  const secs = (performance.now() - t0) / 1000;
  if (counted !== BYTES) throw new Error(`server counted ${counted} bytes, sent ${BYTES}`);
  sock.destroy();
  return (BYTES * 8) / secs;
}

async function latency(port: number, n: number): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = await dial(port);
    ms.push(d.ms);
    d.sock.destroy();
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n * 0.5)]!, p99: ms[Math.min(n - 1, Math.floor(n * 0.99))]! };
}

async function socatRelay(listen: number, to: number): Promise<Child> {
  const c = new Child(
    'socat',
    [`TCP-LISTEN:${listen},bind=127.0.0.1,fork,reuseaddr,backlog=2048`, `TCP:127.0.0.1:${to}`],
    {},
  );
  await waitFor(
    `socat on ${listen}`,
    () =>
      new Promise<boolean>((r) => {
        const s = net.connect(listen, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          r(true);
        });
        s.once('error', () => r(false));
      }),
  );
  return c;
}

const gbit = (bps: number) => `${(bps / 1e9).toFixed(3)} Gbit/s`;

async function main(): Promise<void> {
  const skip = buildSkipReason();
  if (skip) throw new Error(skip);
  const sink = await sinkServer();
  const profDir = tempDir('prof');
  const extraArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const profArgs = (name: string) => [
    ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : []),
    ...extraArgs,
  ];
  const server = await ServerProcess.start();
  const a = await NexdProcess.start({
    tag: 'ba',
    nodeArgs: profArgs('a'),
    args: ['proxy', '--ingress', `tcp:8080:127.0.0.1:${sink.port}`, server.url],
  });
  const a4 = a.addresses.ipv4;
  const bPort = await freePort();
  const b = await NexdProcess.start({
    tag: 'bb',
    nodeArgs: profArgs('b'),
    args: ['proxy', '--egress', `tcp:${bPort}:${a4}:8080`, server.url],
  });
  await waitFor(
    'the tunnel',
    async () => {
      const d = await dial(bPort).catch(() => undefined);
      d?.sock.destroy();
      return d !== undefined;
    },
    30_000,
  );
  const s2 = await freePort();
  const s1 = await freePort();
  await socatRelay(s2, sink.port);
  await socatRelay(s1, s2);

  console.log(`bulk upload of ${(BYTES / 1e6).toFixed(0)} MB, one connection, loopback`);
  // Each chain runs twice, alternating: the first run also warms it up (JIT, windows, the WireGuard
  // handshake); both figures are printed and the ratio uses each chain's best.
  const nexdBps = await bulk(bPort);
  const socatBps = await bulk(s1);
  const cpu0 = { a: cpuSeconds(a.child.proc.pid!), b: cpuSeconds(b.child.proc.pid!), t: performance.now() };
  const nexdBps2 = await bulk(bPort);
  const wall = (performance.now() - cpu0.t) / 1000;
  const share = (pid: number, before: { user: number; sys: number }): string => {
    const now = cpuSeconds(pid);
    const [user, sys] = [(now.user - before.user) / wall, (now.sys - before.sys) / wall];
    return `${((user + sys) * 100).toFixed(0)}% (user ${(user * 100).toFixed(0)}, sys ${(sys * 100).toFixed(0)})`;
  };
  const cpuA = share(a.child.proc.pid!, cpu0.a);
  const cpuB = share(b.child.proc.pid!, cpu0.b);
  const socatBps2 = await bulk(s1);
  const nexdBest = Math.max(nexdBps, nexdBps2);
  const socatBest = Math.max(socatBps, socatBps2);
  console.log(`  nexd chain  (B egress -> WireGuard -> A ingress): ${gbit(nexdBps)}, ${gbit(nexdBps2)}`);
  console.log(`  socat chain (two relays):                         ${gbit(socatBps)}, ${gbit(socatBps2)}`);
  console.log(`  CPU during the second nexd run, of one core: A ${cpuA}, B ${cpuB}`);

  const ln = await latency(bPort, CONNECTIONS);
  const ls = await latency(s1, CONNECTIONS);
  console.log(
    `connection setup (connect -> first byte from the server), ${CONNECTIONS} sequential connections`,
  );
  console.log(`  nexd chain:  p50 ${ln.p50.toFixed(2)} ms  p99 ${ln.p99.toFixed(2)} ms`);
  console.log(`  socat chain: p50 ${ls.p50.toFixed(2)} ms  p99 ${ls.p99.toFixed(2)} ms`);

  const idleBefore = { a: rssMiB(a.child.proc.pid!), b: rssMiB(b.child.proc.pid!) };
  const idle: net.Socket[] = [];
  for (let i = 0; i < CONNECTIONS; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, CONNECTIONS - i) }, () => dial(bPort)));
    for (const d of batch) idle.push(d.sock);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const idleAfter = { a: rssMiB(a.child.proc.pid!), b: rssMiB(b.child.proc.pid!) };
  console.log(
    `RSS with ${idle.length} concurrent idle connections through the chain (server sees ${sink.sockets.size})`,
  );
  console.log(`  A (ingress): ${idleBefore.a.toFixed(1)} -> ${idleAfter.a.toFixed(1)} MiB`);
  console.log(`  B (egress):  ${idleBefore.b.toFixed(1)} -> ${idleAfter.b.toFixed(1)} MiB`);
  console.log(
    `  per connection: A ${(((idleAfter.a - idleBefore.a) * 1024) / idle.length).toFixed(1)} KiB, B ${(((idleAfter.b - idleBefore.b) * 1024) / idle.length).toFixed(1)} KiB`,
  );
  for (const s of idle) s.destroy();

  await a.stop();
  await b.stop();
  if (PROFILE) {
    for (const name of ['a', 'b']) {
      const dir = join(profDir, name);
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
        console.log(`CPU profile of ${name === 'a' ? 'A (ingress)' : 'B (egress)'}, self time, top 15:`);
        for (const line of topFunctionsOfFile(join(dir, f), Number(process.env.BENCH_PROFILE_TOP ?? 15)))
          console.log(`  ${line}`);
      }
    }
  }
  const keep = process.env.BENCH_PROXY_STDOUT;
  if (keep) {
    writeFileSync(join(keep, 'a.stdout'), a.child.stdout);
    writeFileSync(join(keep, 'b.stdout'), b.child.stdout);
  }
  await stopAll();
  await sink.close();
  console.log(`ratio=${(nexdBest / socatBest).toFixed(3)}`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error(err);
    await stopAll();
    process.exit(1);
  },
);
