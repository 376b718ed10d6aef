// SPDX-License-Identifier: Apache-2.0
// `npm run bench:testbed` (root; issue 17): our ceiling against a modern peer, and the reference in the
// same run. Two topologies of two network namespaces each, joined by a veth:
//   ours:      [ns o: nexd proxy --wg-config, kernel iperf3/echo on 127.0.0.1] --veth--
//              [ns p: modern wireguard-go on a TUN, kernel TCP behind it]
//   reference: [ns a: modern wireguard-go + kernel TCP] --veth-- [ns b: the same]
// The modern wireguard-go is the test peer built from golang.zx2c4.com/wireguard
// (scripts/test-peers/wireguard-go: UDP GSO/GRO and TUN offloads on by default); Debian's old one is what
// the interop tests keep using. Figures:
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
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NexdIn } from '../test/e2e/lib/agent-lab.js';
import { exec, Lab, type Ns, type Proc, waitFor } from '../test/e2e/lib/netns.js';
import {
  type IperfOptions,
  type IperfResult,
  referencePair,
  runIperfClient,
  startIperfServer,
  TUNNEL4,
} from '../test/e2e/lib/reference-pair.js';
import { rootSkipReason } from '../test/e2e/lib/root.js';
import { findTestPeerBin } from '../test/e2e/lib/test-peers.js';
import { WireGuardGo, wgKeyPair } from '../test/e2e/lib/wireguard-go.js';
import { cpuSeconds, peakRssMiB, rssMiB } from './proc-status.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'testbed', 'conn-probe.ts');
/** What the issue asks of the peer's UDP sockets (wireguard-go's own socketBufferSize is 7 MiB). */
const SOCKET_BUFFER_BYTES = 7 * 1024 * 1024;
const OURS = { o4: '10.88.0.1', p4: '10.88.0.2', len: 24, underO: '198.18.88.1', underP: '198.18.88.2' };
const PORTS = {
  wg: 51820,
  iperfIngress: 5201, // our ingress rule, on the tunnel side
  iperfBehindIngress: 5301, // iperf3 -s in o, where the ingress rule dials
  iperfEgress: 5202, // our egress rule, on o's loopback
  iperfPeer: 5201, // iperf3 -s in p (and in the reference's b)
  echoIngress: 7001,
  echoBehindIngress: 7101,
  echoEgress: 7002,
  echoPeer: 7007,
} as const;

type Mode = 'fwd' | 'rev' | 'p4';
const MODES: Record<Mode, IperfOptions> = { fwd: {}, rev: { reverse: true }, p4: { parallel: 4 } };

interface Setup {
  perSecond: number;
  p50: number;
  p99: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const gbit = (bps: number) => (bps / 1e9).toFixed(2);

/** Sets the socket buffer maxima in `ns`; returns what is in force (a child namespace may refuse to set them). */
async function socketBufferSysctls(ns: Ns): Promise<string> {
  const out: string[] = [];
  for (const key of ['net.core.rmem_max', 'net.core.wmem_max']) {
    const set = await exec(ns, 'sysctl', ['-w', `${key}=${SOCKET_BUFFER_BYTES}`], { check: false });
    const now = (await exec(ns, 'sysctl', ['-n', key])).stdout.trim();
    out.push(
      `${key}=${now}${set.code === 0 ? '' : ` (setting ${SOCKET_BUFFER_BYTES} refused: ${set.stderr.trim().split(': ').pop()})`}`,
    );
  }
  return out.join(', ');
}

/** The echo half of conn-probe.ts in `ns` on `port`, once it listens. */
async function echoServer(lab: Lab, ns: Ns, port: number): Promise<Proc> {
  const p = lab.spawn(ns, process.execPath, ['--import', 'tsx', PROBE, 'echo', String(port)]);
  await waitFor(
    `echo server on ${port}`,
    () => {
      if (p.exit !== undefined) throw new Error(`echo server exited: ${p.stderr}`);
      return p.stdout.includes('listening') ? true : undefined;
    },
    20_000,
  );
  return p;
}

/** `n` sequential connect + 1-byte echo + close from `ns` to host:port. */
async function connectionSetup(ns: Ns, host: string, port: number, n: number): Promise<Setup> {
  const r = await exec(
    ns,
    process.execPath,
    ['--import', 'tsx', PROBE, 'dial', host, String(port), String(n)],
    {
      timeoutMs: 30_000 + n * 100,
    },
  );
  const { ms, wallMs } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number[]; wallMs: number };
  const s = [...ms].sort((a, b) => a - b);
  return {
    perSecond: (n * 1000) / wallMs,
    p50: s[Math.floor(n * 0.5)]!,
    p99: s[Math.min(n - 1, Math.floor(n * 0.99))]!,
  };
}

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

