// SPDX-License-Identifier: Apache-2.0
// Netstack benchmark (issue 3): the kernel's TCP (iperf3 -c in a namespace, behind wireguard-go) against our
// stack behind our WireGuard engine in this process, and, in the same run, the same iperf3 over
// wireguard-go <-> wireguard-go (kernel TCP on both ends) as the reference. Also accepted+closed connections/s
// and heap per idle established connection. The last line is `ratio=<ours/reference single stream>`.
// Run as root: npm run bench:netstack   (env: BENCH_SECONDS=5 per iperf3 run, BENCH_ROUNDS=3 alternating
// reference/ours rounds, BENCH_PROFILE=0 skips the CPU profile of round 1)
//
// Our side speaks iperf3's control protocol (test/e2e/lib/iperf3.ts), so the real `iperf3 -c ... -J` measures
// it; the topology glue (test/e2e/lib/our-peer.ts) is the one the e2e tests use, so both measure the same thing.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TcpSocketStream } from '@nexodus/netstack';
import { Iperf3Server } from '../test/e2e/lib/iperf3.js';
import { kernelPeer } from '../test/e2e/lib/kernel-peer.js';
import { exec, Lab, type Ns } from '../test/e2e/lib/netns.js';
import { KERNEL_CLIENT_SCRIPT, type OurPeer, ourPeer } from '../test/e2e/lib/our-peer.js';
import { referencePair, runIperfClient } from '../test/e2e/lib/reference-pair.js';
import { rootSkipReason } from '../test/e2e/lib/root.js';
import { type CpuProfile, topFunctions } from './cpu-profile.js';

// --- the benchmark ---

