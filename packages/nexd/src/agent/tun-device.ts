// SPDX-License-Identifier: Apache-2.0
// A TUN device through @nexodus/native: open (TUNSETIFF, IFF_TUN | IFF_NO_PI), packets read in batches
// when the uv_poll watcher says the fd is readable, packets written in batches once per microtask
// (the WireGuard node delivers a whole receive burst synchronously, so a burst is one native call).
// Buffers are allocated once; onPacket gets a view into the read buffer, valid until it returns.
import { existsSync, read, writeSync } from 'node:fs';
import { loadBinding, type NativeBinding } from '@nexodus/native';
import { NexdError } from '../errors.js';

export const TUN_PATH = '/dev/net/tun';
/** Packets per tunRead call, and calls per readable event before yielding to the loop. */
const READ_BATCH = 64;
const READ_ROUNDS = 4;
/** Written packets are copied here until the microtask flush; a full buffer flushes early. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
const WRITE_BATCH = 512;
/** Largest IP packet a peer may send us (its MTU may exceed ours; the kernel takes any size on write). */
const MAX_PACKET = 65535;
const EAGAIN = 11;
const ENOENT = 2;
const EPERM = 1;
const EACCES = 13;
const EBUSY = 16;
const EINVAL = 22;
const READABLE = 1;
/** 'fs' mode: reads kept in flight on the libuv threadpool (each holds one of its 4 threads). */
const FS_READS_IN_FLIGHT = 2;
/** 'offload': a virtio_net_hdr before every packet (struct virtio_net_hdr, legacy 10-byte form). */
const VNET_HDR_LEN = 10;
/** 'offload': room for several super-packets per read call, as segments (see tunReadVnet). */
const OFFLOAD_READ_BYTES = 512 * 1024;
const OFFLOAD_READ_PACKETS = 512;

/**
 * How packets cross: 'offload' (opt-in, NEXD_TUN_IO=offload) is 'batched' with virtio-net headers: the kernel hands over
 * TCP super-packets (TSO, up to 64 KiB) with checksums left to us, and the addon splits them into
 * MSS-sized segments in C, so the kernel's TCP sender and the TUN read path work per 64 KiB instead of
 * per 1420 bytes (not the default: on this loaded machine it measured no faster yet); 'batched' (default) reads up to 64 packets per native call when uv_poll says readable and
 * writes a burst per call; 'fs' is Node's own fs.read/fs.writeSync on a blocking fd, one
 * threadpool request per packet read and one call per packet written. 'fs' exists to measure the
 * difference (NEXD_TUN_IO=fs, bench:agent); its reads block threadpool threads until nexd exits.
 */
export type TunIoMode = 'offload' | 'batched' | 'fs';

export interface TunEnvironment {
  /** The TUN clone device (default /dev/net/tun); tests point it elsewhere. */
  tunPath?: string;
  /** Default: process.getuid. */
  getuid?: () => number;
  /** Default: the built addon. */
  binding?: NativeBinding | undefined;
}

/**
 * Checks what agent mode needs before anything is registered: the addon, the TUN clone device, and
 * root. Throws NEX_ERR_AGENT_NO_TUN or NEX_ERR_AGENT_PRIVILEGES with what to do.
 */
export function agentPreflight(env: TunEnvironment = {}): NativeBinding {
  const tunPath = env.tunPath ?? TUN_PATH;
  const load = env.binding !== undefined ? { binding: env.binding, reason: '' } : loadBinding();
  if (!load.binding) {
    throw new NexdError(
      'NEX_ERR_AGENT_NO_TUN',
      `agent mode opens its TUN device through the @nexodus/native addon, which is not available (${load.reason}); rebuild it (npm rebuild @nexodus/native) or run \`nexd proxy\`, which needs neither`,
    );
  }
  if (!existsSync(tunPath)) {
    throw new NexdError(
      'NEX_ERR_AGENT_NO_TUN',
      `${tunPath} is missing: agent mode needs the kernel's TUN driver (modprobe tun; in a container, pass the device with --device ${TUN_PATH}), or run \`nexd proxy\`, which needs no device`,
    );
  }
  const uid = (env.getuid ?? process.getuid)?.();
  if (uid !== undefined && uid !== 0) {
    throw new NexdError(
      'NEX_ERR_AGENT_PRIVILEGES',
      `agent mode creates a network device and routes, which needs root (CAP_NET_ADMIN); this is uid ${uid}: run nexd as root, or run \`nexd proxy\`, which needs no privileges`,
    );
  }
  return load.binding;
}

export function tunOpenError(name: string, errno: number): NexdError {
  switch (errno) {
    case ENOENT:
      return new NexdError('NEX_ERR_AGENT_NO_TUN', `cannot open ${TUN_PATH} for ${name}: it does not exist`);
    case EPERM:
    case EACCES:
      return new NexdError(
        'NEX_ERR_AGENT_PRIVILEGES',
        `creating TUN device ${name} was refused (CAP_NET_ADMIN missing): run nexd as root, or run \`nexd proxy\``,
      );
    case EBUSY:
    case EINVAL:
      return new NexdError(
        'NEX_ERR_AGENT_LINK',
        `a network device named ${name} exists and is not a TUN device nexd may take over; delete it (ip link del ${name}) or choose another name with --tunnel-iface`,
      );
    default:
      return new NexdError('NEX_ERR_AGENT_LINK', `cannot create TUN device ${name}: errno ${errno}`);
  }
}

