// SPDX-License-Identifier: Apache-2.0
// A bound dgram socket driven in batches through @nexodus/native (Linux), as wireguard-go drives its
// sockets: dgram binds it and closes it, everything in between is here.
// - Send: the datagrams of one burst (everything the core emits before control returns to the event
//   loop) are copied end to end and flushed from a microtask in one sendmmsg, equal-size runs to one
//   endpoint as UDP GSO super-packets. When the socket buffer is full the rest waits in a bounded queue
//   until the socket is writable, in order.
// - Receive: dgram's reading is stopped; when the socket is readable, recvmmsg takes up to 16 messages
//   per call, with UDP_GRO so a peer's super-packet arrives as one message. Datagrams are handed over
//   as views into one receive buffer, reused by the next recvmmsg: a view is valid until onDatagram
//   returns (as a NIC's rx ring; a fresh buffer per burst cost more in V8's external-memory GCs than
//   the rest of the receive path).
// Node's dgram costs one sendmsg or one JavaScript callback per datagram, about 4 µs of CPU each, which
// was most of both proxies' time in bench/proxy.
import { constants } from 'node:os';
import type { DgramHandle, NativeBinding } from '@nexodus/native';
import { formatIp } from '../ip.js';
import type { Endpoint } from '../peer.js';
import type { DatagramSender } from './udp-sender.js';

/** A burst larger than this goes out in several calls (about 180 full-size WireGuard datagrams). */
const BATCH_BYTES = 256 * 1024;
const BATCH_DATAGRAMS = 256;
/** Datagrams waiting for a full socket to drain; beyond this they are dropped, as by a full NIC queue. */
const QUEUE_LIMIT = 4096;
/** recvmmsg needs 64 KiB of room per message (one GRO message is up to one 64 KiB datagram). */
const RECV_SLOT = 64 * 1024;
const RECV_MESSAGES = 16;
/** recvmmsg calls per readable event before yielding to the rest of the loop (it comes back, level-triggered). */
const RECV_ROUNDS = 8;
const META_STRIDE = 9;
const READABLE = 1;
const WRITABLE = 2;
const POLL_ERROR = 4;
const { EAGAIN, EIO, EINVAL, EMSGSIZE } = constants.errno;

/** The part of the addon this file uses (tests script it). */
export type BatchedUdpApi = Pick<
  NativeBinding,
  'sendBatch' | 'recvBatch' | 'enableGro' | 'watch' | 'setEvents' | 'unwatch'
>;

export interface BatchedSocketHooks {
  /**
   * One datagram; `data` is a view into the receive buffer, valid until this returns (a plain
   * Uint8Array: its subarrays cost less than a Buffer's). `now` is read once per burst.
   */
  onDatagram(data: Uint8Array, from: Endpoint, now: number): void;
  /** After each received burst (i.e. re-arm timers once, not per datagram). */
  onBurstEnd(): void;
  now(): number;
}

