// SPDX-License-Identifier: Apache-2.0
// Our side of the kernel-interop topology: our NetStack behind our WireGuardNode, peered with a kernelPeer().
// Shared by the netstack interop tests and bench/netstack.bench.ts, so both measure the same thing.

import { performance } from 'node:perf_hooks';
import { NetStack, type NetStackOptions } from '@nexodus/netstack';
import { describePacket, TracingLink } from '@nexodus/netstack/testing';
import { encodeKey, generatePrivateKey, WireGuardNode } from '@nexodus/wireguard';
import type { KernelPeer } from './kernel-peer.js';
import type { Endpoint } from './wireguard-go.js';

export const OUR_TUNNEL4 = '198.19.0.2';
export const OUR_TUNNEL6 = 'fd00:19::2';

export interface OurPeer {
  node: WireGuardNode;
  stack: NetStack;
  tunnel4: string;
  tunnel6: string;
  close(): Promise<void>;
}

export interface OurPeerOptions extends Partial<Pick<NetStackOptions, 'tcp' | 'limits'>> {
  /** Where our engine sends (default the kernel peer's wireguard-go), i.e. one side of a relay. */
  via?: { ours: Endpoint; theirs: Endpoint };
  /** Called with a one-line description of every packet in (`<`) and out (`>`) of the stack. */
  trace?: (line: string) => void;
}

/**
 * Opens a WireGuardNode bound to the kernel peer's root-side veth address and a NetStack with 198.19.0.2/24 +
 * fd00:19::2/64 behind it, and peers both ways (wireguard-go gets allowed IPs 198.19.0.2/32, fd00:19::2/128).
 */
export async function ourPeer(kp: KernelPeer, opts: OurPeerOptions = {}): Promise<OurPeer> {
  const node = await WireGuardNode.open({
    privateKey: encodeKey(generatePrivateKey()),
    listenPort: 0,
    bindAddress4: kp.rootAddress4,
    bindAddress6: false,
    peers: [
      {
        publicKey: kp.wg.publicKey,
        endpoint: opts.via?.ours ?? kp.endpoint,
        allowedIps: [`${kp.tunnel4}/32`, `${kp.tunnel6}/128`],
      },
    ],
  });
  const base = { send: (p: Uint8Array) => void node.send(p) };
  const trace = opts.trace;
  const stack = new NetStack({
    addresses: [`${OUR_TUNNEL4}/24`, `${OUR_TUNNEL6}/64`],
    link: trace ? new TracingLink(base, trace, '> ') : base,
    ...(opts.tcp ? { tcp: opts.tcp } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  node.onPacket = trace
    ? (packet) => {
        trace(`< ${describePacket(packet)}`);
        stack.input(packet);
      }
    : (packet) => stack.input(packet);
  await kp.addPeer({
    publicKey: node.publicKey,
    endpoint: opts.via ? opts.via.theirs : { address: kp.rootAddress4, port: node.port },
    allowedIps: [`${OUR_TUNNEL4}/32`, `${OUR_TUNNEL6}/128`],
  });
  // Through a relay, the relay learns where we are from our first datagram: handshake from our side now.
  if (opts.via) node.connect(kp.wg.publicKey);
  return {
    node,
    stack,
    tunnel4: OUR_TUNNEL4,
    tunnel6: OUR_TUNNEL6,
    async close() {
      stack.close();
      await node.close();
    },
  };
}

/** Keeps the last `size` lines (a packet trace to print when a test fails). */
export class TraceRing {
  private readonly lines: string[] = [];
  private next = 0;
  total = 0;
  constructor(readonly size = 400) {}
  readonly push = (line: string): void => {
    this.total++;
    if (this.lines.length < this.size) this.lines.push(`${performance.now().toFixed(1)} ${line}`);
    else {
      this.lines[this.next] = `${performance.now().toFixed(1)} ${line}`;
      this.next = (this.next + 1) % this.size;
    }
  };
  dump(): string {
    return [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)].join('\n');
  }
}

/**
 * Node code run in a namespace (`node -e`) on the kernel's TCP: opens connections to host:port. mode 'churn':
 * `conc` at a time for `ms`, each waits for the server's FIN and closes, prints the count; mode 'hold': opens
 * `count`, prints READY, keeps them until stdin closes.
 */
export const KERNEL_CLIENT_SCRIPT = `
const net = require('node:net');
const [mode, host, port, a, b] = process.argv.slice(1);
if (mode === 'churn') {
  const conc = Number(a), ms = Number(b);
  let done = 0, failed = 0; const end = Date.now() + ms;
  const one = () => {
    if (Date.now() >= end) return;
    const s = net.connect({ host, port: Number(port) });
    s.on('error', () => { failed++; });
    s.on('end', () => s.end());
    s.on('close', (hadErr) => { if (!hadErr) done++; one(); });
  };
  for (let i = 0; i < conc; i++) one();
  setTimeout(() => { console.log(JSON.stringify({ done, failed, ms })); process.exit(0); }, ms + 2000);
} else {
  // In batches: a burst of 1000 SYNs would overflow the listen backlog, which our stack answers with RST.
  const count = Number(a); let up = 0; const socks = [];
  const batch = () => {
    const n = Math.min(64, count - socks.length); let ok = 0;
    for (let i = 0; i < n; i++) {
      const s = net.connect({ host, port: Number(port) }, () => {
        up++; if (++ok === n) { if (up === count) console.log('READY'); else batch(); }
      });
      s.on('error', (e) => { console.error(String(e)); process.exit(1); });
      socks.push(s);
    }
  };
  batch();
  process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
}
`;