/** Our side: modern wireguard-go in p, nexd proxy --wg-config in o with the four rules. */
async function ourTopology(lab: Lab, wgBin: string) {
  const o = await lab.netns('tbo');
  const p = await lab.netns('tbp');
  await lab.veth({ ns: o, addrs: [`${OURS.underO}/30`] }, { ns: p, addrs: [`${OURS.underP}/30`] });
  const sysctls = { o: await socketBufferSysctls(o), p: await socketBufferSysctls(p) };
  const ours = await wgKeyPair();
  const wg = await WireGuardGo.start(lab, p, {
    bin: wgBin,
    addresses: [`${OURS.p4}/${OURS.len}`],
    peers: [
      {
        publicKey: ours.publicKey,
        endpoint: { address: OURS.underO, port: PORTS.wg },
        allowedIps: [`${OURS.o4}/32`],
      },
    ],
  });
  const file = join(lab.tempDir('wgconf'), 'wg0.conf');
  writeFileSync(
    file,
    [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      `Address = ${OURS.o4}/${OURS.len}`,
      `ListenPort = ${PORTS.wg}`,
      '',
      '[Peer]',
      `PublicKey = ${wg.publicKey}`,
      `Endpoint = ${OURS.underP}:${wg.listenPort}`,
      `AllowedIPs = ${OURS.p4}/32`,
      '',
    ].join('\n'),
  );
  const servers = [
    await startIperfServer(lab, o, PORTS.iperfBehindIngress),
    await startIperfServer(lab, p, PORTS.iperfPeer),
    await echoServer(lab, o, PORTS.echoBehindIngress),
    await echoServer(lab, p, PORTS.echoPeer),
  ];
  const nexd = await NexdIn.startIn(lab, o, 'tbnexd', {
    globals: ['--wg-config', file, '--health-addr', '127.0.0.1:9464'],
    args: [
      'proxy',
      '--ingress',
      `tcp:${PORTS.iperfIngress}:127.0.0.1:${PORTS.iperfBehindIngress}`,
      '--ingress',
      `tcp:${PORTS.echoIngress}:127.0.0.1:${PORTS.echoBehindIngress}`,
      '--egress',
      `tcp:${PORTS.iperfEgress}:${OURS.p4}:${PORTS.iperfPeer}`,
      '--egress',
      `tcp:${PORTS.echoEgress}:${OURS.p4}:${PORTS.echoPeer}`,
    ],
  });
  const pid = nexd.child.proc.pid!;
  return { o, p, wg, nexd, pid, servers, sysctls };
}

/** Non-zero WireGuard drop counters from nexd's /metrics (the health server in o). */
async function nexdDrops(o: Ns): Promise<string> {
  const r = await exec(o, 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:9464/metrics'], {
    check: false,
  });
  if (r.code !== 0) return `(no /metrics: ${r.stderr.trim()})`;
  const counters = r.stdout.split('\n').filter((l) => /^nexd_wireguard_(send|receive)_drops_total\{/.test(l));
  if (counters.length === 0) return '(not on /metrics)';
  const nonZero = counters
    .filter((l) => !/ 0$/.test(l))
    .map((l) => l.replace(/^nexd_wireguard_(send|receive)_drops_total\{reason="(\w+)"\} /, '$1.$2='));
  return nonZero.length > 0 ? nonZero.join(' ') : `none (all ${counters.length} counters 0)`;
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
    const t = await ourTopology(lab, wgBin);
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
        `nexd UDP socket: rcvbuf ${granted.recvBufferBytes}, sndbuf ${granted.sendBufferBytes} (asked ${granted.requested})`,
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
    console.log(`nexd WireGuard drops: ${await nexdDrops(t.o)}`);
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
