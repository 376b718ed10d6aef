// SPDX-License-Identifier: Apache-2.0
// iperf3's control protocol on any Duplex (our NetStack's streams or node:net), so the real `iperf3` binary
// measures our stack: Iperf3Server answers `iperf3 -c`, iperf3Client drives `iperf3 -s`.
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
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { TcpSocketStream } from '@nexodus/netstack';

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

/** Our side's per-stream results (stream i moved `bytes[i]` in `elapsed` s), as both server and client report them. */
function streamResults(bytes: number[], elapsed: number): StreamResult[] {
  return bytes.map((b, i) => ({
    id: iperf3StreamId(i),
    bytes: b,
    retransmits: -1,
    jitter: 0,
    errors: 0,
    packets: 0,
    start_time: 0,
    end_time: elapsed,
  }));
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
      const streams = streamResults(
        active.streams.map((s, i) => (reverse ? senders[i].sent : s.counted)),
        elapsed,
      );
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
    const ours = streamResults(
      data.map((d, i) => (opts.reverse ? d.counted : senders[i].sent)),
      elapsed,
    );
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