export class BatchedSocket implements DatagramSender {
  private readonly fd: number;
  private readonly watcher: unknown;
  // send
  private readonly out = new Uint8Array(BATCH_BYTES);
  private readonly lengths = new Uint32Array(BATCH_DATAGRAMS);
  private count = 0;
  private used = 0;
  private to: Endpoint | undefined = undefined;
  private gso = true;
  private flushQueued = false;
  private readonly queue: { data: Uint8Array; to: Endpoint }[] = [];
  private readonly one = new Uint32Array(1);
  /** Datagrams the kernel refused: EMSGSIZE, and every other error (see DatagramSender). */
  tooBig = 0;
  refused = 0;
  /** Datagrams dropped because QUEUE_LIMIT were already waiting for the socket to drain. */
  queueFull = 0;
  // receive
  private readonly rx = new Uint8Array(RECV_SLOT * RECV_MESSAGES);
  private readonly meta = new Uint32Array(META_STRIDE * RECV_MESSAGES);
  private readonly metaBytes = new Uint8Array(this.meta.buffer);
  private lastFrom: Endpoint = { address: '', port: 0 };
  private readonly lastKey = new Uint32Array(6);
  /** Receive errors other than "nothing queued" (i.e. an ICMP error the kernel reports on the socket). */
  receiveErrors = 0;
  private closed = false;
  /** A microtask: runs once the synchronous burst that queued the first datagram has returned. */
  private readonly flushTask = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /**
   * Takes over a bound dgram socket: stops dgram's reading and watches the fd. Throws if either is
   * refused; dgram then reads as before, and the caller keeps using it.
   */
  constructor(
    private readonly binding: BatchedUdpApi,
    dgram: DgramHandle,
    private readonly hooks: BatchedSocketHooks,
  ) {
    const fd = dgram.fd;
    this.fd = fd;
    // Two readers of one socket would split its datagrams: dgram's reading stops before ours starts.
    if (!dgram.stopReading()) throw new Error('dgram would not stop reading');
    let watcher: unknown;
    try {
      watcher = binding.watch(fd, (events) => this.onEvents(events));
      binding.setEvents(watcher, READABLE);
    } catch (err) {
      if (watcher !== undefined) binding.unwatch(watcher);
      dgram.resumeReading();
      throw err;
    }
    this.watcher = watcher;
    binding.enableGro(fd);
  }

  get path(): string {
    return this.gso ? 'mmsg+gso' : 'mmsg';
  }

