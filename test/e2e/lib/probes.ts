// SPDX-License-Identifier: Apache-2.0
// Traffic sources and sinks run by the Linux kernel inside a lab namespace:
// - `kernelPing()`: ICMP/ICMPv6 echo from a namespace, with RTTs. Debian's minimal images have no `ping`
//   (iputils-ping is not among our dependencies), so this sends echo requests through a raw socket opened by
//   `socat IP4-SENDTO:<dst>:1` / `IP6-SENDTO:[<dst>]:58` and reads replies from another (`IP4-RECV`); the
//   kernel fills in the IP header (and the ICMPv6 checksum, RFC 3542 3.1).
// - `udpEchoServer()`: a UDP echo server (node, dual-stack) inside a namespace.
// - `udpSend()`: one datagram from a namespace (socat), e.g. to make wireguard-go initiate a handshake.

import { exec, type Lab, LabError, type Ns, type Proc, waitFor } from './netns.js';
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  internetChecksum,
} from './packets.js';

export interface PingOptions {
  count?: number;
  /** Gap between requests (default 50 ms). */
  intervalMs?: number;
  /** How long to wait for replies after the last request (default 1000 ms). */
  timeoutMs?: number;
  /** Bytes of echo data after our 16-byte marker (default 40). */
  extraBytes?: number;
}

export interface PingResult {
  sent: number;
  received: number;
  /** Round-trip times in ms of the received echoes, in sequence order. */
  rtts: number[];
  /** Median RTT in ms (NaN when nothing came back). */
  medianRtt: number;
}

const MARKER = Buffer.from('nxe-ping');

/** Waits until a `socat -d -d` process has its sockets open, so nothing written or sent early is lost. */
async function socatReady(proc: Proc, what: string): Promise<void> {
  await waitFor(what, () => {
    if (proc.exit !== undefined)
      throw new LabError('NEX_ERR_E2E_COMMAND', `socat exited: ${proc.stderr.trim()}`);
    return proc.stderr.includes('starting data transfer loop') ? true : undefined;
  });
}

/**
 * Pings `dst` from namespace `ns` through the kernel (and whatever tunnel routes it).
 *
 * Two socat processes: a sender whose read size `-b` equals one echo message, so that two requests written
 * back to back can never be read (and sent) as one datagram when socat is scheduled late; and a receiver on
 * a raw ICMP socket, which sees every ICMP message the namespace gets; ours are picked out by type,
 * identifier and marker.
 */
