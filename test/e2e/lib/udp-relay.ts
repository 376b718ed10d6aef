// SPDX-License-Identifier: Apache-2.0
// Impairments between two WireGuard endpoints, because this kernel has no `netem`:
// - `UdpRelay`: a UDP relay in the test process that delays every datagram by a fixed time and holds back a
//   seeded fraction of them a little longer, so that later datagrams overtake them (reordering). Its queues are
//   bounded; what does not fit is dropped and counted.
// - `addRandomDrop()`: an iptables `statistic --mode random` DROP rule on an interface inside a namespace.
//
// Relay shape: two sockets, side `a` and side `b`. A datagram received on `a` leaves from `b` towards b's
// target, and the other way round; a side without a fixed target sends to whoever last sent to it. So peer A is
// configured with endpoint = `relay.a` and peer B with endpoint = `relay.b`, and each sees the relay as the
// other. One timer serves both queues: with a fixed delay each queue is already in due order (FIFO), which keeps
// the relay cheap enough for bulk TCP tests (no timer per datagram).

import { createSocket, type Socket } from 'node:dgram';
import { exec, LabError, type Ns } from './netns.js';
import type { Endpoint } from './wireguard-go.js';

export interface RelaySide {
  /** Address to bind, e.g. the root end of a veth. Port 0 or omitted = ephemeral. */
  bind: Endpoint | { address: string; port?: number };
  /** Where datagrams arriving on the *other* side are sent from this side; omitted = last sender seen here. */
  target?: Endpoint;
}

export interface UdpRelayOptions {
  a: RelaySide;
  b: RelaySide;
  /** Fixed one-way delay in ms, both directions (default 0). */
  delayMs?: number;
  /** Fraction [0, 1] of datagrams held back by `reorderExtraMs` more (default 0). */
  reorderRate?: number;
  /** Extra hold-back of reordered datagrams (default max(1, delayMs / 2)). */
  reorderExtraMs?: number;
  /** Seed of the reordering choice (default 1). */
  seed?: number;
  /** Max datagrams queued per direction; beyond that they are dropped and counted (default 4096). */
  maxQueue?: number;
}

export interface RelayCounters {
  /** Datagrams sent out towards b / towards a. */
  aToB: number;
  bToA: number;
  /** Datagrams that were held back to be reordered. */
  reordered: number;
  /** Datagrams dropped because a queue was full. */
  queueDrops: number;
  /** Datagrams dropped because the side had no target yet (nobody had sent to it). */
  noTarget: number;
}

interface Queued {
  due: number;
  data: Buffer;
}

/** FIFO of fixed capacity without per-item allocation of the container (head index, compacted lazily). */
class Fifo {
  private items: Queued[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(q: Queued): void {
    this.items.push(q);
  }
  peek(): Queued | undefined {
    return this.items[this.head];
  }
  shift(): Queued | undefined {
    const q = this.items[this.head];
    if (q === undefined) return undefined;
    this.items[this.head++] = undefined as unknown as Queued;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return q;
  }
}

/** mulberry32: small, seeded, good enough to pick which datagrams to reorder. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Direction {
  readonly normal = new Fifo();
  readonly held = new Fifo();
  get length(): number {
    return this.normal.length + this.held.length;
  }
}

export class UdpRelay {
  /** Bound address of side a / side b (configure peer A with `a`, peer B with `b`). */
  readonly a: Endpoint;
  readonly b: Endpoint;
  readonly counters: RelayCounters = { aToB: 0, bToA: 0, reordered: 0, queueDrops: 0, noTarget: 0 };
  private readonly sockA: Socket;
  private readonly sockB: Socket;
  private targetA: Endpoint | undefined;
  private targetB: Endpoint | undefined;
  private readonly toB = new Direction();
  private readonly toA = new Direction();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly delayMs: number;
  private readonly reorderRate: number;
  private readonly reorderExtraMs: number;
  private readonly maxQueue: number;
  private readonly random: () => number;
  private closed = false;

  private constructor(opts: UdpRelayOptions, sockA: Socket, sockB: Socket) {
    this.sockA = sockA;
    this.sockB = sockB;
    const addrA = sockA.address();
    const addrB = sockB.address();
    this.a = { address: addrA.address, port: addrA.port };
    this.b = { address: addrB.address, port: addrB.port };
    this.targetA = opts.a.target;
    this.targetB = opts.b.target;
    this.delayMs = opts.delayMs ?? 0;
    this.reorderRate = opts.reorderRate ?? 0;
    this.reorderExtraMs = opts.reorderExtraMs ?? Math.max(1, this.delayMs / 2);
    this.maxQueue = opts.maxQueue ?? 4096;
    this.random = seededRandom(opts.seed ?? 1);
  }