function gbit(bps: number): string {
  return `${(bps / 1e9).toFixed(3)} Gbit/s`;
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function kernelIperf(ns: Ns, dst: string, seconds: number, parallel: number): Promise<number> {
  const r = await runIperfClient(ns, dst, { seconds, parallel });
  return r.bitsPerSecond;
}

async function main(): Promise<void> {
  const skip = rootSkipReason(['ip', 'iptables', 'wireguard-go', 'wg', 'iperf3']);
  if (skip) {
    console.log(`netstack bench skipped: ${skip}`);
    console.log('ratio=0.00');
    process.exitCode = 1;
    return;
  }
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
  const profile = process.env.BENCH_PROFILE !== '0';
  const gc = exposeGc();
  const lab = await Lab.create('nsb');
  console.log(
    `load average before the run: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${cpus().length} cores)`,
  );
  let ours: OurPeer | undefined;
  try {
    // Reference: wireguard-go <-> wireguard-go, kernel TCP both ends.
    const ref = await referencePair(lab, 'ref');
    await ref.iperfServer('b');
    // Ours: kernel iperf3 -c through wireguard-go to our iperf3 server on NetStack behind WireGuardNode.
    const kp = await kernelPeer(lab, { nginx: false, iperf: false, udpEcho: false });
    ours = await ourPeer(kp);
    const server = new Iperf3Server();
    ours.stack.listen({ port: 5201 }, server.onConnection);

    let session: Session | undefined;
    if (profile) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
    }
    // CPU time of this process (our WireGuard + NetStack + iperf3 logic) while the single stream runs: near
    // 100 % of one core means our side limits the figure; well below means the kernel side does.
    let cpu0 = process.cpuUsage();
    let wall0 = performance.now();
    let cpuShare = Number.NaN;
    // Packets in and out of our stack during that run: out/in is about our ACK ratio (each ACK is one
    // encryption and one sendmsg() on our side).
    let pk0 = { packetsIn: 0, packetsOut: 0 };
    let pk = { packetsIn: 0, packetsOut: 0 };
    server.onRunning = () => {
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
      pk0 = ours!.stack.stats();
      if (session) void session.post('Profiler.start');
    };
    server.onEnded = () => {
      const d = process.cpuUsage(cpu0);
      cpuShare = (d.user + d.system) / 1000 / (performance.now() - wall0);
      const st = ours!.stack.stats();
      pk = { packetsIn: st.packetsIn - pk0.packetsIn, packetsOut: st.packetsOut - pk0.packetsOut };
    };

    // The machine is shared: the reference and ours alternate, round by round, so both see the same load,
    // and the ratio is the median of the per-round ratios.
    const rows: Array<{ ref1: number; our1: number; ref4: number; our4: number }> = [];
    let top: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const ref1 = (await ref.iperf('a', { seconds })).bitsPerSecond;
      const our1 = await kernelIperf(kp.ns, ours.tunnel4, seconds, 1);
      if (round === 0) {
        server.onRunning = undefined;
        server.onEnded = undefined;
        if (session) {
          const { profile: prof } = await session.post('Profiler.stop');
          const file = resolve(lab.dir, '..', `netstack-bench-${process.pid}.cpuprofile`);
          writeFileSync(file, JSON.stringify(prof));
          top = topFunctions(prof as CpuProfile, 15);
          session.disconnect();
          console.log(`cpu profile of our side (single stream, round 1): ${file}`);
        }
      }
      const ref4 = (await ref.iperf('a', { seconds, parallel: 4 })).bitsPerSecond;
      const our4 = await kernelIperf(kp.ns, ours.tunnel4, seconds, 4);
      rows.push({ ref1, our1, ref4, our4 });
      console.log(
        `round ${round + 1}: reference ${gbit(ref1)} / 4 streams ${gbit(ref4)}; ours ${gbit(our1)} / 4 streams ${gbit(our4)}; ratio ${(our1 / ref1).toFixed(2)}`,
      );
    }
    await ref.close();
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    console.log(
      `reference (wireguard-go <-> wireguard-go) 1 stream:  ${gbit(med(rows.map((r) => r.ref1)))} (median)`,
    );
    console.log(
      `reference (wireguard-go <-> wireguard-go) 4 streams: ${gbit(med(rows.map((r) => r.ref4)))} (median)`,
    );
    console.log(
      `ours (kernel -> wireguard-go -> our WireGuard + NetStack) 1 stream:  ${gbit(med(rows.map((r) => r.our1)))} (median)`,
    );
    console.log(
      `ours (kernel -> wireguard-go -> our WireGuard + NetStack) 4 streams: ${gbit(med(rows.map((r) => r.our4)))} (median)`,
    );
    if (server.errors.length) console.log(`iperf3 server errors: ${server.errors.map(String).join('; ')}`);
    console.log(
      `our process CPU during the single stream (round 1): ${(cpuShare * 100).toFixed(0)} % of one core; packets in ${pk.packetsIn}, out ${pk.packetsOut} (${(pk.packetsOut / Math.max(1, pk.packetsIn)).toFixed(2)} out per in)`,
    );
    for (const line of top) console.log(`  top self time: ${line}`);
    const ratio = med(rows.map((r) => r.our1 / r.ref1));

    // Accepted + closed connections/s: the server ends every connection at once; a kernel client churns.
    ours.stack.listen({ port: 9 }, (s) => {
      s.on('error', () => {});
      s.resume();
      s.end();
    });
    const churn = await exec(
      kp.ns,
      process.execPath,
      ['-e', KERNEL_CLIENT_SCRIPT, 'churn', ours.tunnel4, '9', '32', '3000'],
      {
        timeoutMs: 20_000,
      },
    );
    const c = JSON.parse(churn.stdout.trim()) as { done: number; failed: number; ms: number };
    console.log(
      `accepted+closed connections/s: ${Math.round((c.done * 1000) / c.ms)} (${c.done} in ${c.ms} ms, ${c.failed} failed)`,
    );

    // Heap per idle established connection.
    const idle: TcpSocketStream[] = [];
    ours.stack.listen({ port: 10, backlog: 256 }, (s) => {
      s.on('error', () => {});
      idle.push(s);
    });
    const COUNT = 1000;
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const before = process.memoryUsage().heapUsed;
    const hold = lab.spawn(
      kp.ns,
      process.execPath,
      ['-e', KERNEL_CLIENT_SCRIPT, 'hold', ours.tunnel4, '10', String(COUNT)],
      {
        stdin: 'pipe',
      },
    );
    const t0 = performance.now();
    while (idle.length < COUNT && performance.now() - t0 < 30_000 && hold.exit === undefined) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500)); // let delayed ACKs and small buffers settle
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const after = process.memoryUsage().heapUsed;
    const established = idle.filter((s) => s.tcpState === 'established').length;
    if (established < COUNT) {
      console.log(
        `idle connections: only ${established} of ${COUNT} established (${idle.length} accepted; client: ${hold.stderr.trim().slice(0, 200) || 'no error'})`,
      );
    }
    console.log(
      `heap per idle established connection: ${((after - before) / Math.max(1, established) / 1024).toFixed(2)} KiB (${established} established, heap +${((after - before) / 1048576).toFixed(2)} MiB)`,
    );
    hold.child.stdin?.end();
    await hold.stop();
    console.log(`ratio=${ratio.toFixed(2)}`);
  } finally {
    await ours?.close();
    await lab.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