export async function kernelPing(lab: Lab, ns: Ns, dst: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 5;
  const interval = opts.intervalMs ?? 50;
  const v6 = dst.includes(':');
  const len = 8 + MARKER.length + 8 + (opts.extraBytes ?? 40);
  const lifetime = String(Math.ceil((count * interval + (opts.timeoutMs ?? 1000) + 5000) / 1000));
  const receiver = lab.spawn(
    ns,
    'socat',
    ['-d', '-d', '-T', lifetime, '-u', v6 ? 'IP6-RECV:58' : 'IP4-RECV:1', '-'],
    {
      rawStdout: true,
    },
  );
  const sender = lab.spawn(
    ns,
    'socat',
    ['-d', '-d', '-b', String(len), '-u', '-', v6 ? `IP6-SENDTO:[${dst}]:58` : `IP4-SENDTO:${dst}:1`],
    { stdin: 'pipe' },
  );
  const identifier = (process.pid ^ (Math.floor(performance.now()) << 4)) & 0xffff;
  const sentAt = new Map<number, number>();
  const rtts = new Map<number, number>();
  let buf: Buffer = Buffer.alloc(0);
  const replyType = v6 ? ICMPV6_ECHO_REPLY : ICMP_ECHO_REPLY;
  receiver.child.stdout?.on('data', (chunk: Buffer) => {
    const now = performance.now();
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    // Replies arrive as a byte stream; find each echo reply by type, identifier and marker. Received IPv4
    // packets may carry their IP header, and other ICMP messages may sit in between: scanning skips both.
    let i = 0;
    while (i + 8 + MARKER.length <= buf.length) {
      if (
        buf[i] === replyType &&
        buf[i + 1] === 0 &&
        buf.readUInt16BE(i + 4) === identifier &&
        buf.subarray(i + 8, i + 8 + MARKER.length).equals(MARKER)
      ) {
        const seq = buf.readUInt16BE(i + 6);
        const t0 = sentAt.get(seq);
        if (t0 !== undefined && !rtts.has(seq)) rtts.set(seq, now - t0);
        i += 8 + MARKER.length;
      } else i++;
    }
    buf = buf.subarray(i);
  });
  try {
    await Promise.all([socatReady(receiver, 'ICMP receiver'), socatReady(sender, 'ICMP sender')]);
    for (let seq = 0; seq < count; seq++) {
      if (sender.exit !== undefined)
        throw new LabError('NEX_ERR_E2E_COMMAND', `socat exited: ${sender.stderr.trim()}`);
      const m = Buffer.alloc(len);
      m[0] = v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST;
      m.writeUInt16BE(identifier, 4);
      m.writeUInt16BE(seq, 6);
      MARKER.copy(m, 8);
      m.writeDoubleBE(Date.now(), 8 + MARKER.length);
      // The kernel computes the ICMPv6 checksum on raw ICMPv6 sockets; ICMPv4 needs ours.
      if (!v6) m.writeUInt16BE(internetChecksum(m), 2);
      sentAt.set(seq, performance.now());
      sender.child.stdin?.write(m);
      if (seq < count - 1) await new Promise((r) => setTimeout(r, interval));
    }
    const deadline = performance.now() + (opts.timeoutMs ?? 1000);
    while (rtts.size < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  } finally {
    await Promise.all([sender.stop(500), receiver.stop(500)]);
  }
  const ordered = [...rtts.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  const sorted = [...ordered].sort((a, b) => a - b);
  return {
    sent: count,
    received: ordered.length,
    rtts: ordered,
    medianRtt: sorted.length ? sorted[Math.floor(sorted.length / 2)] : Number.NaN,
  };
}

const ECHO_SCRIPT = `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.on('error', (e) => { console.error(String(e)); process.exit(1); });
s.bind(Number(process.argv[1]), '::', () => console.log('ready'));
`;

/** Starts a dual-stack UDP echo server on `port` in `ns`; resolves once it is bound. Stop with `proc.stop()`. */
export async function udpEchoServer(lab: Lab, ns: Ns, port: number): Promise<Proc> {
  const proc = lab.spawn(ns, process.execPath, ['-e', ECHO_SCRIPT, String(port)]);
  await waitFor(`UDP echo server on port ${port}`, () => {
    if (proc.exit !== undefined) {
      throw new LabError('NEX_ERR_E2E_COMMAND', `UDP echo server exited: ${proc.stderr.trim()}`);
    }
    return proc.stdout.includes('ready') ? true : undefined;
  });
  return proc;
}

/** Sends one UDP datagram with `data` from namespace `ns` to `dst:port` (from `srcPort` when given). */
export async function udpSend(
  lab: Lab,
  ns: Ns,
  dst: string,
  port: number,
  data: Uint8Array,
  srcPort?: number,
): Promise<void> {
  const v6 = dst.includes(':');
  const target = v6 ? `UDP6-SENDTO:[${dst}]:${port}` : `UDP4-SENDTO:${dst}:${port}`;
  const proc = lab.spawn(ns, 'socat', ['-u', '-', srcPort ? `${target},sourceport=${srcPort}` : target], {
    stdin: 'pipe',
  });
  proc.child.stdin?.end(data);
  const code = await Promise.race([proc.wait(), new Promise<number>((r) => setTimeout(() => r(-2), 5000))]);
  if (code !== 0) {
    await proc.stop();
    throw new LabError('NEX_ERR_E2E_COMMAND', `socat ${target} failed (${code}): ${proc.stderr.trim()}`);
  }
}

const REQUEST_SCRIPT = `
const dgram = require('node:dgram');
const [dst, port, hex, timeoutMs] = process.argv.slice(1);
const s = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
s.on('message', (m, r) => { console.log(JSON.stringify({ from: r.address, port: r.port, hex: m.toString('hex') })); process.exit(0); });
s.on('error', (e) => { console.error(String(e)); process.exit(1); });
setTimeout(() => { console.error('no reply within ' + timeoutMs + ' ms'); process.exit(2); }, Number(timeoutMs));
s.send(Buffer.from(hex, 'hex'), Number(port), dst);
`;

/** A UDP request from namespace `ns` to `dst:port`; resolves with the first reply and who sent it. */
export async function udpRequest(
  ns: Ns,
  dst: string,
  port: number,
  data: Uint8Array,
  timeoutMs = 3000,
): Promise<{ from: string; port: number; data: Buffer }> {
  const r = await exec(
    ns,
    process.execPath,
    ['-e', REQUEST_SCRIPT, dst, String(port), Buffer.from(data).toString('hex'), String(timeoutMs)],
    { check: false, timeoutMs: timeoutMs + 5000 },
  );
  if (r.code !== 0) {
    throw new LabError('NEX_ERR_E2E_COMMAND', `UDP request to ${dst}:${port} failed: ${r.stderr.trim()}`);
  }
  const j = JSON.parse(r.stdout) as { from: string; port: number; hex: string };
  return { from: j.from, port: j.port, data: Buffer.from(j.hex, 'hex') };
}

const BLAST_SCRIPT = `
const dgram = require('node:dgram');
const [dst, port, count, size] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const s = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
const buf = Buffer.alloc(size, 0x42);
let sent = 0;
let failed = 0;
// Bursts of 64 per event-loop turn: fast enough to keep several datagrams in flight in wireguard-go's parallel
// encryption, without the sender's own socket buffer being the limit.
function more() {
  for (let i = 0; i < 64 && sent < count; i++, sent++) {
    buf.writeUInt32BE(sent, 0);
    s.send(buf, port, dst, (err) => { if (err) failed++; });
  }
  if (sent < count) setImmediate(more);
  else setTimeout(() => { console.log(JSON.stringify({ sent, failed })); s.close(); }, 100);
}
more();
`;

/** Sends `count` UDP datagrams of `size` bytes (>= 4; the first 4 carry the index) from `ns` to `dst:port`. */
export async function udpBlast(
  ns: Ns,
  dst: string,
  port: number,
  count: number,
  size: number,
): Promise<{ sent: number; failed: number }> {
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(size) && size >= 4 && size <= 65507)) {
    throw new LabError(
      'NEX_ERR_E2E_INVALID',
      `udpBlast needs count > 0 and 4 <= size <= 65507, got ${count}, ${size}`,
    );
  }
  const r = await exec(
    ns,
    process.execPath,
    ['-e', BLAST_SCRIPT, dst, String(port), String(count), String(size)],
    {
      timeoutMs: 30_000,
    },
  );
  return JSON.parse(r.stdout) as { sent: number; failed: number };
}