  static async start(opts: UdpRelayOptions): Promise<UdpRelay> {
    const delay = opts.delayMs ?? 0;
    const rate = opts.reorderRate ?? 0;
    if (!(delay >= 0 && delay <= 10_000)) {
      throw new LabError('NEX_ERR_E2E_INVALID', `delayMs must be within 0..10000, got ${delay}`);
    }
    if (!(rate >= 0 && rate <= 1)) {
      throw new LabError('NEX_ERR_E2E_INVALID', `reorderRate must be a fraction within 0..1, got ${rate}`);
    }
    const [sockA, sockB] = await Promise.all([bindSocket(opts.a.bind), bindSocket(opts.b.bind)]);
    const relay = new UdpRelay(opts, sockA, sockB);
    sockA.on('message', (msg, rinfo) => {
      relay.targetA = opts.a.target ?? { address: rinfo.address, port: rinfo.port };
      relay.enqueue(relay.toB, msg);
    });
    sockB.on('message', (msg, rinfo) => {
      relay.targetB = opts.b.target ?? { address: rinfo.address, port: rinfo.port };
      relay.enqueue(relay.toA, msg);
    });
    return relay;
  }

  private enqueue(dir: Direction, data: Buffer): void {
    if (this.closed) return;
    if (dir.length >= this.maxQueue) {
      this.counters.queueDrops++;
      return;
    }
    const now = performance.now();
    if (this.reorderRate > 0 && this.random() < this.reorderRate) {
      this.counters.reordered++;
      dir.held.push({ due: now + this.delayMs + this.reorderExtraMs, data });
    } else {
      dir.normal.push({ due: now + this.delayMs, data });
    }
    if (this.delayMs === 0 && this.reorderRate === 0) this.flush();
    else this.arm();
  }

  /** Arms the single timer at the earliest due time of the four queues. */
  private arm(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const f of [this.toB.normal, this.toB.held, this.toA.normal, this.toA.held]) {
      const q = f.peek();
      if (q && q.due < next) next = q.due;
    }
    if (next === Number.POSITIVE_INFINITY || next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.flush(), Math.max(0, next - performance.now()));
  }

  private flush(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    // setTimeout may fire up to ~1 ms early relative to performance.now(); allow that slack.
    const now = performance.now() + 0.5;
    this.drain(this.toB, now, this.sockB, this.targetB, 'aToB');
    this.drain(this.toA, now, this.sockA, this.targetA, 'bToA');
    this.arm();
  }

  private drain(
    dir: Direction,
    now: number,
    sock: Socket,
    target: Endpoint | undefined,
    key: 'aToB' | 'bToA',
  ): void {
    for (;;) {
      const n = dir.normal.peek();
      const h = dir.held.peek();
      const q = n && n.due <= now && (!h || n.due <= h.due) ? n : h && h.due <= now ? h : undefined;
      if (!q) return;
      if (q === n) dir.normal.shift();
      else dir.held.shift();
      if (!target) {
        this.counters.noTarget++;
        continue;
      }
      this.counters[key]++;
      sock.send(q.data, target.port, target.address);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([closeSocket(this.sockA), closeSocket(this.sockB)]);
  }
}

function bindSocket(bind: { address: string; port?: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({
      type: bind.address.includes(':') ? 'udp6' : 'udp4',
      // Bulk tests push tens of thousands of datagrams through; ask for large buffers so the relay itself does
      // not become the lossy link (the kernel caps them at rmem_max/wmem_max).
      recvBufferSize: 8 * 1024 * 1024,
      sendBufferSize: 8 * 1024 * 1024,
    });
    s.once('error', reject);
    s.bind(bind.port ?? 0, bind.address, () => {
      s.removeListener('error', reject);
      // A send error (e.g. target namespace gone during cleanup) must not crash the test process.
      s.on('error', () => {});
      resolve(s);
    });
  });
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

export interface DropRule {
  /** Packets the rule has dropped so far (iptables counter). */
  dropped(): Promise<number>;
  /** Deletes the rule. Idempotent. */
  remove(): Promise<void>;
}

/**
 * Adds `-m statistic --mode random --probability p -j DROP` for packets entering (`in`) or leaving (`out`)
 * `ifname` inside `ns`, for IPv4 and IPv6 (iptables and ip6tables). Returns a handle to read the drop
 * counter and remove the rule; the rule also goes away with its namespace.
 */
export async function addRandomDrop(
  ns: Ns,
  ifname: string,
  probability: number,
  direction: 'in' | 'out' = 'in',
): Promise<DropRule> {
  if (!(probability > 0 && probability <= 1)) {
    throw new LabError('NEX_ERR_E2E_INVALID', `drop probability must be within (0, 1], got ${probability}`);
  }
  const chain = direction === 'in' ? 'INPUT' : 'OUTPUT';
  const spec = [
    chain,
    direction === 'in' ? '-i' : '-o',
    ifname,
    '-m',
    'statistic',
    '--mode',
    'random',
    '--probability',
    String(probability),
    '-m',
    'comment',
    '--comment',
    `nxe-drop-${ifname}`,
    '-j',
    'DROP',
  ];
  const tools = ['iptables', 'ip6tables'];
  for (const tool of tools) await exec(ns, tool, ['-w', '-A', ...spec]);
  let removed = false;
  return {
    async dropped() {
      let total = 0;
      for (const tool of tools) {
        const r = await exec(ns, tool, ['-w', '-L', chain, '-v', '-x', '-n']);
        for (const line of r.stdout.split('\n')) {
          if (line.includes(`nxe-drop-${ifname}`)) total += Number(line.trim().split(/\s+/)[0]);
        }
      }
      return total;
    },
    async remove() {
      if (removed) return;
      removed = true;
      for (const tool of tools) await exec(ns, tool, ['-w', '-D', ...spec], { check: false });
    },
  };
}
