// SPDX-License-Identifier: Apache-2.0
// Harness for TCP state-machine tests that read like a trace (smoltcp tcp.rs tests): send a segment from a
// scripted peer into one pure core, then expect the exact segments it answers with.
import assert from 'node:assert/strict';
import type { InterfaceLimits } from '../src/iface/config.js';
import {
  Cidr,
  Interface,
  IpAddress,
  type TcpConfig,
  type TcpListener,
  type TcpSocket,
} from '../src/index.js';
import { Prng } from '../src/testing/prng.js';
import { IpProtocol } from '../src/wire/error.js';
import { emitIpv4Header, Ipv4Packet } from '../src/wire/ipv4.js';
import { fillTcpChecksum, TcpFlag, TcpSegment } from '../src/wire/tcp.js';

export const LOCAL = IpAddress.from('100.100.0.1');
export const PEER = IpAddress.from('100.100.0.2');
export const LOCAL_PORT = 80;
export const PEER_PORT = 49500;

export interface SegSpec {
  flags: string;
  seq: number;
  ack?: number;
  win?: number;
  data?: string | Uint8Array;
  mss?: number;
  ws?: number;
  sackPerm?: boolean;
  sack?: [number, number][];
  ts?: [number, number];
  srcPort?: number;
}

export interface Out {
  flags: string;
  seq: number;
  ack: number;
  win: number;
  len: number;
  mss: number;
  ws: number;
  sackPerm: boolean;
  sack: [number, number][];
  data: string;
}

function flagBits(s: string): number {
  let f = 0;
  for (const p of s.split('|')) {
    const v = (TcpFlag as Record<string, number>)[p.trim()];
    if (v === undefined) throw new Error(`unknown flag ${p}`);
    f |= v;
  }
  return f;
}

function flagNames(f: number): string {
  const order: [number, string][] = [
    [TcpFlag.SYN, 'SYN'],
    [TcpFlag.FIN, 'FIN'],
    [TcpFlag.RST, 'RST'],
    [TcpFlag.PSH, 'PSH'],
    [TcpFlag.ACK, 'ACK'],
  ];
  return order
    .filter(([b]) => f & b)
    .map(([, n]) => n)
    .join('|');
}

/** Default core config for traces: no timestamps/scaling so windows and options are exact. */
export const TRACE_TCP: Partial<TcpConfig> = {
  timestamps: false,
  windowScaling: false,
  recvBufferSize: 32768,
  sendBufferSize: 65536,
};

export class Harness {
  readonly iface: Interface;
  now = 0;
  constructor(tcp: Partial<TcpConfig> = {}, limits: Partial<InterfaceLimits> = {}) {
    this.iface = new Interface({
      addresses: [Cidr.parse('100.100.0.1/16')],
      mtu: 1420,
      random: new Prng(42).fill,
      tcp: { ...TRACE_TCP, ...tcp },
      limits,
    });
  }

  /** Delivers one segment from PEER:PEER_PORT to LOCAL:LOCAL_PORT at time `at` (ms). */
  send(spec: SegSpec, at = this.now): void {
    this.now = at;
    const seg = new TcpSegment();
    seg.srcPort = spec.srcPort ?? PEER_PORT;
    seg.dstPort = LOCAL_PORT;
    seg.seq = spec.seq >>> 0;
    seg.ack = (spec.ack ?? 0) >>> 0;
    seg.flags = flagBits(spec.flags);
    seg.window = spec.win ?? 65535;
    seg.mss = spec.mss ?? 0;
    seg.windowScale = spec.ws ?? -1;
    seg.sackPermitted = spec.sackPerm ?? false;
    if (spec.ts) {
      seg.tsPresent = true;
      seg.tsVal = spec.ts[0];
      seg.tsEcr = spec.ts[1];
    }
    if (spec.sack) {
      seg.sackCount = spec.sack.length;
      spec.sack.forEach(([l, r], i) => {
        seg.sackLeft[i] = l >>> 0;
        seg.sackRight[i] = r >>> 0;
      });
    }
    const data =
      typeof spec.data === 'string' ? new TextEncoder().encode(spec.data) : (spec.data ?? new Uint8Array(0));
    const buf = new Uint8Array(20 + 60 + data.length);
    const hl = seg.emitHeader(buf, 20);
    buf.set(data, 20 + hl);
    const end = 20 + hl + data.length;
    fillTcpChecksum(buf, 20, end, PEER, LOCAL);
    emitIpv4Header(buf, 0, PEER, LOCAL, IpProtocol.Tcp, end - 20, 64, 0);
    this.iface.input(buf.subarray(0, end), this.now);
  }

