// SPDX-License-Identifier: Apache-2.0
// BatchedSocket against a scripted addon: what the kernel answers (took 2 of 5, EAGAIN, EIO for GSO,
// EACCES) is decided by the test, so the queue, order, fallback and counting paths run every time,
// not only when a loopback socket happens to fill.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, test } from 'node:test';
import type { DgramHandle } from '@nexodus/native';
import { BatchedSocket, type BatchedUdpApi } from '../src/node/batched-socket.js';
import type { Endpoint } from '../src/peer.js';

const { EAGAIN, EIO, EACCES, EMSGSIZE, ENOBUFS, ECONNREFUSED } = constants.errno;

interface SendCall {
  to: string;
  gso: boolean;
  datagrams: number[]; // first byte of each
}

class ScriptedAddon implements BatchedUdpApi {
  readonly sends: SendCall[] = [];
  /** What the next sendBatch calls answer; when empty, "took them all". */
  readonly answers: number[] = [];
  readonly events: number[] = [];
  /** What recvBatch answers when the inbox is empty (-EAGAIN: nothing queued). */
  recvAnswer = -EAGAIN;
  /** Messages the next recvBatch returns: bytes + segment size + source. */
  inbox: { bytes: Uint8Array; seg: number; port: number; family: 4 | 6; addr: number[] }[] = [];
  callback: ((events: number) => void) | undefined;
  unwatched = 0;

  sendBatch(
    _fd: number,
    data: Uint8Array,
    lengths: Uint32Array,
    count: number,
    ip: string,
    port: number,
    gso: boolean,
  ): number {
    const answer = this.answers.length > 0 ? this.answers.shift()! : count;
    const took = answer < 0 ? 0 : Math.min(answer, count);
    const datagrams: number[] = [];
    let off = 0;
    for (let i = 0; i < took; i++) {
      datagrams.push(data[off]);
      off += lengths[i];
    }
    this.sends.push({ to: `${ip}:${port}`, gso, datagrams });
    return answer < 0 ? answer : took;
  }
  recvBatch(_fd: number, data: Uint8Array, meta: Uint32Array, max: number): number {
    const msgs = this.inbox.splice(0, max);
    if (msgs.length === 0) return this.recvAnswer;
    let off = 0;
    msgs.forEach((m, i) => {
      data.set(m.bytes, off);
      meta.set([off, m.bytes.length, m.seg, m.port, m.family], i * 9);
      new Uint8Array(meta.buffer, (i * 9 + 5) * 4, m.addr.length).set(m.addr);
      off += m.bytes.length;
    });
    return msgs.length;
  }
  enableGro(): boolean {
    return true;
  }
  watch(_fd: number, callback: (events: number) => void): unknown {
    this.callback = callback;
    return {};
  }
  setEvents(_w: unknown, events: number): void {
    this.events.push(events);
  }
  unwatch(): void {
    this.unwatched++;
  }
}

/** A dgram socket as the batched socket sees it: fd 99, reading that stops when asked. */
function fakeDgram(): DgramHandle & { reading: boolean } {
  const h = {
    fd: 99,
    reading: true,
    stopReading: () => {
      h.reading = false;
      return true;
    },
    resumeReading: () => {
      h.reading = true;
    },
  };
  return h;
}

const PEER: Endpoint = { address: '127.0.0.1', port: 51820 };
const datagram = (tag: number, len = 1452) => new Uint8Array(len).fill(tag);
const microtask = () => new Promise<void>((r) => queueMicrotask(r));

function open() {
  const addon = new ScriptedAddon();
  const received: { tag: number; len: number; from: string }[] = [];
  let bursts = 0;
  const dgram = fakeDgram();
  const sock = new BatchedSocket(addon, dgram, {
    onDatagram: (d, from) =>
      received.push({ tag: d[0], len: d.length, from: `${from.address}:${from.port}` }),
    onBurstEnd: () => bursts++,
    now: () => 0,
  });
  return { addon, sock, dgram, received, bursts: () => bursts };
}