export class TunDevice {
  readonly name: string;
  readonly mtu: number;
  /** Called with each packet read from the device (a view, valid until it returns). */
  onPacket: ((packet: Uint8Array) => void) | undefined = undefined;
  /** Packets the kernel refused on write (malformed), and read errors other than EAGAIN. */
  writeDrops = 0;
  readErrors = 0;
  /** 'offload': super-packets that could not be split (dropped). */
  get segmentDrops(): number {
    return this.#drops[0]!;
  }
  /** 'offload': TCP super-packets the kernel handed over and the addon split. */
  get superPackets(): number {
    return this.#drops[1]!;
  }
  readonly #b: NativeBinding;
  readonly #fd: number;
  readonly #watcher: unknown;
  readonly #mode: TunIoMode;
  readonly #rbuf: Uint8Array;
  readonly #rlens: Uint32Array;
  readonly #drops = new Uint32Array(2);
  readonly #wbuf = new Uint8Array(WRITE_BUFFER_BYTES);
  readonly #wlens = new Uint32Array(WRITE_BATCH);
  #wcount = 0;
  #woff = 0;
  #flushQueued = false;
  #closed = false;
  readonly #flushTask = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  private constructor(binding: NativeBinding, fd: number, name: string, mtu: number, mode: TunIoMode) {
    this.#b = binding;
    this.#fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.#mode = mode;
    const offload = mode === 'offload';
    this.#rbuf = new Uint8Array(offload ? OFFLOAD_READ_BYTES : READ_BATCH * mtu);
    this.#rlens = new Uint32Array(offload ? OFFLOAD_READ_PACKETS : READ_BATCH);
    if (mode === 'fs') {
      this.#watcher = undefined;
      for (let i = 0; i < FS_READS_IN_FLIGHT; i++) this.#fsRead(new Uint8Array(MAX_PACKET));
      return;
    }
    this.#watcher = binding.watch(fd, (events) => {
      if (events & READABLE) this.#readable();
    });
    binding.setEvents(this.#watcher, READABLE);
  }

  /** Creates (or attaches to) the TUN device `name`; throws a NexdError with what to do. */
  static open(binding: NativeBinding, name: string, mtu: number, mode: TunIoMode = 'batched'): TunDevice {
    const fd = binding.tunOpen(name, mode === 'fs', mode === 'offload');
    if (fd < 0) throw tunOpenError(name, -fd);
    try {
      return new TunDevice(binding, fd, name, mtu, mode);
    } catch (err) {
      binding.closeFd(fd);
      throw err;
    }
  }

  #readable(): void {
    const b = this.#b;
    const buf = this.#rbuf;
    const lens = this.#rlens;
    const offload = this.#mode === 'offload';
    for (let round = 0; round < READ_ROUNDS && !this.#closed; round++) {
      const n = offload
        ? b.tunReadVnet(this.#fd, buf, lens, this.#drops)
        : b.tunRead(this.#fd, buf, lens, this.mtu);
      if (n < 0) {
        if (-n !== EAGAIN) this.readErrors++;
        return;
      }
      let off = 0;
      for (let i = 0; i < n; i++) {
        const len = lens[i]!;
        this.onPacket?.(buf.subarray(off, off + len));
        off += len;
      }
      // A short batch means the queue ran dry (offload: the call stops when room runs short instead).
      if (!offload && n < READ_BATCH) return;
    }
  }

  #fsRead(buf: Uint8Array): void {
    read(this.#fd, buf, 0, buf.length, null, (err, n) => {
      if (this.#closed) return;
      if (err) {
        this.readErrors++;
        if (err.code === 'EBADF') return;
      } else this.onPacket?.(buf.subarray(0, n));
      this.#fsRead(buf);
    });
  }

  /** Queues one IP packet for the kernel (copied; the caller keeps `packet`). */
  write(packet: Uint8Array): void {
    if (this.#closed) return;
    if (this.#mode === 'fs') {
      try {
        writeSync(this.#fd, packet);
      } catch {
        this.writeDrops++;
      }
      return;
    }
    const len = packet.length;
    if (len === 0 || len > MAX_PACKET) {
      this.writeDrops++;
      return;
    }
    const head = this.#mode === 'offload' ? VNET_HDR_LEN : 0;
    if (this.#woff + head + len > WRITE_BUFFER_BYTES || this.#wcount === WRITE_BATCH) this.flush();
    // offload: a zeroed header says "a plain packet, checksum complete".
    if (head > 0) this.#wbuf.fill(0, this.#woff, this.#woff + head);
    this.#wbuf.set(packet, this.#woff + head);
    this.#wlens[this.#wcount++] = head + len;
    this.#woff += head + len;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Hands the queued packets to the kernel now. */
  flush(): void {
    const count = this.#wcount;
    if (count === 0 || this.#closed) return;
    const ok = this.#b.tunWrite(this.#fd, this.#wbuf, this.#wlens, count);
    this.writeDrops += count - ok;
    this.#wcount = 0;
    this.#woff = 0;
  }

  /** Stops reading and closes the fd; a non-persistent TUN device (and its routes) goes with it. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#watcher !== undefined) this.#b.unwatch(this.#watcher);
    this.#b.closeFd(this.#fd);
  }
}
