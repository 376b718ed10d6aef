// SPDX-License-Identifier: Apache-2.0
// Interop of our TCP/IP stack (packages/netstack) with the Linux kernel's, over WireGuard (issue 3).
//
// Topology (made by the test, removed in after()):
//   root ns: this process: NetStack 198.19.0.2 + fd00:19::2 behind our WireGuardNode on the veth's root end
//       |  veth
//   ns <prefix>-k: wireguard-go on TUN, 198.19.0.1 + fd00:19::1; nginx :80 (a 4 MiB random file),
//                  iperf3 -s :5201, UDP echo :7, and the kernel tools (curl, iperf3 -c, ping via socat).
// Our side runs real Node code over the stack's Duplex streams: node:http (client through createConnection,
// server through 'connection'), and an iperf3 protocol implementation (bench/netstack.bench.ts) that the real
// iperf3 binary talks to. A failing test prints the last packets in and out of our stack.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import type { TcpSocketStream } from '@nexodus/netstack';
import { Iperf3Server, iperf3Client } from './lib/iperf3.js';
import { type KernelPeer, kernelPeer } from './lib/kernel-peer.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import { type OurPeer, ourPeer, TraceRing } from './lib/our-peer.js';
import { kernelPing, udpRequest } from './lib/probes.js';
import { BASE_TOOLS, rootSkipReason } from './lib/root.js';

