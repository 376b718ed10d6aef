// SPDX-License-Identifier: Apache-2.0
// The native addon on loopback: batches leave as GSO super-packets and arrive, through recvBatch with
// GRO, as the same datagrams in the same order; bad arguments are TypeErrors, kernel refusals -errno.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { constants } from 'node:os';
import { after, describe, test } from 'node:test';
import { dgramHandle, loadBinding, type NativeBinding } from '../src/index.js';

const socketFd = (s: dgram.Socket) => dgramHandle(s)?.fd;

const sockets: dgram.Socket[] = [];
after(() => {
  for (const s of sockets) s.close();
});

async function bound(type: 'udp4' | 'udp6' = 'udp4'): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  return s;
}

/** Datagram i is `len` bytes of (i & 0xff), so order and boundaries are both checked. */
function batch(lengths: number[]): { data: Uint8Array; lens: Uint32Array } {
  const data = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  let off = 0;
  lengths.forEach((len, i) => {
    data.fill(i & 0xff, off, off + len);
    off += len;
  });
  return { data, lens: Uint32Array.from(lengths) };
}

function expectDatagrams(got: Uint8Array[], lengths: number[]): void {
  assert.deepEqual(
    got.map((d) => d.length),
    lengths,
  );
  for (const [i, d] of got.entries()) {
    assert.ok(
      d.every((b) => b === (i & 0xff)),
      `datagram ${i} holds its own bytes`,
    );
  }
}

const load = loadBinding();

describe('udp-batch', { skip: process.platform !== 'linux' && 'the addon is Linux-only' }, () => {
  test('the addon is built and loads on Linux (else every proxy falls back to dgram, slowly)', () => {
    assert.ok(load.binding, load.binding ? '' : load.reason);
  });

  const b = load.binding as NativeBinding;

  test('a GSO batch of 70 datagrams (runs of 1452, short tails, a larger one) arrives whole and in order', async () => {
    const rx = await bound();
    const tx = await bound();
    const got: Uint8Array[] = [];
    rx.on('message', (m) => got.push(m));
    const lengths = [
      ...Array(50).fill(1452),
      100,
      ...Array(10).fill(1452),
      1452,
      2000,
      ...Array(6).fill(148),
      1,
    ];
    const { data, lens } = batch(lengths);
    const fd = socketFd(tx);
    assert.ok(fd !== undefined);
    assert.equal(b.sendBatch(fd, data, lens, lengths.length, '127.0.0.1', rx.address().port, true), 70);
    const t0 = Date.now();
    while (got.length < 70 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    expectDatagrams(got, lengths);
  });

  test('recvBatch with GRO: super-packets come back as messages with their segment size and source', async () => {
    const rx = await bound();
    const tx = await bound();
    const handle = dgramHandle(rx)!;
    const rfd = handle.fd;
    // Two readers would split the datagrams: dgram lets go of the socket first.
    assert.equal(handle.stopReading(), true);
    assert.equal(b.enableGro(rfd), true);
    const lengths = [...Array(40).fill(1452), 700, 64, 64];
    const { data, lens } = batch(lengths);
    const got: Uint8Array[] = [];
    const sources = new Set<string>();
    const chunk = new Uint8Array(16 * 65536);
    const meta = new Uint32Array(9 * 16);
    let segmented = 0;
    const done = new Promise<void>((resolve) => {
      const w = b.watch(rfd, (events) => {
        assert.equal(events & 1, 1);
        const n = b.recvBatch(rfd, chunk, meta, 16);
        for (let i = 0; i < n; i++) {
          const [off, len, seg, port, family] = meta.subarray(i * 9, i * 9 + 5);
          sources.add(
            `${family}/${Array.from(new Uint8Array(meta.buffer, (i * 9 + 5) * 4, 4)).join('.')}:${port}`,
          );
          if (seg > 0 && len > seg) segmented++;
          const step = seg || len;
          for (let o = 0; o < len; o += step) got.push(chunk.slice(off + o, off + Math.min(o + step, len)));
        }
        if (got.length >= lengths.length) {
          b.unwatch(w);
          b.unwatch(w); // idempotent
          resolve();
        }
      });
      b.setEvents(w, 1);
    });
    assert.equal(
      b.sendBatch(socketFd(tx)!, data, lens, lengths.length, '127.0.0.1', rx.address().port, true),
      43,
    );
    await done;
    expectDatagrams(got, lengths);
    assert.ok(segmented >= 1, 'at least one message carried several datagrams');
    assert.deepEqual([...sources], [`4/127.0.0.1:${tx.address().port}`]);
    assert.equal(b.recvBatch(rfd, chunk, meta, 16), -constants.errno.EAGAIN);
  });

  test('empty datagrams are never grouped into a GSO run (a segment size of 0 means none)', async () => {
    const rx = await bound();
    const tx = await bound();
    const got: Uint8Array[] = [];
    rx.on('message', (m) => got.push(m));
    const { data, lens } = batch([0, 0, 0, 5]);
    assert.equal(b.sendBatch(socketFd(tx)!, data, lens, 4, '127.0.0.1', rx.address().port, true), 4);
    const t0 = Date.now();
    while (got.length < 4 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      got.map((d) => d.length),
      [0, 0, 0, 5],
    );
  });

  test('plain (non-GSO) batches over IPv6; refusals are -errno, wrong arguments a TypeError', async () => {
    const rx = await bound('udp6');
    const tx = await bound('udp6');
    const got: Uint8Array[] = [];
    rx.on('message', (m) => got.push(m));
    const lengths = [10, 20, 30];
    const { data, lens } = batch(lengths);
    const fd = socketFd(tx)!;
    assert.equal(b.sendBatch(fd, data, lens, 3, '::1', rx.address().port, false), 3);
    const t0 = Date.now();
    while (got.length < 3 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    expectDatagrams(got, lengths);
    // An IPv4 destination on an IPv6-only socket: the kernel's answer, not an exception.
    const v4 = await bound();
    assert.equal(
      b.sendBatch(socketFd(v4)!, data, lens, 1, '::1', rx.address().port, false),
      -constants.errno.EAFNOSUPPORT,
    );
    const isArgError = (e: unknown) =>
      e instanceof TypeError && (e as { code?: string }).code === 'NATIVE_ERR_ARGS';
    assert.throws(() => b.sendBatch(fd, data, lens, 3, 'not-an-ip', 1, false), isArgError);
    assert.throws(() => b.sendBatch(fd, data, lens, 3, '::1\u0000evil.example', 1, false), isArgError);
    assert.throws(() => b.sendBatch(fd, data, lens, 4, '::1', 1, false), isArgError); // more than lengths
    assert.throws(() => b.sendBatch(fd, data, Uint32Array.from([999]), 1, '::1', 1, false), isArgError);
    assert.throws(() => b.recvBatch(fd, new Uint8Array(1000), new Uint32Array(9), 1), isArgError);
    assert.throws(() => b.watch(fd, 5 as never), isArgError);
  });
});
