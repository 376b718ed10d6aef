// SPDX-License-Identifier: Apache-2.0
// `npm run bench:testbed` (root; issue 17): our ceiling against a modern peer, and the reference in the
// same run. Two topologies of two network namespaces each, joined by a veth:
//   ours:      [ns o: nexd proxy --wg-config, kernel iperf3/echo on 127.0.0.1] --veth--
//              [ns p: modern wireguard-go on a TUN, kernel TCP behind it]
//   reference: [ns a: modern wireguard-go + kernel TCP] --veth-- [ns b: the same]
// The modern wireguard-go is the test peer built from golang.zx2c4.com/wireguard
// (scripts/test-peers/wireguard-go: UDP GSO/GRO and TUN offloads on by default; the npm script builds it
// once into ~/.cache/nexodus-test); Debian's old one is what the interop tests keep using. Figures:
//   - iperf3 through the proxy, ingress (iperf3 -c in p -> our ingress rule -> iperf3 -s in o) and egress
//     (iperf3 -c in o -> our egress rule -> iperf3 -s in p), each fwd / rev (-R) / -P 4, and the same
//     three modes over the reference pair. Each of our six is divided by the reference's figure of the
//     same mode (fwd by fwd, -P 4 by -P 4); min_ratio is the lowest of the six.
//   - connection setup: N sequential connections (connect, 1 byte, its echo, close) through our ingress
//     and our egress rule, and over the reference; conn/s = N / wall time, p99 of connect -> echo. The
//     last line reports the worse of ingress and egress (lower rate, higher p99).
//   - nexd's memory: VmRSS once the tunnel is up and before any traffic (idle), VmHWM at the end (peak),
//     and VmRSS after every connection closed (printed, for "returns to idle").
// Each figure is the median of --rounds rounds (ours and the reference alternate within a round, so a
// burst of load elsewhere on the machine hits both). Options: --seconds S per iperf3 run (default 10),
// --rounds R (3), --connections N (1000), --quick (1 s, 1 round, 100 connections, to check it runs).
// Last line:
//   min_ratio=<x> conn_per_s=<n> p99_ms=<x> rss_idle_mb=<n> rss_peak_mb=<n>
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab, type Ns, waitFor } from '../test/e2e/lib/netns.js';
import {
  type IperfOptions,
  type IperfResult,
  referencePair,
  runIperfClient,
  TUNNEL4,
} from '../test/e2e/lib/reference-pair.js';
import { rootSkipReason } from '../test/e2e/lib/root.js';
import { findTestPeerBin } from '../test/e2e/lib/test-peers.js';
import {
  connectionSetup,
  echoServer,
  nexdDropCounters,
  OURS,
  PORTS,
  type Setup,
  socketBufferSysctls,
  testbedTopology,
  udpSockets,
} from '../test/e2e/lib/testbed.js';
import { cpuSeconds, peakRssMiB, rssMiB } from './proc-status.js';

type Mode = 'fwd' | 'rev' | 'p4';
const MODES: Record<Mode, IperfOptions> = { fwd: {}, rev: { reverse: true }, p4: { parallel: 4 } };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const gbit = (bps: number) => (bps / 1e9).toFixed(2);

