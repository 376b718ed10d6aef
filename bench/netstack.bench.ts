// SPDX-License-Identifier: Apache-2.0
// Netstack benchmark (issue 3): the kernel's TCP (iperf3 -c in a namespace, behind wireguard-go) against our
// stack behind our WireGuard engine in this process, and, in the same run, the same iperf3 over
// wireguard-go <-> wireguard-go (kernel TCP on both ends) as the reference. Also accepted+closed connections/s
// and heap per idle established connection. The last line is `ratio=<ours/reference single stream>`.
// Run as root: npm run bench:netstack   (env: BENCH_SECONDS=5 per iperf3 run, BENCH_ROUNDS=3 alternating
// reference/ours rounds, BENCH_PROFILE=0 skips the CPU profile of round 1)
//
// Our side speaks iperf3's control protocol (Iperf3Server / iperf3Client below), so the real `iperf3 -c ... -J`
// measures it. This file also exports the glue the e2e tests use (OurPeer), so both measure the same thing.
//
// iperf3's protocol, as much as a TCP test needs (reading guide, in order):
//  1. the client opens the control connection and sends a 37-byte cookie (36 characters + NUL);
//  2. server -> PARAM_EXCHANGE; client -> parameters as JSON prefixed by a 32-bit big-endian length;
//  3. server -> CREATE_STREAMS; the client opens `parallel` data connections, each starting with the cookie;
//  4. server -> TEST_START, TEST_RUNNING; the sender (client, or server with `reverse`) writes blocks;
//  5. client -> TEST_END after `time` seconds; server -> EXCHANGE_RESULTS; the client sends its results JSON,
//     the server answers with its own (bytes per stream id; ids are 1, 3, 4, 5, ... as iperf3 numbers them);
//  6. server -> DISPLAY_RESULTS; client -> IPERF_DONE; both close.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NetStack, type NetStackOptions, type TcpSocketStream } from '@nexodus/netstack';
import { describePacket, TracingLink } from '@nexodus/netstack/testing';
import { encodeKey, generatePrivateKey, WireGuardNode } from '@nexodus/wireguard';
import { type KernelPeer, kernelPeer } from '../test/e2e/lib/kernel-peer.js';
import { exec, Lab, type Ns } from '../test/e2e/lib/netns.js';
import { referencePair, runIperfClient } from '../test/e2e/lib/reference-pair.js';
import { rootSkipReason } from '../test/e2e/lib/root.js';
import type { Endpoint } from '../test/e2e/lib/wireguard-go.js';

// --- iperf3 wire constants (iperf_api.h) ---
export const IPERF3_COOKIE_SIZE = 37; // 36 random characters + NUL
export const IPERF3_STATE = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_DONE: 16,
  ACCESS_DENIED: 0xff, // -1 as a signed byte
  SERVER_ERROR: 0xfe, // -2
} as const;
const JSON_LENGTH_SIZE = 4; // uint32, network order, before every JSON message
const MAX_JSON = 1024 * 1024; // iperf3 caps its JSON messages too; a bigger length is a protocol error
const DEFAULT_BLOCK = 128 * 1024; // iperf3's TCP default `len`
const COOKIE_CHARS = 'abcdefghijklmnopqrstuvwxyz234567';

export class Iperf3Error extends Error {
  readonly code = 'NEX_ERR_IPERF3';
}

/** iperf3 numbers streams 1, 3, 4, 5, ... (iperf_add_stream); both ends must agree. */
export function iperf3StreamId(index: number): number {
  return index === 0 ? 1 : index + 2;
}

export function makeCookie(): Buffer {
  const r = randomBytes(IPERF3_COOKIE_SIZE - 1);
  const out = Buffer.alloc(IPERF3_COOKIE_SIZE);
  for (let i = 0; i < r.length; i++) out[i] = COOKIE_CHARS.charCodeAt(r[i] & 31);
  return out;
}