describe('BatchedSocket', () => {
  test('a burst of sends leaves as one GSO batch after the burst returns; another peer starts a new batch', async () => {
    const { addon, sock, dgram } = open();
    assert.deepEqual(addon.events, [1], 'reads from the start');
    assert.equal(dgram.reading, false, "dgram's own reading stopped");
    for (let i = 1; i <= 5; i++) sock.send(datagram(i), PEER);
    sock.send(datagram(6, 100), { address: '::1', port: 7 });
    assert.equal(addon.sends.length, 1, 'the change of destination flushed the first five');
    await microtask();
    assert.deepEqual(addon.sends, [
      { to: '127.0.0.1:51820', gso: true, datagrams: [1, 2, 3, 4, 5] },
      { to: '::1:7', gso: true, datagrams: [6] },
    ]);
    assert.equal(sock.path, 'mmsg+gso');
  });

  test('socket full: the rest waits, later sends queue behind it, writable drains all in order', async () => {
    const { addon, sock } = open();
    addon.answers.push(2, -EAGAIN); // the kernel took 2 of 5, then had no room
    for (let i = 1; i <= 5; i++) sock.send(datagram(i), PEER);
    await microtask();
    assert.deepEqual(addon.events, [1, 3], 'asks for writable');
    sock.send(datagram(6), PEER); // behind the queue, not a new batch
    await microtask();
    assert.equal(addon.sends.length, 2, 'the two of the first burst, and the call that found no room');
    addon.answers.push(1, 1, -EAGAIN); // writable once: two go, then full again
    addon.callback!(2);
    addon.callback!(2); // writable again: the last two go
    assert.deepEqual(
      addon.sends.flatMap((s) => s.datagrams),
      [1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(addon.events, [1, 3, 1], 'back to reading only once drained');
    assert.equal(sock.errors, 0);
  });

  test('a refused GSO batch is resent plain and GSO stays off; a refused send is counted, not retried', async () => {
    const { addon, sock } = open();
    addon.answers.push(-EIO);
    sock.send(datagram(1), PEER);
    sock.send(datagram(2), PEER);
    await microtask();
    assert.deepEqual(
      addon.sends.map((s) => [s.gso, s.datagrams]),
      [
        [true, []],
        [false, [1, 2]],
      ],
    );
    assert.equal(sock.path, 'mmsg');
    addon.answers.push(-EACCES);
    sock.send(datagram(3), PEER);
    await microtask();
    assert.equal(sock.errors, 1);
    assert.equal(addon.sends.length, 3);
  });

  test('ENOBUFS drops the datagram it refused (no waiting on writability) and sends the rest', async () => {
    const { addon, sock } = open();
    addon.answers.push(-ENOBUFS, -ENOBUFS, 1);
    sock.send(datagram(1), PEER);
    sock.send(datagram(2), PEER);
    await microtask();
    assert.deepEqual(
      addon.sends.map((s) => [s.gso, s.datagrams]),
      [
        [true, []],
        [false, []],
        [false, [2]],
      ],
    );
    assert.equal(sock.errors, 1);
    assert.equal(sock.path, 'mmsg+gso', 'ENOBUFS says nothing about GSO');
    assert.deepEqual(addon.events, [1], 'never asked for writable');
  });

  test('send drops by reason: EMSGSIZE is tooBig, EACCES is refused, a full queue is queueFull', async () => {
    const { addon, sock } = open();
    addon.answers.push(-EMSGSIZE, -EMSGSIZE); // the GSO try, then the plain one
    sock.send(datagram(1), PEER);
    await microtask();
    assert.deepEqual([sock.tooBig, sock.refused, sock.queueFull], [1, 0, 0]);
    addon.answers.push(-EACCES, -EACCES);
    sock.send(datagram(2), PEER);
    await microtask();
    assert.deepEqual([sock.tooBig, sock.refused, sock.queueFull], [1, 1, 0]);
    // The socket is full (EAGAIN) and stays so: QUEUE_LIMIT (4096) wait, the rest are dropped.
    addon.answers.push(-EAGAIN);
    for (let i = 0; i < 4100; i++) sock.send(datagram(3, 100), PEER);
    await microtask();
    assert.deepEqual([sock.tooBig, sock.refused, sock.queueFull], [1, 1, 4]);
    assert.equal(sock.errors, 6, 'errors is the sum of the three');
  });

  test('a poll error re-arms the watcher (libuv stops it), with writable if datagrams wait', async () => {
    const { addon, sock } = open();
    addon.callback!(4);
    assert.deepEqual(addon.events, [1, 1]);
    addon.answers.push(-EAGAIN);
    sock.send(datagram(1), PEER);
    await microtask();
    addon.callback!(4);
    assert.deepEqual(addon.events, [1, 1, 3, 3]);
  });

  test('a receive error (an ICMP error queued on the socket) is counted, and reading goes on', () => {
    const { addon, sock, received } = open();
    addon.recvAnswer = -ECONNREFUSED;
    addon.callback!(1);
    assert.equal(sock.receiveErrors, 1);
    addon.recvAnswer = -EAGAIN;
    addon.inbox = [{ bytes: datagram(7, 32), seg: 0, port: 9, family: 4, addr: [127, 0, 0, 1] }];
    addon.callback!(1);
    assert.deepEqual(received, [{ tag: 7, len: 32, from: '127.0.0.1:9' }]);
    assert.equal(sock.receiveErrors, 1);
  });

  test('when the watch is refused, dgram gets its reading back and the constructor throws', () => {
    const addon = new ScriptedAddon();
    addon.watch = () => {
      throw new Error('EEXIST');
    };
    const dgram = fakeDgram();
    const hooks = { onDatagram: () => {}, onBurstEnd: () => {}, now: () => 0 };
    assert.throws(() => new BatchedSocket(addon, dgram, hooks), /EEXIST/);
    assert.equal(dgram.reading, true);
  });

  test('close sends what is batched, stops watching, and sends nothing after', () => {
    const { addon, sock } = open();
    sock.send(datagram(1), PEER);
    sock.close();
    sock.send(datagram(2), PEER);
    sock.close();
    assert.deepEqual(
      addon.sends.map((s) => s.datagrams),
      [[1]],
    );
    assert.equal(addon.unwatched, 1);
  });

  test('receive: GRO messages split at their segment size, each with its sender; one burst end per event', () => {
    const { addon, received, bursts } = open();
    const gro = new Uint8Array(1452 * 2 + 300);
    gro.fill(1, 0, 1452).fill(2, 1452, 2904).fill(3, 2904);
    addon.inbox = [
      { bytes: gro, seg: 1452, port: 51820, family: 4, addr: [127, 0, 0, 1] },
      { bytes: datagram(4, 148), seg: 0, port: 51820, family: 4, addr: [127, 0, 0, 1] },
      {
        bytes: datagram(5, 32),
        seg: 0,
        port: 9,
        family: 6,
        addr: [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1],
      },
    ];
    addon.callback!(1);
    assert.deepEqual(received, [
      { tag: 1, len: 1452, from: '127.0.0.1:51820' },
      { tag: 2, len: 1452, from: '127.0.0.1:51820' },
      { tag: 3, len: 300, from: '127.0.0.1:51820' },
      { tag: 4, len: 148, from: '127.0.0.1:51820' },
      { tag: 5, len: 32, from: '2001:db8::1:9' },
    ]);
    assert.equal(bursts(), 1);
  });
});