  get errors(): number {
    return this.tooBig + this.refused + this.queueFull;
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.closed) return;
    const len = data.length;
    if (this.queue.length > 0 || len > BATCH_BYTES) {
      // The socket is full: behind what waits already, in order (a reorder costs the receiver a SACK).
      this.flush();
      this.enqueue(data, to);
      return;
    }
    const last = this.to;
    if (
      this.count > 0 &&
      (this.count === BATCH_DATAGRAMS ||
        this.used + len > BATCH_BYTES ||
        last === undefined ||
        last.port !== to.port ||
        last.address !== to.address)
    ) {
      this.flush();
      if (this.queue.length > 0) {
        // That flush found the socket full: this one waits behind the rest, or it would overtake them.
        this.enqueue(data, to);
        return;
      }
    }
    this.out.set(data, this.used);
    this.lengths[this.count++] = len;
    this.used += len;
    this.to = to;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Sends what is queued and stops: the fd is about to close, and a later number could be another socket's. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.binding.unwatch(this.watcher);
  }

  private flush(): void {
    const n = this.count;
    const to = this.to;
    if (n === 0 || to === undefined || this.closed) return;
    this.count = 0;
    this.used = 0;
    const { fd, out, lengths } = this;
    let gso = this.gso;
    let done = 0;
    let off = 0;
    while (done < n) {
      const r =
        done === 0
          ? this.binding.sendBatch(fd, out, lengths, n, to.address, to.port, gso)
          : this.binding.sendBatch(
              fd,
              out.subarray(off),
              lengths.subarray(done, n),
              n - done,
              to.address,
              to.port,
              gso,
            );
      if (r > 0) {
        // All, or as many as fit: the next call sends the rest or says why not.
        for (let i = done; i < done + r; i++) off += lengths[i];
        done += r;
        continue;
      }
      if (r === 0 || r === -EAGAIN) break;
      if (gso) {
        // The kernel or the route refused a super-packet: resend as plain datagrams, and stop asking
        // for GSO if that is what it refused (EIO: no checksum offload on the device; EINVAL: no
        // UDP_SEGMENT).
        gso = false;
        if (r === -EIO || r === -EINVAL) this.gso = false;
        continue;
      }
      // This datagram is refused (EACCES, EMSGSIZE, ENETUNREACH; ENOBUFS: no memory for it, which
      // does not wait on writability): lost as on the wire, and counted. The rest go on.
      this.countRefused(r);
      off += lengths[done];
      done++;
    }
    // The socket buffer is full: the rest waits, in order, until the socket is writable.
    for (let i = done; i < n; i++) {
      this.enqueue(out.subarray(off, off + lengths[i]), to);
      off += lengths[i];
    }
  }

  /** `r` is a negative errno from sendBatch. */
  private countRefused(r: number): void {
    if (r === -EMSGSIZE) this.tooBig++;
    else this.refused++;
  }

  private enqueue(data: Uint8Array, to: Endpoint): void {
    if (this.queue.length >= QUEUE_LIMIT) {
      this.queueFull++;
      return;
    }
    if (this.queue.length === 0) this.binding.setEvents(this.watcher, READABLE | WRITABLE);
    this.queue.push({ data: Uint8Array.from(data), to });
  }

  private drainQueue(): void {
    const q = this.queue;
    let i = 0;
    for (; i < q.length; i++) {
      const { data, to } = q[i];
      this.one[0] = data.length;
      const r = this.binding.sendBatch(this.fd, data, this.one, 1, to.address, to.port, false);
      if (r === -EAGAIN) break;
      if (r < 0) this.countRefused(r); // ENOBUFS included: it does not clear with writability, so no waiting
    }
    q.splice(0, i);
    if (q.length === 0) this.binding.setEvents(this.watcher, READABLE);
  }

  private onEvents(events: number): void {
    if (this.closed) return;
    if (events & WRITABLE) this.drainQueue();
    if (events & ~WRITABLE) this.receive();
    if (events & POLL_ERROR && !this.closed) {
      // libuv stops a watcher that reports an error (the read above took the error off the socket):
      // start it again, or the socket would go deaf.
      this.binding.setEvents(this.watcher, this.queue.length > 0 ? READABLE | WRITABLE : READABLE);
    }
  }

  private receive(): void {
    const { binding, fd, meta, hooks } = this;
    const now = hooks.now();
    for (let round = 0; round < RECV_ROUNDS && !this.closed; round++) {
      const rx = this.rx;
      const n = binding.recvBatch(fd, rx, meta, RECV_MESSAGES);
      if (n <= 0) {
        if (n < 0 && n !== -EAGAIN) this.receiveErrors++;
        break;
      }
      for (let i = 0; i < n && !this.closed; i++) {
        const m = i * META_STRIDE;
        const off = meta[m];
        const len = meta[m + 1];
        const seg = meta[m + 2];
        const from = this.source(i);
        if (seg === 0 || len <= seg) {
          hooks.onDatagram(rx.subarray(off, off + len), from, now);
          continue;
        }
        // A GRO message: datagrams of `seg` bytes, the last one maybe shorter.
        for (let o = 0; o < len; o += seg) {
          hooks.onDatagram(rx.subarray(off + o, off + Math.min(o + seg, len)), from, now);
        }
      }
      if (n < RECV_MESSAGES) break;
    }
    hooks.onBurstEnd();
  }

  /** The sender of message i: the same Endpoint object as the last message's while it does not change. */
  private source(i: number): Endpoint {
    const m = i * META_STRIDE;
    const k = this.lastKey;
    const meta = this.meta;
    if (
      k[0] === meta[m + 3] &&
      k[1] === meta[m + 4] &&
      k[2] === meta[m + 5] &&
      k[3] === meta[m + 6] &&
      k[4] === meta[m + 7] &&
      k[5] === meta[m + 8]
    ) {
      return this.lastFrom;
    }
    for (let j = 0; j < 6; j++) k[j] = meta[m + 3 + j];
    const at = (m + 5) * 4;
    const bytes = this.metaBytes.subarray(at, at + (meta[m + 4] === 6 ? 16 : 4));
    this.lastFrom = { address: formatIp(bytes), port: meta[m + 3] };
    return this.lastFrom;
  }
}
