// SPDX-License-Identifier: Apache-2.0
// In-memory doubles for tests and benchmarks (wireguard-go conn/bindtest in spirit): a MemoryNetwork
// that carries datagrams between WireGuardDevices with optional seeded loss/duplication/reordering,
// a seeded deterministic random source, and memoryPair() wiring two devices that know each other.
// Not for production: seededRandom is NOT cryptographically secure.
import type { TimerConstants } from '../constants.js';
import { WireGuardDevice } from '../device.js';
import { encodeKey, generatePrivateKey, publicKeyFromPrivate } from '../keys.js';
import type { Endpoint } from '../peer.js';

/** Deterministic byte source (xorshift32) for reproducible tests. */
export function seededRandom(seed: number): (b: Uint8Array) => void {
  let s = seed >>> 0 || 0x9e3779b9;
  return (b: Uint8Array) => {
    for (let i = 0; i < b.length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      b[i] = s & 0xff;
    }
  };
}

export interface Datagram {
  data: Uint8Array;
  from: Endpoint;
  to: Endpoint;
  /** Simulated time it was sent (the network's `now`, set by deliver()/setNow()). */
  at?: number;
}

export interface Faults {
  /** Probability (0..1) a datagram is lost. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** Probability a datagram is held back behind the next one. */
  reorder?: number;
  seed?: number;
}

type Receiver = { receiveDatagram(data: Uint8Array, from: Endpoint, now: number): void };

/** Carries datagrams between attached receivers when deliver() is called (never re-entrantly). */
export class MemoryNetwork {
  readonly queue: Datagram[] = [];
  /** Every datagram sent, in order (copies), for assertions. Cleared by the test when it likes. */
  readonly log: Datagram[] = [];
  logging = true;
  faults: Faults = {};
  private readonly nodes = new Map<string, Receiver>();
  private rand: () => number = () => 1;
  /** The simulated time stamped on logged datagrams; deliver(now) updates it. */
  now = 0;