  /** Runs poll at `at` and returns every TCP segment emitted, parsed. */
  poll(at = this.now): Out[] {
    this.now = at;
    const out: Out[] = [];
    this.iface.poll(this.now, {
      send: (pkt) => {
        const ip = Ipv4Packet.check(pkt);
        assert.ok(typeof ip !== 'number', 'emitted a valid IPv4 packet');
        assert.ok(ip.verifyChecksum());
        const s = new TcpSegment();
        assert.equal(s.parse(ip.payload()), undefined);
        const sack: [number, number][] = [];
        for (let i = 0; i < s.sackCount; i++) sack.push([s.sackLeft[i], s.sackRight[i]]);
        out.push({
          flags: flagNames(s.flags),
          seq: s.seq,
          ack: s.ack,
          win: s.window,
          len: s.payloadLen,
          mss: s.mss,
          ws: s.windowScale,
          sackPerm: s.sackPermitted,
          sack,
          data: new TextDecoder().decode(s.payload().subarray(0, 32)),
        });
      },
    });
    this.iface.dispatchEvents();
    return out;
  }

  /** Polls at `at` and asserts the emitted segments match (only the keys given are compared). */
  expectSent(expected: Partial<Out>[], at = this.now): Out[] {
    const got = this.poll(at);
    const picked = got.map((g, i) => {
      const e = expected[i] ?? {};
      const o: Partial<Out> = {};
      for (const k of Object.keys(e) as (keyof Out)[]) (o as Record<string, unknown>)[k] = g[k];
      return o;
    });
    assert.deepEqual(picked, expected, `segments sent at t=${this.now}: ${JSON.stringify(got)}`);
    return got;
  }

  expectNothing(at = this.now): void {
    const got = this.poll(at);
    assert.deepEqual(got, [], `expected silence at t=${at}`);
  }

  /** The only connection in the table. */
  conn(): TcpSocket {
    const all = [...this.iface.allConnections()];
    assert.equal(all.length, 1, 'exactly one connection');
    return all[0];
  }
}

export const PEER_ISS = 1000;

/** LISTEN on 80, a SYN arrived, our SYN-ACK went out. */
export function synReceived(tcp: Partial<TcpConfig> = {}, limits: Partial<InterfaceLimits> = {}) {
  const h = new Harness(tcp, limits);
  const listener = h.iface.tcpListen(LOCAL_PORT) as TcpListener;
  h.send({ flags: 'SYN', seq: PEER_ISS, mss: 1460, sackPerm: true, win: 65535 });
  const [synAck] = h.expectSent([{ flags: 'SYN|ACK', ack: PEER_ISS + 1 }]);
  return { h, listener, iss: synAck.seq, sock: h.conn() };
}

/** An accepted ESTABLISHED connection; the peer's next seq is PEER_ISS + 1, ours iss + 1. */
export function established(tcp: Partial<TcpConfig> = {}) {
  const r = synReceived(tcp);
  r.h.send({ flags: 'ACK', seq: PEER_ISS + 1, ack: r.iss + 1, win: 65535 });
  r.h.expectNothing();
  const sock = r.listener.accept();
  assert.ok(sock && sock.state === 'established');
  return { ...r, sock, p: PEER_ISS + 1, l: r.iss + 1 };
}

export function sameState(a: TcpSocket, b: Partial<Record<keyof TcpSocket, unknown>>): void {
  const picked: Record<string, unknown> = {};
  for (const k of Object.keys(b)) picked[k] = (a as unknown as Record<string, unknown>)[k];
  assert.deepEqual(picked, b);
}
