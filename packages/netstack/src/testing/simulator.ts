// SPDX-License-Identifier: Apache-2.0
// A deterministic network simulator (smoltcp tests/netsim.rs): two pure cores joined by a seeded lossy,
// delaying, reordering, duplicating wire, driven on a virtual clock. No wall time anywhere: a run's outcome
// depends only on the seeds.
import type { InterfaceConfig } from '../iface/config.js';
import { Interface } from '../iface/interface.js';
import type { PacketLink } from '../link.js';
import { Cidr } from '../wire/ip-address.js';
import { Prng } from './prng.js';

export interface WireOptions {
  /** One-way delay in ms. */
  delay?: number;
  /** Probabilities in [0, 1]. */
  loss?: number;
  duplicate?: number;
  /** Probability that a packet gets up to `jitter` ms extra delay (and so overtakes/gets overtaken). */
  reorder?: number;
  jitter?: number;
  /** Packets longer than this are dropped. */
  mtu?: number;
  /** Bytes per ms the wire carries (0 = unlimited); packets queue behind each other. */
  bandwidth?: number;
  /** Packets the wire queues before dropping (a router buffer). */
  queueLimit?: number;
  /** Optional filter: return false to drop (for scripted loss). */
  filter?: (pkt: Uint8Array, now: number) => boolean;
}

interface InFlight {
  at: number;
  order: number;
  to: Interface;
  pkt: Uint8Array;
}

/** One direction of the wire. */
class Wire implements PacketLink {
  busyUntil = 0;
  readonly counts = { sent: 0, lost: 0, duplicated: 0, reordered: 0, queueDrops: 0 };
  constructor(
    private readonly sim: Simulator,
    private readonly to: Interface,
    readonly opts: WireOptions,
    private readonly rng: Prng,
  ) {}
  send(packet: Uint8Array): void {
    const o = this.opts;
    const now = this.sim.now;
    this.counts.sent++;
    if (o.mtu !== undefined && packet.length > o.mtu) return;
    if (o.filter && !o.filter(packet, now)) {
      this.counts.lost++;
      return;
    }
    if (o.loss && this.rng.next() < o.loss) {
      this.counts.lost++;
      return;
    }
    let at = now + (o.delay ?? 0);
    if (o.bandwidth) {
      const start = Math.max(now, this.busyUntil);
      if (o.queueLimit !== undefined && (start - now) * o.bandwidth > o.queueLimit * 1500) {
        this.counts.queueDrops++;
        return;
      }
      this.busyUntil = start + packet.length / o.bandwidth;
      at = this.busyUntil + (o.delay ?? 0);
    }
    if (o.reorder && this.rng.next() < o.reorder) {
      at += this.rng.next() * (o.jitter ?? 1);
      this.counts.reordered++;
    }
    this.sim.enqueue(at, this.to, packet.slice());
    if (o.duplicate && this.rng.next() < o.duplicate) {
      this.counts.duplicated++;
      this.sim.enqueue(at + 0.01, this.to, packet.slice());
    }
  }
}

export interface SimulatorOptions {
  seed: number;
  /** Wire from a to b and from b to a (b-to-a defaults to the same options). */
  wire?: WireOptions;
  wireBack?: WireOptions;
  a?: Partial<InterfaceConfig>;
  b?: Partial<InterfaceConfig>;
}

export class Simulator {
  now = 0;
  readonly a: Interface;
  readonly b: Interface;
  readonly ab: Wire;
  readonly ba: Wire;
  private inflight: InFlight[] = [];
  private order = 0;
  steps = 0;

  constructor(opts: SimulatorOptions) {
    const rng = new Prng(opts.seed);
    const mk = (addrs: string[], over?: Partial<InterfaceConfig>) =>
      new Interface({
        addresses: addrs.map((x) => Cidr.parse(x)),
        random: new Prng(rng.u32()).fill,
        mtu: 1420,
        ...over,
      });
    this.a = mk(['100.100.0.1/16', '200::1/64'], opts.a);
    this.b = mk(['100.100.0.2/16', '200::2/64'], opts.b);
    this.ab = new Wire(this, this.b, opts.wire ?? {}, new Prng(rng.u32()));
    this.ba = new Wire(this, this.a, opts.wireBack ?? opts.wire ?? {}, new Prng(rng.u32()));
  }

  enqueue(at: number, to: Interface, pkt: Uint8Array): void {
    // Sorted insert from the back (most packets arrive in order).
    const item = { at, order: this.order++, to, pkt };
    const q = this.inflight;
    let i = q.length;
    while (i > 0 && q[i - 1].at > at) i--;
    q.splice(i, 0, item);
  }

  /** Polls both cores and delivers events; call after changing sockets from the test. */
  pollBoth(): void {
    this.a.poll(this.now, this.ab);
    this.b.poll(this.now, this.ba);
    this.a.dispatchEvents();
    this.b.dispatchEvents();
  }

  /** Next time anything happens, or Infinity. */
  nextEventAt(): number {
    let t = this.inflight.length > 0 ? this.inflight[0].at : Number.POSITIVE_INFINITY;
    const pa = this.a.pollAt();
    const pb = this.b.pollAt();
    if (pa !== undefined) t = Math.min(t, pa);
    if (pb !== undefined) t = Math.min(t, pb);
    return t;
  }

  /**
   * Runs until `done()` is true (checked after every step, where `step()` lets the test act as the
   * application) or virtual time passes `maxTime`. Returns true when done() became true.
   */
  run(done: () => boolean, maxTime: number, step?: () => void): boolean {
    for (;;) {
      this.pollBoth();
      step?.();
      this.pollBoth();
      if (done()) return true;
      let t = this.nextEventAt();
      // Nothing scheduled: the application (step) may still have work, i.e. a rate-limited reader draining
      // its buffer. Give it turns until something happens or it is done.
      for (let i = 0; t === Number.POSITIVE_INFINITY && step && i < 100_000 && !done(); i++) {
        step();
        this.pollBoth();
        t = this.nextEventAt();
      }
      if (done()) return true;
      if (t === Number.POSITIVE_INFINITY) return false;
      if (t > maxTime) return false;
      if (t > this.now) this.now = t;
      this.steps++;
      const q = this.inflight;
      let n = 0;
      while (n < q.length && q[n].at <= this.now) n++;
      const due = q.splice(0, n);
      for (const p of due) p.to.input(p.pkt, this.now);
    }
  }

  /** Advances virtual time to t, processing everything on the way. */
  runUntil(t: number, step?: () => void): void {
    this.run(() => this.now >= t, t, step);
    if (this.now < t) this.now = t;
    this.pollBoth();
  }
}
