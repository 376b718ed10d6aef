// SPDX-License-Identifier: Apache-2.0
// The testbed of issue 17, shared by `npm run bench:testbed` and test/e2e/nexd-modern-wireguard-go.test.ts so
// both see the same thing: `nexd proxy --wg-config` in one namespace against the modern wireguard-go (the test
// peer built from golang.zx2c4.com/wireguard, UDP GSO/GRO and TUN offloads on) in another, over a veth:
//   [ns o: nexd proxy; iperf3 -s :5301 and echo :7101 behind the ingress rules] --veth--
//   [ns p: wireguard-go on a TUN, kernel TCP; iperf3 -s :5201 and echo :7007 behind the egress rules]
// plus the probes both use: connection setup (conn-probe.ts), UDP socket buffers and drops (ss -m), and
// nexd's WireGuard drop counters from /metrics.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NexdIn } from './agent-lab.js';
import { exec, type Lab, type Ns, type Proc, waitFor } from './netns.js';
import { startIperfServer } from './reference-pair.js';
import { WireGuardGo, wgKeyPair } from './wireguard-go.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'conn-probe.ts');
/** What the issue asks of the peer's UDP sockets (wireguard-go's own socketBufferSize is 7 MiB). */
export const SOCKET_BUFFER_BYTES = 7 * 1024 * 1024;
export const OURS = {
  o4: '10.88.0.1',
  p4: '10.88.0.2',
  len: 24,
  underO: '198.18.88.1',
  underP: '198.18.88.2',
};
export const PORTS = {
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

export interface Setup {
  perSecond: number;
  p50: number;
  p99: number;
}

/** Sets the socket buffer maxima in `ns`; returns what is in force (a child namespace may refuse to set them). */
export async function socketBufferSysctls(ns: Ns): Promise<string> {
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
export async function echoServer(lab: Lab, ns: Ns, port: number): Promise<Proc> {
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
export async function connectionSetup(ns: Ns, host: string, port: number, n: number): Promise<Setup> {
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

/**
 * Our side of the testbed: the modern wireguard-go in namespace `p` (OURS.p4 on its TUN), `nexd proxy
 * --wg-config` in namespace `o` (OURS.o4) with two ingress and two egress rules (PORTS), kernel iperf3 -s and
 * an echo server behind each side, nexd's /metrics on o's 127.0.0.1:9464. Handshakes happen on first traffic.
 */
export async function testbedTopology(lab: Lab, wgBin: string) {
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

/**
 * The UDP sockets bound to `port` in `ns` as `ss -m` sees them: buffer sizes the kernel granted (rb, tb:
 * twice what was asked, the kernel's bookkeeping) and d, datagrams the socket dropped (a full receive buffer).
 */
export async function udpSockets(ns: Ns, port: number): Promise<string> {
  const r = await exec(ns, 'ss', ['-Huamn', `sport = :${port}`], { check: false });
  const socks = [...r.stdout.matchAll(/skmem:\(r\d+,rb(\d+),t\d+,tb(\d+),.*?,d(\d+)\)/g)].map(
    (m) =>
      `rb ${(Number(m[1]) / 2 ** 20).toFixed(1)} MiB tb ${(Number(m[2]) / 2 ** 20).toFixed(1)} MiB dropped ${m[3]}`,
  );
  return socks.length > 0 ? socks.join('; ') : `(no UDP socket on ${port})`;
}

/**
 * nexd's drop counters from its /metrics (the health server in `o`), keyed `send.<reason>` and
 * `receive.<reason>` (the WireGuard engine) and `netstack.<reason>`. Throws when /metrics does not answer or has none of them.
 */
export async function nexdDropCounters(o: Ns): Promise<Record<string, number>> {
  const r = await exec(o, 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:9464/metrics']);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(
    /^nexd_(?:wireguard_)?(send|receive|netstack)_drops_total\{reason="(\w+)"\} (\d+)$/gm,
  ))
    out[`${m[1]}.${m[2]}`] = Number(m[3]);
  if (Object.keys(out).length === 0) throw new Error('nexd /metrics has no nexd_wireguard_*_drops_total');
  return out;
}