/** Exact-length reads from a Duplex (control channel), then optionally a byte counter (data streams). */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private error: Error | undefined;
  private waiter: (() => void) | undefined;
  /** Once true, incoming bytes are only counted (a data stream after its cookie). */
  private counting = false;
  counted = 0;

  constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      if (this.counting) {
        this.counted += d.length;
        return;
      }
      this.chunks.push(d);
      this.buffered += d.length;
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (e: Error) => {
      this.error = e;
      this.wake();
    });
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Resolves with exactly `n` bytes; rejects on end, error or after `timeoutMs`. */
  async read(n: number, what: string, timeoutMs = 30_000): Promise<Buffer> {
    const deadline = performance.now() + timeoutMs;
    while (this.buffered < n) {
      if (this.error) throw new Iperf3Error(`${what}: ${this.error.message}`, { cause: this.error });
      if (this.ended) throw new Iperf3Error(`${what}: the connection ended after ${this.buffered} bytes`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Iperf3Error(`${what}: nothing within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.waiter = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }

  async readState(what: string, timeoutMs?: number): Promise<number> {
    return (await this.read(1, what, timeoutMs))[0];
  }

  async readJson(what: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const len = (await this.read(JSON_LENGTH_SIZE, `${what} length`, timeoutMs)).readUInt32BE(0);
    if (len > MAX_JSON) throw new Iperf3Error(`${what}: JSON of ${len} bytes exceeds ${MAX_JSON}`);
    const text = (await this.read(len, what, timeoutMs)).toString('utf8');
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch (e) {
      throw new Iperf3Error(`${what}: invalid JSON (${(e as Error).message}): ${text.slice(0, 80)}`);
    }
  }

  /** Switches to counting: what is buffered and everything after it only adds to `counted`. */
  startCounting(): void {
    this.counting = true;
    this.counted += this.buffered;
    this.chunks = [];
    this.buffered = 0;
  }
}

function writeJson(s: Duplex, obj: unknown): void {
  const body = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(JSON_LENGTH_SIZE);
  head.writeUInt32BE(body.length, 0);
  s.write(Buffer.concat([head, body]));
}

function writeState(s: Duplex, state: number): void {
  s.write(Buffer.of(state));
}

/** Writes `block` repeatedly, honouring backpressure, until stop() is called; counts bytes accepted. */
class BlockSender {
  sent = 0;
  private stopped = false;
  constructor(
    private readonly s: Duplex,
    private readonly block: Buffer,
  ) {
    s.on('drain', this.pump);
    s.on('error', () => this.stop());
    this.pump();
  }
  private readonly pump = (): void => {
    while (!this.stopped && !this.s.destroyed) {
      this.sent += this.block.length;
      if (!this.s.write(this.block)) return;
    }
  };
  stop(): void {
    this.stopped = true;
  }
}

interface StreamResult {
  id: number;
  bytes: number;
  retransmits: number;
  jitter: number;
  errors: number;
  packets: number;
  start_time: number;
  end_time: number;
}

function resultsJson(streams: StreamResult[], sender: boolean): Record<string, unknown> {
  return {
    cpu_util_total: 0,
    cpu_util_user: 0,
    cpu_util_system: 0,
    // -1: we do not know our retransmits (a kernel sender reports its own count).
    sender_has_retransmits: sender ? -1 : 0,
    congestion_used: 'netstack',
    streams,
  };
}

export interface Iperf3TestRecord {
  parallel: number;
  reverse: boolean;
  seconds: number;
  /** Bytes we received (client sends) or sent (reverse), summed over the data streams. */
  bytes: number;
  /** The results JSON the peer sent. */
  peerResults: Record<string, unknown>;
}

/**
 * `iperf3 -s` for TCP tests on any listener that emits Duplex connections (a NetStack TcpServer, net.Server).
 * One test at a time, like iperf3; a second control connection during a test gets ACCESS_DENIED.
 */
export class Iperf3Server {
  readonly tests: Iperf3TestRecord[] = [];
  readonly errors: Error[] = [];
  private active: { cookie: Buffer; want: number; streams: ByteReader[]; ready: () => void } | undefined;
  /** Called when a test starts running (i.e. to start a CPU profile) and when it ends. */
  onRunning: (() => void) | undefined;
  onEnded: (() => void) | undefined;

  /** Attach to a server's 'connection' event. */
  readonly onConnection = (sock: Duplex): void => {
    this.handle(sock).catch((e: Error) => {
      this.errors.push(e);
      sock.destroy();
    });
  };

  private async handle(sock: Duplex): Promise<void> {
    (sock as Partial<TcpSocketStream>).setNoDelay?.(true);
    const r = new ByteReader(sock);
    const cookie = await r.read(IPERF3_COOKIE_SIZE, 'cookie');
    const a = this.active;
    if (a && a.streams.length < a.want && cookie.equals(a.cookie)) {
      a.streams.push(r);
      r.startCounting();
      if (a.streams.length === a.want) a.ready();
      return;
    }
    if (a) {
      writeState(sock, IPERF3_STATE.ACCESS_DENIED);
      sock.end();
      return;
    }
    await this.control(sock, r, cookie);
  }

  private async control(sock: Duplex, r: ByteReader, cookie: Buffer): Promise<void> {
    let ready!: () => void;
    const allStreams = new Promise<void>((res) => (ready = res));
    const active = { cookie: Buffer.from(cookie), want: 0, streams: [] as ByteReader[], ready };
    this.active = active;
    const senders: BlockSender[] = [];
    try {
      writeState(sock, IPERF3_STATE.PARAM_EXCHANGE);
      const p = await r.readJson('parameters');
      if (p.tcp !== true && p.tcp !== 1) throw new Iperf3Error('only TCP tests are supported (no -u)');
      const parallel = Number(p.parallel ?? 1);
      if (!Number.isInteger(parallel) || parallel < 1 || parallel > 128) {
        throw new Iperf3Error(`parallel must be 1..128, got ${p.parallel}`);
      }
      const reverse = p.reverse === true || p.reverse === 1;
      const block = Number(p.len ?? DEFAULT_BLOCK);
      active.want = parallel;
      writeState(sock, IPERF3_STATE.CREATE_STREAMS);
      await Promise.race([
        allStreams,
        r.read(1, 'control during stream set-up', 30_000).then(() => {
          throw new Iperf3Error('client sent a state before all streams connected');
        }),
      ]);
      writeState(sock, IPERF3_STATE.TEST_START);
      writeState(sock, IPERF3_STATE.TEST_RUNNING);
      const t0 = performance.now();
      this.onRunning?.();
      if (reverse) {
        const data = randomBytes(
          Number.isInteger(block) && block > 0 && block <= 1 << 20 ? block : DEFAULT_BLOCK,
        );
        for (const s of active.streams) senders.push(new BlockSender(s.stream, data));
      }
      const seconds = Number(p.time ?? 10);
      const end = await r.readState('TEST_END', (seconds + 30) * 1000);
      if (end !== IPERF3_STATE.TEST_END) throw new Iperf3Error(`expected TEST_END, got state ${end}`);
      const elapsed = (performance.now() - t0) / 1000;
      this.onEnded?.();
      for (const s of senders) s.stop();
      const streams = active.streams.map((s, i) => ({
        id: iperf3StreamId(i),
        bytes: reverse ? senders[i].sent : s.counted,
        retransmits: -1,
        jitter: 0,
        errors: 0,
        packets: 0,
        start_time: 0,
        end_time: elapsed,
      }));
      writeState(sock, IPERF3_STATE.EXCHANGE_RESULTS);
      const peerResults = await r.readJson('client results');
      writeJson(sock, resultsJson(streams, reverse));
      writeState(sock, IPERF3_STATE.DISPLAY_RESULTS);
      // Recorded before IPERF_DONE: the client may exit (and a test look) before that byte is read here.
      this.tests.push({
        parallel,
        reverse,
        seconds: elapsed,
        bytes: streams.reduce((n, s) => n + s.bytes, 0),
        peerResults,
      });
      const done = await r.readState('IPERF_DONE').catch(() => IPERF3_STATE.IPERF_DONE);
      if (done !== IPERF3_STATE.IPERF_DONE) throw new Iperf3Error(`expected IPERF_DONE, got state ${done}`);
    } finally {
      for (const s of senders) s.stop();
      for (const s of active.streams) s.stream.destroy();
      sock.end();
      this.active = undefined;
    }
  }
}

export interface Iperf3ClientOptions {
  /** Opens one TCP connection to the server (control and every data stream). */
  connect: () => Duplex;
  seconds?: number;
  parallel?: number;
  /** The server sends (`-R`). */
  reverse?: boolean;
  block?: number;
}

export interface Iperf3ClientResult {
  /** Bytes the receiving side counted (the server's results when we send). */
  bytesReceived: number;
  bytesSent: number;
  seconds: number;
  bitsPerSecond: number;
  serverResults: Record<string, unknown>;
}

function waitConnected(s: Duplex): Promise<void> {
  return new Promise((res, rej) => {
    const c = s as Partial<TcpSocketStream> & Duplex;
    if (c.connecting === false) return res();
    s.once('connect', () => res());
    s.once('error', rej);
  });
}

/** `iperf3 -c` for a TCP test over connections from `connect` (i.e. NetStack.connect). */
export async function iperf3Client(opts: Iperf3ClientOptions): Promise<Iperf3ClientResult> {
  const seconds = opts.seconds ?? 3;
  const parallel = opts.parallel ?? 1;
  const block = opts.block ?? DEFAULT_BLOCK;
  const cookie = makeCookie();
  const ctrl = opts.connect();
  const r = new ByteReader(ctrl);
  const data: ByteReader[] = [];
  const senders: BlockSender[] = [];
  let ok = false;
  try {
    await waitConnected(ctrl);
    ctrl.write(cookie);
    const s1 = await r.readState('PARAM_EXCHANGE');
    if (s1 !== IPERF3_STATE.PARAM_EXCHANGE) throw new Iperf3Error(`server answered state ${s1} (busy?)`);
    writeJson(ctrl, {
      tcp: true,
      omit: 0,
      time: seconds,
      num: 0,
      blockcount: 0,
      parallel,
      len: block,
      ...(opts.reverse ? { reverse: true } : {}),
      pacing_timer: 1000,
      client_version: '3.12',
    });
    const s2 = await r.readState('CREATE_STREAMS');
    if (s2 !== IPERF3_STATE.CREATE_STREAMS) throw new Iperf3Error(`expected CREATE_STREAMS, got ${s2}`);
    for (let i = 0; i < parallel; i++) {
      const s = opts.connect();
      const dr = new ByteReader(s);
      dr.startCounting();
      data.push(dr);
      await waitConnected(s);
      s.write(cookie);
    }
    const s3 = await r.readState('TEST_START');
    if (s3 !== IPERF3_STATE.TEST_START) throw new Iperf3Error(`expected TEST_START, got ${s3}`);
    const s4 = await r.readState('TEST_RUNNING');
    if (s4 !== IPERF3_STATE.TEST_RUNNING) throw new Iperf3Error(`expected TEST_RUNNING, got ${s4}`);
    const t0 = performance.now();
    if (!opts.reverse) {
      const buf = randomBytes(block);
      for (const d of data) senders.push(new BlockSender(d.stream, buf));
    }
    await new Promise((res) => setTimeout(res, seconds * 1000));
    for (const s of senders) s.stop();
    const elapsed = (performance.now() - t0) / 1000;
    writeState(ctrl, IPERF3_STATE.TEST_END);
    const s5 = await r.readState('EXCHANGE_RESULTS');
    if (s5 !== IPERF3_STATE.EXCHANGE_RESULTS) throw new Iperf3Error(`expected EXCHANGE_RESULTS, got ${s5}`);
    const ours = data.map((d, i) => ({
      id: iperf3StreamId(i),
      bytes: opts.reverse ? d.counted : senders[i].sent,
      retransmits: -1,
      jitter: 0,
      errors: 0,
      packets: 0,
      start_time: 0,
      end_time: elapsed,
    }));
    writeJson(ctrl, resultsJson(ours, !opts.reverse));
    const theirs = await r.readJson('server results');
    const s6 = await r.readState('DISPLAY_RESULTS');
    if (s6 !== IPERF3_STATE.DISPLAY_RESULTS) throw new Iperf3Error(`expected DISPLAY_RESULTS, got ${s6}`);
    writeState(ctrl, IPERF3_STATE.IPERF_DONE);
    ctrl.end();
    for (const d of data) d.stream.end();
    // The server closes after IPERF_DONE; waiting for that keeps the next test from finding it busy.
    await r.read(1, 'server close', 5000).catch(() => undefined);
    ok = true;
    const theirStreams = Array.isArray(theirs.streams) ? (theirs.streams as Array<{ bytes?: number }>) : [];
    const sentTotal = ours.reduce((n, s) => n + s.bytes, 0);
    const received = opts.reverse ? sentTotal : theirStreams.reduce((n, s) => n + Number(s.bytes ?? 0), 0);
    return {
      bytesReceived: received,
      bytesSent: opts.reverse ? theirStreams.reduce((n, s) => n + Number(s.bytes ?? 0), 0) : sentTotal,
      seconds: elapsed,
      bitsPerSecond: (received * 8) / elapsed,
      serverResults: theirs,
    };
  } finally {
    for (const s of senders) s.stop();
    if (!ok) {
      ctrl.destroy();
      for (const d of data) d.stream.destroy();
    }
  }
}

// --- glue: our stack behind our WireGuard engine, peered with a kernelPeer() ---

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

// --- the benchmark ---

function gbit(bps: number): string {
  return `${(bps / 1e9).toFixed(3)} Gbit/s`;
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Top self-time functions of a V8 CPU profile. Native frames (C++ bindings: dgram's send, sodium-native's
 * AEAD, whose symbol V8 may guess wrong, i.e. `extension_pbkdf2_sha512_async`) are named after their
 * JavaScript caller, so `[native send] < doSend` reads as the sendmsg() under dgram.
 */
function topFunctions(
  profile: { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] },
  n: number,
): string[] {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parentOf = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node);
  const where = (node: CpuProfileNode) => {
    const f = node.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(packages|node_modules|node:)/, '$1')}:${f.lineNumber + 1}`;
  };
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    total += t;
    const f = node.callFrame;
    let key: string;
    if (f.url) key = where(node);
    else if (f.functionName.startsWith('('))
      key = f.functionName; // (idle), (program), (garbage collector)
    else {
      const caller = parentOf.get(node.id);
      key = `[native ${f.functionName}] < ${caller ? where(caller) : '?'}`;
    }
    byName.set(key, (byName.get(key) ?? 0) + t);
  }
  return [...byName.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
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
          top = topFunctions(prof as never, 15);
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