  setFaults(f: Faults): void {
    this.faults = f;
    const r = seededRandom(f.seed ?? 1);
    const b = new Uint8Array(4);
    this.rand = () => {
      r(b);
      return ((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0) / 2 ** 32;
    };
  }

  attach(at: Endpoint, node: Receiver): void {
    this.nodes.set(key(at), node);
  }

  /** The sendDatagram of a device sitting at `from`; copies, since the device reuses its buffer. */
  sender(from: Endpoint): (data: Uint8Array, to: Endpoint) => void {
    return (data, to) => {
      const d: Datagram = { data: new Uint8Array(data), from: { ...from }, to: { ...to }, at: this.now };
      if (this.logging) this.log.push({ ...d, data: new Uint8Array(data) });
      const f = this.faults;
      if (f.loss && this.rand() < f.loss) return;
      this.queue.push(d);
      if (f.duplicate && this.rand() < f.duplicate) this.queue.push({ ...d, data: new Uint8Array(d.data) });
      if (f.reorder && this.queue.length >= 2 && this.rand() < f.reorder) {
        const n = this.queue.length;
        [this.queue[n - 1], this.queue[n - 2]] = [this.queue[n - 2], this.queue[n - 1]];
      }
    };
  }

  /** Delivers queued datagrams (and those they cause) until quiet or `max`; returns how many. */
  deliver(now: number, max = 10_000): number {
    this.now = now;
    let n = 0;
    while (this.queue.length > 0 && n < max) {
      const d = this.queue.shift()!;
      this.nodes.get(key(d.to))?.receiveDatagram(d.data, d.from, now);
      n++;
    }
    return n;
  }
}

/** Delivers only the datagrams queued right now (not those they cause): one network "hop" of latency. */
export function deliverHop(net: MemoryNetwork, now: number): number {
  return net.deliver(now, net.queue.length);
}

function key(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

export interface PairOptions {
  timers?: Partial<TimerConstants>;
  presharedKey?: Uint8Array;
  /** Applies to both devices unless cookieLoadThresholdB is given. */
  cookieLoadThreshold?: number;
  /** B's threshold, i.e. 0 to put only the responder under load. */
  cookieLoadThresholdB?: number;
  seed?: number;
  /** Whether B knows A's endpoint too (default true; false = B can only answer). */
  bothEndpoints?: boolean;
  persistentKeepaliveA?: number;
}

export interface MemoryPair {
  net: MemoryNetwork;
  a: WireGuardDevice;
  b: WireGuardDevice;
  keyA: string;
  keyB: string;
  endpointA: Endpoint;
  endpointB: Endpoint;
  /** Packets delivered to A / B (copies), with the peer key they came from. */
  deliveredA: { packet: Uint8Array; peer: string }[];
  deliveredB: { packet: Uint8Array; peer: string }[];
}

/** Two devices, A at 10.0.0.1 (tunnel) / 192.0.2.1:51820 and B at 10.0.0.2 / 192.0.2.2:51820, plus fd00::1/fd00::2. */
export function memoryPair(opts: PairOptions = {}): MemoryPair {
  const net = new MemoryNetwork();
  const random = seededRandom(opts.seed ?? 42);
  const privA = generatePrivateKey(random);
  const privB = generatePrivateKey(random);
  const endpointA: Endpoint = { address: '192.0.2.1', port: 51820 };
  const endpointB: Endpoint = { address: '192.0.2.2', port: 51820 };
  const deliveredA: MemoryPair['deliveredA'] = [];
  const deliveredB: MemoryPair['deliveredB'] = [];
  const a = new WireGuardDevice({
    privateKey: privA,
    random: seededRandom((opts.seed ?? 42) + 1),
    timers: opts.timers,
    cookieLoadThreshold: opts.cookieLoadThreshold,
    output: {
      sendDatagram: net.sender(endpointA),
      deliverPacket: (packet, peer) => deliveredA.push({ packet: new Uint8Array(packet), peer }),
    },
  });
  const b = new WireGuardDevice({
    privateKey: privB,
    random: seededRandom((opts.seed ?? 42) + 2),
    timers: opts.timers,
    cookieLoadThreshold: opts.cookieLoadThresholdB ?? opts.cookieLoadThreshold,
    output: {
      sendDatagram: net.sender(endpointB),
      deliverPacket: (packet, peer) => deliveredB.push({ packet: new Uint8Array(packet), peer }),
    },
  });
  net.attach(endpointA, a);
  net.attach(endpointB, b);
  const keyA = encodeKey(publicKeyFromPrivate(privA));
  const keyB = encodeKey(publicKeyFromPrivate(privB));
  a.addPeer({
    publicKey: keyB,
    endpoint: endpointB,
    allowedIps: ['10.0.0.2/32', 'fd00::2/128'],
    presharedKey: opts.presharedKey,
    persistentKeepalive: opts.persistentKeepaliveA,
  });
  b.addPeer({
    publicKey: keyA,
    endpoint: opts.bothEndpoints === false ? undefined : endpointA,
    allowedIps: ['10.0.0.1/32', 'fd00::1/128'],
    presharedKey: opts.presharedKey,
  });
  return { net, a, b, keyA, keyB, endpointA, endpointB, deliveredA, deliveredB };
}

/** A minimal IPv4 packet (UDP protocol number, no valid checksum needed by the engine) of `size` bytes. */
export function ipv4Packet(src: string, dst: string, size = 60, fill = 0): Uint8Array {
  const p = new Uint8Array(size);
  p.fill(fill, 20);
  p[0] = 0x45;
  p[2] = size >> 8;
  p[3] = size & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  return p;
}

/** A minimal IPv6 packet with `payload` bytes of payload. */
export function ipv6Packet(src: Uint8Array, dst: Uint8Array, payload = 20, fill = 0): Uint8Array {
  const p = new Uint8Array(40 + payload);
  p.fill(fill, 40);
  p[0] = 0x60;
  p[4] = payload >> 8;
  p[5] = payload & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  return p;
}
