// SPDX-License-Identifier: Apache-2.0
// `npm run bench:agent` (root): iperf3 TCP throughput through nexd agent mode (our WireGuard engine on a
// TUN device, kernel TCP on both ends), in one run:
//   agent <-> agent          two nexd agents registered with the real server (hub namespace routes
//                            between their veths), iperf3 to the peer's VPC IPv4 address
//   agent <-> wireguard-go   nexd agent --wg-config and wireguard-go over a direct veth
//   wg-go <-> wg-go          the reference pair (test/e2e/lib/reference-pair.ts), direct veth
// Each figure is the receiver's goodput of one `iperf3 -c -t BENCH_SECONDS` (default 5) stream, both
// directions for the agent <-> wireguard-go pair; agent <-> agent with each TUN I/O path (NEXD_TUN_IO:
// offload = TSO super-packets split in C, batched = one packet per read, fs = Node's fs on a blocking fd),
// to show what each step buys. Last line: ratio=<agent<->agent / wg-go<->wg-go>.
import { AgentLab, NexdIn, STANDALONE, standaloneAgentPair } from '../test/e2e/lib/agent-lab.js';
import { Lab } from '../test/e2e/lib/netns.js';
import { referencePair, runIperfClient, startIperfServer } from '../test/e2e/lib/reference-pair.js';
import { rootSkipReason } from '../test/e2e/lib/root.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const gbit = (bps: number) => (bps / 1e9).toFixed(2);

async function main(): Promise<void> {
  const skip = rootSkipReason(['ip', 'iperf3', 'wireguard-go', 'wg']);
  if (skip) {
    console.log(`bench:agent skipped: ${skip}`);
    return;
  }
  const lab = await Lab.create('agb');
  try {
    // agent <-> agent through the real service, once per TUN I/O path (see TunIoMode).
    const hub = await AgentLab.create(lab);
    const agentPair = async (mode: string) => {
      const sa = await hub.spoke(`${mode[0]}a`);
      const sb = await hub.spoke(`${mode[0]}b`);
      const env = { env: { NEXD_TUN_IO: mode } };
      const a = await NexdIn.start(hub, sa, env);
      const b = await NexdIn.start(hub, sb, env);
      await a.waitPeer(b.publicKey);
      const srv = await startIperfServer(lab, sb.ns);
      // The first run also waits for the handshake and the routes (iperf3 retries its connect).
      await runIperfClient(sa.ns, b.addresses.ipv4, { seconds: 1 }).catch(() => undefined);
      const r = await runIperfClient(sa.ns, b.addresses.ipv4, { seconds: SECONDS });
      console.log(
        `agent <-> agent (${mode.padEnd(7)}) ${gbit(r.bitsPerSecond)} Gbit/s (retransmits ${r.retransmits ?? '?'})`,
      );
      await srv.stop();
      await Promise.all([a.stop(), b.stop()]);
      return r;
    };
    // batched first: the order shows whether a difference is the path or the machine's load.
    const aa = await agentPair('batched'); // the default
    const ao = await agentPair('offload');
    const ff = await agentPair('fs');

    // agent <-> wireguard-go, both directions.
    const pair = await standaloneAgentPair(lab);
    const srvW = await startIperfServer(lab, pair.wgNs);
    await runIperfClient(pair.agentNs, STANDALONE.wg4, { seconds: 1 }).catch(() => undefined);
    const aw = await runIperfClient(pair.agentNs, STANDALONE.wg4, { seconds: SECONDS });
    const wa = await runIperfClient(pair.agentNs, STANDALONE.wg4, { seconds: SECONDS, reverse: true });
    console.log(
      `agent -> wireguard-go  ${gbit(aw.bitsPerSecond)} Gbit/s (retransmits ${aw.retransmits ?? '?'})`,
    );
    console.log(`wireguard-go -> agent  ${gbit(wa.bitsPerSecond)} Gbit/s`);
    await srvW.stop();
    await pair.agent.stop();

    // The reference: wireguard-go <-> wireguard-go.
    const ref = await referencePair(lab, 'ref');
    const srvR = await ref.iperfServer('b');
    await ref.iperf('a', { seconds: 1 }).catch(() => undefined);
    const ww = await ref.iperf('a', { seconds: SECONDS });
    console.log(
      `wg-go <-> wg-go        ${gbit(ww.bitsPerSecond)} Gbit/s (retransmits ${ww.retransmits ?? '?'})`,
    );
    await srvR.stop();
    await ref.close();
    console.log(
      `agent_agent_gbps=${gbit(aa.bitsPerSecond)} agent_agent_offload_gbps=${gbit(ao.bitsPerSecond)} agent_agent_fs_gbps=${gbit(ff.bitsPerSecond)} agent_wggo_gbps=${gbit(aw.bitsPerSecond)} wggo_agent_gbps=${gbit(wa.bitsPerSecond)} wggo_wggo_gbps=${gbit(ww.bitsPerSecond)} ratio=${(aa.bitsPerSecond / ww.bitsPerSecond).toFixed(2)}`,
    );
  } finally {
    await lab.cleanup();
  }
}

await main();
