// SPDX-License-Identifier: Apache-2.0
// The connection-setup probe of testbed.ts (bench:testbed and its e2e test), run inside a lab namespace
// (`ip netns exec NS node --import tsx test/e2e/lib/conn-probe.ts ...`), since a namespace is chosen per
// process:
//   echo PORT            a TCP echo server on every address; prints `listening` once it is
//   dial HOST PORT N     N sequential connections, each: connect, send 1 byte, wait for its echo, close;
//                        prints one JSON line { ms: [...], wallMs } (ms: connect() to the echo, per connection)
// Nothing overlaps: each connection is closed before the next one starts, as in the 1,000-connection
// figure, so the rate is 1 / (setup latency + teardown), not a measure of concurrency.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

function echo(port: number): void {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  srv.listen({ port, host: '::', ipv6Only: false, backlog: 1024 }, () => console.log('listening'));
}

function once(host: string, port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, noDelay: true });
    sock.once('error', reject);
    sock.once('connect', () => sock.write('x'));
    sock.once('data', () => {
      const ms = performance.now() - t0;
      sock.destroy();
      resolve(ms);
    });
  });
}

async function dial(host: string, port: number, n: number): Promise<void> {
  const ms: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ms.push(await once(host, port));
  console.log(JSON.stringify({ ms, wallMs: performance.now() - t0 }));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'echo' && args.length === 1) echo(Number(args[0]));
else if (mode === 'dial' && args.length === 3) await dial(args[0]!, Number(args[1]), Number(args[2]));
else {
  console.error('usage: conn-probe.ts echo PORT | dial HOST PORT N');
  process.exit(2);
}