/** One iperf3 run; with `pid`, also that process's CPU share (of one core) over the run. */
async function iperf(ns: Ns, dst: string, port: number, seconds: number, mode: Mode, pid?: number) {
  const c0 = pid ? cpuSeconds(pid) : undefined;
  const t0 = performance.now();
  const r: IperfResult = await runIperfClient(ns, dst, { ...MODES[mode], port, seconds });
  const wall = (performance.now() - t0) / 1000;
  let cpu: number | undefined;
  if (pid && c0) {
    const c1 = cpuSeconds(pid);
    cpu = (c1.user - c0.user + c1.sys - c0.sys) / wall;
  }
  return { ...r, cpu };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds ?? (values.quick ? 1 : 10));
  const rounds = Math.max(1, Number(values.rounds ?? (values.quick ? 1 : 3)));
  const connections = Number(values.connections ?? (values.quick ? 100 : 1000));
  for (const [name, v] of [
    ['--seconds', seconds],
    ['--rounds', rounds],
    ['--connections', connections],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1, got ${v}`);
  }
  const skip = rootSkipReason(['ip', 'iperf3', 'wg', 'sysctl', 'curl']);
  const wgBin = findTestPeerBin('wireguard-go', 'wireguard-go');
  if (skip || !wgBin) {
    console.log(
      `bench:testbed skipped: ${skip ?? 'needs the modern wireguard-go test peer (build it: bash scripts/test-peers/build.sh wireguard-go)'}`,
    );
    process.exitCode = 1;
    return;
  }
  console.log(
    `testbed: ${seconds} s per iperf3 run, ${rounds} round(s), ${connections} connections; ${cpus().length} cores, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(`peer: ${wgBin}`);
  const lab = await Lab.create('tbd');
  try {
    const t = await testbedTopology(lab, wgBin);
    const ref = await referencePair(lab, 'tbr', {
      wireguardGo: wgBin,
      prepareNs: async (ns) => void (await socketBufferSysctls(ns)),
    });
    await ref.iperfServer('b', PORTS.iperfPeer);
    await echoServer(lab, ref.b.ns, PORTS.echoPeer);
    console.log(`socket buffers: o ${t.sysctls.o}; p ${t.sysctls.p}`);
    const granted = t.nexd.child.logs.find(
      (l) => l.msg === 'WireGuard UDP socket bound; kernel granted buffer sizes',
    );
    if (granted)
      console.log(
        `nexd UDP socket: asked ${granted.requested} with SO_RCVBUF/SO_SNDBUF (capped at rmem_max/wmem_max), getsockopt says rcvbuf ${granted.recvBufferBytes}, sndbuf ${granted.sendBufferBytes} (doubled); wireguard-go as root uses SO_RCVBUFFORCE for 7 MiB`,
      );

    // The tunnel is up once one echo comes back through it (the first dial waits out the handshake).
    await waitFor(
      'our tunnel',
      () => connectionSetup(t.p, OURS.o4, PORTS.echoIngress, 1).catch(() => undefined),
      30_000,
    );
    await waitFor(
      'the reference tunnel',
      () => connectionSetup(ref.a.ns, TUNNEL4.b, PORTS.echoPeer, 1).catch(() => undefined),
      30_000,
    );
    const rssIdle = rssMiB(t.pid);
    console.log(`nexd RSS idle (tunnel up, no traffic yet): ${rssIdle.toFixed(1)} MiB`);

    const ours: Record<string, number[]> = {};
    const refs: Record<Mode, number[]> = { fwd: [], rev: [], p4: [] };
    const setup: Record<'ingress' | 'egress' | 'reference', Setup[]> = {
      ingress: [],
      egress: [],
      reference: [],
    };
    const cpu: Record<string, number[]> = {};
    const push = (m: Record<string, number[]>, k: string, v: number) => (m[k] ??= []).push(v);
    // Warm-up (not counted): JIT, congestion windows, the first buffers of each path.
    await iperf(t.p, OURS.o4, PORTS.iperfIngress, 1, 'fwd').catch(() => undefined);
    await iperf(ref.a.ns, TUNNEL4.b, PORTS.iperfPeer, 1, 'fwd').catch(() => undefined);
    for (let round = 1; round <= rounds; round++) {
      for (const mode of Object.keys(MODES) as Mode[]) {
        const ing = await iperf(t.p, OURS.o4, PORTS.iperfIngress, seconds, mode, t.pid);
        const eg = await iperf(t.o, '127.0.0.1', PORTS.iperfEgress, seconds, mode, t.pid);
        const rf = await iperf(ref.a.ns, TUNNEL4.b, PORTS.iperfPeer, seconds, mode);
        push(ours, `ingress ${mode}`, ing.bitsPerSecond);
        push(ours, `egress ${mode}`, eg.bitsPerSecond);
        push(cpu, `ingress ${mode}`, ing.cpu ?? Number.NaN);
        push(cpu, `egress ${mode}`, eg.cpu ?? Number.NaN);
        refs[mode].push(rf.bitsPerSecond);
        console.log(
          `  round ${round} ${mode.padEnd(3)}: ingress ${gbit(ing.bitsPerSecond)} (retr ${ing.retransmits ?? '?'}), egress ${gbit(eg.bitsPerSecond)} (retr ${eg.retransmits ?? '?'}), wg-go<->wg-go ${gbit(rf.bitsPerSecond)} (retr ${rf.retransmits ?? '?'}) Gbit/s`,
        );
      }
      setup.ingress.push(await connectionSetup(t.p, OURS.o4, PORTS.echoIngress, connections));
      setup.egress.push(await connectionSetup(t.o, '127.0.0.1', PORTS.echoEgress, connections));
      setup.reference.push(await connectionSetup(ref.a.ns, TUNNEL4.b, PORTS.echoPeer, connections));
    }

    const rssPeak = peakRssMiB(t.pid);
    // Every connection is closed by now: a figure to compare with idle (item 4 of the issue), not a gate.
    const rssAfter = rssMiB(t.pid);

    console.log('');
    console.log('throughput (Gbit/s, median)   ours    wg-go<->wg-go   ratio   nexd CPU');
    let minRatio = Number.POSITIVE_INFINITY;
    for (const dir of ['ingress', 'egress'] as const) {
      for (const mode of Object.keys(MODES) as Mode[]) {
        const key = `${dir} ${mode}`;
        const o = median(ours[key]!);
        const r = median(refs[mode]);
        const ratio = o / r;
        minRatio = Math.min(minRatio, ratio);
        console.log(
          `  ${key.padEnd(27)} ${gbit(o).padStart(6)}  ${gbit(r).padStart(14)}   ${ratio.toFixed(2).padStart(5)}   ${(median(cpu[key]!) * 100).toFixed(0).padStart(4)}%`,
        );
      }
    }
    console.log(
      `connection setup (${connections} sequential, connect + 1-byte echo + close; median of rounds)`,
    );
    const sum = (k: keyof typeof setup) => ({
      perSecond: median(setup[k].map((s) => s.perSecond)),
      p50: median(setup[k].map((s) => s.p50)),
      p99: median(setup[k].map((s) => s.p99)),
    });
    const rows = { ingress: sum('ingress'), egress: sum('egress'), reference: sum('reference') };
    for (const [k, s] of Object.entries(rows))
      console.log(
        `  ${k.padEnd(10)} ${s.perSecond.toFixed(0).padStart(6)} conn/s  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms`,
      );
    console.log(
      `nexd RSS: idle ${rssIdle.toFixed(1)} MiB, peak (VmHWM) ${rssPeak.toFixed(1)} MiB, after the run ${rssAfter.toFixed(1)} MiB`,
    );
    const drops = Object.entries(await nexdDropCounters(t.o));
    const nonZero = drops.filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
    console.log(
      `nexd drops (WireGuard send/receive, netstack): ${nonZero.join(' ') || `none (all ${drops.length} counters 0)`}`,
    );
    console.log(
      "UDP sockets at the end (ss -m: rb/tb are the kernel's doubled figures, twice the usable size; dropped = the receive buffer overflowed):",
    );
    console.log(`  nexd (o):         ${await udpSockets(t.o, PORTS.wg)}`);
    console.log(`  wireguard-go (p): ${await udpSockets(t.p, t.wg.listenPort)}`);
    console.log(`  reference a:      ${await udpSockets(ref.a.ns, ref.a.wg.listenPort)}`);
    console.log(`  reference b:      ${await udpSockets(ref.b.ns, ref.b.wg.listenPort)}`);
    console.log(
      `load average after the run: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (${cpus().length} cores)`,
    );
    const connPerS = Math.min(rows.ingress.perSecond, rows.egress.perSecond);
    const p99 = Math.max(rows.ingress.p99, rows.egress.p99);
    console.log(
      `min_ratio=${minRatio.toFixed(2)} conn_per_s=${connPerS.toFixed(0)} p99_ms=${p99.toFixed(2)} rss_idle_mb=${rssIdle.toFixed(0)} rss_peak_mb=${rssPeak.toFixed(0)}`,
    );
    await t.nexd.stop();
    await ref.close();
  } finally {
    await lab.cleanup();
  }
}

await main();