const skip = rootSkipReason([...BASE_TOOLS, 'socat', 'curl', 'nginx', 'iperf3', 'sha256sum']);
const HTTP_PORT = 8080;
const IPERF_PORT = 5201;
/** Reads until the peer's FIN, then answers with the SHA-256 of what it read and closes (half-close test). */
const DIGEST_PORT = 7000;
const CLOSED_PORT = 9;
const BODY_SIZE = 4 * 1024 * 1024;
/** kernelPing's echo data beyond its 16-byte marker that makes the IP packet exactly MTU_BYTES long. */
const MTU_BYTES = 1420;
const PING_OVERHEAD = { v4: 20 + 8 + 16, v6: 40 + 8 + 16 }; // IP header + ICMP header + marker
const mtuPingExtra = (dst: string) => MTU_BYTES - (dst.includes(':') ? PING_OVERHEAD.v6 : PING_OVERHEAD.v4);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const url = (host: string, port: number, path: string) =>
  `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;

/**
 * GET over a connection our stack opens (node:http with createConnection). No `agent` option: with one (even
 * `agent: false`) node:http ignores createConnection and would use the kernel's TCP instead of our stack.
 */
function httpGet(ours: OurPeer, host: string, port: number, path: string) {
  return new Promise<{ status: number; server: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = http.get(
      {
        host,
        port,
        path,
        timeout: 60_000,
        createConnection: () => ours.stack.connect({ host, port }) as never,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            server: String(res.headers.server ?? ''),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

describe('netstack interop: our NetStack + WireGuard <-> wireguard-go + Linux kernel TCP', { skip }, () => {
  let lab: Lab;
  let kp: KernelPeer;
  let ours: OurPeer;
  const ring = new TraceRing(300);
  const body = randomBytes(BODY_SIZE);
  const uploads: Array<{ sha: string; size: number }> = [];
  let iperf: Iperf3Server;
  let failed = false;

  before(async () => {
    lab = await Lab.create('nsi');
    kp = await kernelPeer(lab, { fileSize: BODY_SIZE });
    ours = await ourPeer(kp, { trace: ring.push });
    // node:http on top of stack listeners: GET /blob serves `body`, POST /upload hashes what arrives.
    const server = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/upload') {
        const h = createHash('sha256');
        let size = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          size += c.length;
        });
        req.on('end', () => {
          uploads.push({ sha: h.digest('hex'), size });
          res.end('ok');
        });
        return;
      }
      if (req.url === '/abort') {
        // Promise the whole body, send 1 MiB, then abort: destroy() must reach the kernel as a RST.
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 1024 * 1024), () => setTimeout(() => req.socket.destroy(), 50));
        return;
      }
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
        res.end(body);
        return;
      }
      res.writeHead(404).end();
    });
    ours.stack.listen({ port: HTTP_PORT }, (s: TcpSocketStream) => server.emit('connection', s));
    ours.stack.listen({ port: DIGEST_PORT }, (s: TcpSocketStream) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      // Half-close: the kernel's FIN ends our readable side while our writable side stays open.
      s.on('end', () => s.end(`${n} ${h.digest('hex')}\n`));
      s.on('error', () => {});
    });
    iperf = new Iperf3Server();
    ours.stack.listen({ port: IPERF_PORT }, iperf.onConnection);
  });

  after(async () => {
    if (failed) console.error(`last packets of our stack (${ring.total} total):\n${ring.dump()}`);
    await ours?.close();
    await lab?.cleanup();
  });

  /** Runs `fn`, remembering failure so after() prints the packet trace. */
  const traced = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (e) {
      failed = true;
      throw e;
    }
  };

  test(
    'ping: the kernel pings our IPv4 and IPv6 addresses and every echo is answered',
    traced(async () => {
      for (const dst of [ours.tunnel4, ours.tunnel6]) {
        const r = await kernelPing(lab, kp.ns, dst, { count: 5, timeoutMs: 3000 });
        assert.equal(r.sent, 5);
        assert.equal(r.received, 5, `echo replies from ${dst}`);
        assert.ok(r.medianRtt > 0 && r.medianRtt < 1000, `median RTT ${r.medianRtt} ms`);
      }
    }),
  );

  test(
    'ping: echo requests of exactly the tunnel MTU (1420-byte packets) are answered, IPv4 and IPv6',
    traced(async () => {
      for (const dst of [ours.tunnel4, ours.tunnel6]) {
        const r = await kernelPing(lab, kp.ns, dst, {
          count: 3,
          extraBytes: mtuPingExtra(dst),
          timeoutMs: 3000,
        });
        assert.equal(r.received, 3, `full-size echo replies from ${dst}`);
      }
    }),
  );

  test('ping: a 3000-byte echo (fragmented by the kernel) is answered, as Linux answers it (fragmented reply)', async () => {
    const before = ours.stack.stats();
    for (const dst of [ours.tunnel4, ours.tunnel6]) {
      const r = await kernelPing(lab, kp.ns, dst, { count: 2, extraBytes: 3000, timeoutMs: 2000 });
      assert.equal(r.received, 2, `oversized echo replies from ${dst}`);
    }
    assert.equal(ours.stack.stats().drops.fragment, before.drops.fragment, 'every fragment was reassembled');
  });

  test(
    'our stack as client: GET of nginx over IPv4 and IPv6 returns the served file byte-identical',
    traced(async () => {
      for (const host of [kp.tunnel4, kp.tunnel6]) {
        const r = await httpGet(ours, host, kp.httpPort, kp.file.path);
        assert.equal(r.status, 200, `status from ${host}`);
        assert.match(r.server ?? '', /^nginx/, 'the answer comes from nginx in the namespace');
        assert.equal(r.body.length, kp.file.size);
        assert.equal(sha256(r.body), kp.file.sha256, `sha256 of the file from ${host}`);
        const missing = await httpGet(ours, host, kp.httpPort, '/nope');
        assert.equal(missing.status, 404, 'nginx answers 404 on the same kind of connection');
      }
    }),
  );

  test(
    'our stack as server: kernel curl downloads from and uploads to node:http on a NetStack listener',
    traced(async () => {
      for (const host of [ours.tunnel4, ours.tunnel6]) {
        const down = await exec(
          kp.ns,
          'sh',
          ['-c', `curl -sS -g --max-time 60 ${url(host, HTTP_PORT, '/blob')} | sha256sum`],
          { timeoutMs: 70_000 },
        );
        assert.equal(down.stdout.split(' ')[0], sha256(body), `curl download from ${host}`);
        const n = uploads.length;
        const up = await exec(
          kp.ns,
          'sh',
          [
            '-c',
            `curl -sS -g --max-time 60 -H 'Expect:' --data-binary @${kp.file.diskPath} ${url(host, HTTP_PORT, '/upload')}`,
          ],
          { timeoutMs: 70_000 },
        );
        assert.equal(up.stdout, 'ok');
        assert.equal(uploads.length, n + 1);
        assert.deepEqual(uploads[n], { sha: kp.file.sha256, size: kp.file.size }, `upload to ${host}`);
      }
    }),
  );

  test(
    'our stack as server: kernel iperf3 -c (1 and 4 streams, IPv4 and IPv6, and -R) completes against our iperf3 server',
    traced(async () => {
      for (const [host, parallel, reverse] of [
        [ours.tunnel4, 1, false],
        [ours.tunnel4, 4, false],
        [ours.tunnel6, 1, false],
        [ours.tunnel4, 2, true],
      ] as const) {
        const how = `iperf3 -c ${host} -P ${parallel}${reverse ? ' -R' : ''}`;
        const n = iperf.tests.length;
        const r = await exec(
          kp.ns,
          'iperf3',
          [
            '-c',
            host,
            '-p',
            String(IPERF_PORT),
            '-t',
            '2',
            '-P',
            String(parallel),
            '-J',
            ...(reverse ? ['-R'] : []),
          ],
          { timeoutMs: 40_000, check: false },
        );
        const j = JSON.parse(r.stdout) as {
          error?: string;
          end?: { sum_sent?: { bytes: number }; sum_received?: { bytes: number; bits_per_second: number } };
        };
        assert.equal(j.error, undefined, `${how}: ${j.error}`);
        assert.deepEqual(iperf.errors, []);
        assert.equal(iperf.tests.length, n + 1, 'our server recorded the test');
        const rec = iperf.tests[n];
        assert.equal(rec.parallel, parallel);
        assert.equal(rec.reverse, reverse);
        const received = j.end?.sum_received?.bytes ?? 0;
        if (reverse) {
          // We sent: the kernel received at most what our streams accepted, and a fair share of it.
          assert.ok(received > 1_000_000, `the kernel received ${received} bytes`);
          assert.ok(received <= rec.bytes, `received ${received} <= sent ${rec.bytes}`);
        } else {
          // What we counted by TEST_END is at most what the kernel sent (the rest was in flight).
          const sent = j.end?.sum_sent?.bytes ?? 0;
          assert.ok(rec.bytes > 1_000_000, `we received ${rec.bytes} bytes`);
          assert.ok(rec.bytes <= sent, `received ${rec.bytes} <= sent ${sent}`);
          assert.equal(received, rec.bytes, 'iperf3 reports the bytes our server counted');
        }
        console.log(
          `${how} (ours is the server): ${((j.end?.sum_received?.bits_per_second ?? 0) / 1e6).toFixed(0)} Mbit/s`,
        );
      }
    }),
  );

  test(
    'our stack as client: our iperf3 client to kernel iperf3 -s (1 and 4 streams, IPv4 and IPv6, and -R)',
    traced(async () => {
      for (const [host, parallel, reverse] of [
        [kp.tunnel4, 1, false],
        [kp.tunnel4, 4, false],
        [kp.tunnel6, 1, false],
        [kp.tunnel4, 1, true],
      ] as const) {
        const r = await iperf3Client({
          connect: () => ours.stack.connect({ host, port: kp.iperfPort }),
          seconds: 2,
          parallel,
          reverse,
        });
        const streams = r.serverResults.streams as unknown[];
        assert.equal(streams.length, parallel, 'the kernel server reports every stream');
        assert.ok(r.bytesReceived > 1_000_000, `receiver got ${r.bytesReceived} bytes`);
        assert.ok(r.bytesReceived <= r.bytesSent, `received ${r.bytesReceived} <= sent ${r.bytesSent}`);
        console.log(
          `ours -> iperf3 -s ${host} -P ${parallel}${reverse ? ' -R' : ''}: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s`,
        );
      }
    }),
  );

  test(
    'half-close: the kernel sends a file and shuts its side; our answer still arrives after its FIN (IPv4, IPv6)',
    traced(async () => {
      for (const host of [ours.tunnel4, ours.tunnel6]) {
        const r = await exec(
          kp.ns,
          'sh',
          [
            '-c',
            `socat -t 20 - TCP:${host.includes(':') ? `[${host}]` : host}:${DIGEST_PORT} < ${kp.file.diskPath}`,
          ],
          { timeoutMs: 30_000 },
        );
        assert.equal(r.stdout, `${kp.file.size} ${kp.file.sha256}\n`, `digest of what reached ${host}`);
      }
    }),
  );

  test(
    'refused: a connection to a port nobody listens on is reset, both ways',
    traced(async () => {
      for (const host of [kp.tunnel4, kp.tunnel6]) {
        const s = ours.stack.connect({ host, port: CLOSED_PORT });
        const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
          s.on('error', resolve);
          s.on('connect', () => reject(new Error(`connected to closed port ${CLOSED_PORT} on ${host}`)));
        });
        assert.equal(err.code, 'ECONNREFUSED', `our connect to ${host}`);
      }
      for (const host of [ours.tunnel4, ours.tunnel6]) {
        const t0 = performance.now();
        const r = await exec(kp.ns, 'curl', ['-sS', '-g', '--max-time', '10', url(host, CLOSED_PORT, '/')], {
          check: false,
        });
        assert.equal(r.code, 7, `curl to ${host}: connection refused (${r.stderr.trim()})`);
        assert.ok(performance.now() - t0 < 5000, 'refused at once by a RST, not after a timeout');
      }
    }),
  );

  test(
    'abort: our destroy() resets the kernel connection, and a kernel reset fails our stream with ECONNRESET',
    traced(async () => {
      const r = await exec(
        kp.ns,
        'curl',
        ['-sS', '-o', '/dev/null', '--max-time', '20', url(ours.tunnel4, HTTP_PORT, '/abort')],
        {
          check: false,
          timeoutMs: 30_000,
        },
      );
      assert.equal(r.code, 56, `curl: receive failure (${r.stderr.trim()})`);
      assert.match(r.stderr, /reset by peer/i);

      // The kernel side: socat stops reading (its output, `sleep`, never reads) and exits after 1 s with unread
      // data queued, so the kernel answers our next segment with a RST.
      const port = 7001;
      lab.spawn(kp.ns, 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, 'SYSTEM:sleep 1']);
      await waitFor('socat listening', async () =>
        (await exec(kp.ns, 'ss', ['-Htln', `sport = :${port}`])).stdout.trim() ? true : undefined,
      );
      const s = ours.stack.connect({ host: kp.tunnel4, port });
      const chunk = Buffer.alloc(64 * 1024, 0x78);
      const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('no error from a reset connection within 15 s')),
          15_000,
        );
        s.on('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          resolve(e);
        });
        const pump = () => {
          while (!s.destroyed && s.write(chunk));
        };
        s.on('drain', pump);
        s.on('connect', pump);
      });
      assert.ok(err.code === 'ECONNRESET' || err.code === 'EPIPE', `error code ${err.code}: ${err.message}`);
      assert.equal(s.tcpState, 'closed');
    }),
  );

  test(
    'UDP: a datagram to the kernel echo server comes back over IPv4 and IPv6',
    traced(async () => {
      const sock = ours.stack.createUdpSocket();
      try {
        for (const host of [kp.tunnel4, kp.tunnel6]) {
          const data = Buffer.from(`netstack udp ${host}`);
          const got = new Promise<{ msg: Buffer; address: string; port: number }>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no UDP echo from ${host}`)), 3000);
            sock.once('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
              clearTimeout(t);
              resolve({ msg: Buffer.from(msg), address: rinfo.address, port: rinfo.port });
            });
          });
          sock.send(data, kp.udpEchoPort, host);
          const r = await got;
          assert.deepEqual(r.msg, data);
          assert.equal(r.address, host);
          assert.equal(r.port, kp.udpEchoPort);
        }
      } finally {
        sock.close();
      }
    }),
  );

  test(
    'UDP: the kernel gets answers from a UDP echo socket bound on all our addresses, IPv4 and IPv6',
    traced(async () => {
      const echo = ours.stack.createUdpSocket({ port: 7 });
      echo.on('message', (msg: Buffer, rinfo: { address: string; port: number }) =>
        echo.send(msg, rinfo.port, rinfo.address),
      );
      try {
        for (const host of [ours.tunnel4, ours.tunnel6]) {
          // 1200 bytes: more than one small datagram, still within the 1420-byte tunnel MTU.
          const data = randomBytes(1200);
          const r = await udpRequest(kp.ns, host, 7, data);
          assert.equal(r.from, host, 'the answer comes from the address the kernel asked');
          assert.equal(r.port, 7);
          assert.deepEqual(r.data, data);
        }
      } finally {
        echo.close();
      }
    }),
  );
});
