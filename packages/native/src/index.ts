// SPDX-License-Identifier: Apache-2.0
// Loads the native addon (native/*.c) if it was built: batched UDP I/O (sendmmsg + GSO, recvmmsg +
// GRO, a uv_poll watcher), the transport AEAD through Node's OpenSSL and TUN devices (agent mode); and finds the fd and the
// reading switch of a bound node:dgram socket (dgramHandle). Nothing here throws: `binding` is undefined with a reason, and callers fall back.
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';

export interface NativeBinding {
  /**
   * Sends `count` datagrams laid end to end in `data` (sizes in `lengths`) to `ip`:`port` through the
   * socket `fd`, equal-size runs as GSO super-packets when `gso`. Returns how many the kernel took, or
   * -errno when it took none (i.e. -EAGAIN: socket buffer full; -EIO/-EINVAL: the kernel refused GSO).
   * Throws a TypeError (code NATIVE_ERR_ARGS) only for arguments of the wrong kind.
   */
  sendBatch(
    fd: number,
    data: Uint8Array,
    lengths: Uint32Array,
    count: number,
    ip: string,
    port: number,
    gso: boolean,
  ): number;
  /**
   * Receives up to `maxMessages` messages into `data`, packed from offset 0; `meta` gets 9 words per
   * message: offset, length, GRO segment size (0 = one datagram), source port, family (4 or 6), then the
   * source address bytes (4 or 16) in network order. `data` must have 64 KiB of room per message.
   * Returns the count or -errno (-EAGAIN: nothing queued).
   */
  recvBatch(fd: number, data: Uint8Array, meta: Uint32Array, maxMessages: number): number;
  /** Asks the kernel to coalesce a peer's GSO bursts (UDP_GRO); false if it will not. */
  enableGro(fd: number): boolean;
  /** Watches `fd` on Node's event loop; `callback(events)`: 1 readable, 2 writable, 4 poll error. */
  watch(fd: number, callback: (events: number) => void): unknown;
  /** What to watch for: 1 readable, 2 writable, 3 both, 0 nothing. */
  setEvents(watcher: unknown, events: number): void;
  /** Stops and frees the watcher; call before the socket closes. Idempotent. */
  unwatch(watcher: unknown): void;
  /** The most datagrams one sendBatch call takes. */
  readonly maxDatagrams: number;
  /**
   * ChaCha20-Poly1305 (RFC 8439) with empty associated data, in place: encrypts `buf` and writes the
   * 16-byte tag. key: 32 bytes, nonce: 12. Throws a TypeError for other sizes. `fillTcpChecksum`: `buf`
   * starts with an IP packet whose TCP checksum is to be filled in first (TX checksum offload); packets
   * that are not TCP, or are fragments, are left as they are.
   */
  sealInPlace(
    key: Uint8Array,
    nonce: Uint8Array,
    buf: Uint8Array,
    tag: Uint8Array,
    fillTcpChecksum?: boolean,
  ): void;
  /** Decrypts `buf` in place; false when `tag` does not authenticate it (then `buf` is garbage). */
  openInPlace(key: Uint8Array, nonce: Uint8Array, buf: Uint8Array, tag: Uint8Array): boolean;
  /**
   * 'primitives': OpenSSL's ChaCha20/Poly1305 functions that Node exports, composed here (checked against
   * EVP once at load); 'evp': OpenSSL's public EVP interface (slower per call).
   */
  aeadPath(): 'primitives' | 'evp';
  /**
   * Opens /dev/net/tun as the layer-3 device `name` (IFF_TUN | IFF_NO_PI, created if absent), non-blocking
   * and close-on-exec. Returns the fd, or -errno: -ENOENT (no /dev/net/tun), -EPERM (no CAP_NET_ADMIN),
   * -EBUSY (the name is taken by another device). Name: 1-15 characters. `blocking`: leave O_NONBLOCK off
   * (for reads through Node's fs, one threadpool request per packet).
   */
  tunOpen(name: string, blocking?: boolean, vnet?: boolean): number;
  /**
   * tunRead for a device opened with `vnet`: finishes checksums the kernel left (checksum offload) and
   * splits TCP super-packets (TSO, up to 64 KiB) into MSS-sized segments, so `data` holds plain IP
   * packets. `counters[0]` counts packets it could not split (dropped), `counters[1]` super-packets split.
   */
  tunReadVnet(fd: number, data: Uint8Array, lengths: Uint32Array, counters: Uint32Array): number;
  /**
   * Reads queued packets into `data` back to back while `slot` bytes (the largest packet) are left and
   * `lengths` has room; sizes go to `lengths`. Returns the count, or -errno when none (-EAGAIN: empty).
   */
  tunRead(fd: number, data: Uint8Array, lengths: Uint32Array, slot: number): number;
  /**
   * Writes `count` packets laid end to end in `data`; returns how many the kernel took (refused ones
   * drop). With `vnet`, each packet must start with a virtio_net_hdr (10 bytes; zeros = no offload).
   */
  tunWrite(fd: number, data: Uint8Array, lengths: Uint32Array, count: number): number;
  /** close(2); 0 or -errno. */
  closeFd(fd: number): number;
}

export type BindingLoad = { binding: NativeBinding } | { binding: undefined; reason: string };

let loaded: BindingLoad | undefined;

/** The addon, loaded once; `reason` says why not (not Linux, not built). */
export function loadBinding(): BindingLoad {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { binding: undefined, reason: `the native addon is Linux-only (this is ${process.platform})` };
    return loaded;
  }
  try {
    const require = createRequire(import.meta.url);
    loaded = { binding: require('../build/Release/nexodus_native.node') as NativeBinding };
  } catch (err) {
    loaded = {
      binding: undefined,
      reason: `native addon not built: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  return loaded;
}

/** What the batched path needs of a bound node:dgram socket. */
export interface DgramHandle {
  readonly fd: number;
  /** Stops dgram's own reading, so that another reader can take the socket; false if libuv refused. */
  stopReading(): boolean;
  /** Gives the reading back to dgram (after stopReading, when the other reader could not start). */
  resumeReading(): void;
}

interface DgramState {
  handle: { fd: number; recvStop(): number; recvStart(): number };
  receiving: boolean;
}

/**
 * The fd and the reading switch of a bound dgram socket, or undefined when it has none. Node keeps
 * its libuv handle in a symbol-keyed state object (the `_handle` accessor is deprecated and warns), so
 * look for the state object that holds one; `receiving` is kept in step so that dgram's close() does
 * not stop a reading that is already stopped.
 */
export function dgramHandle(sock: dgram.Socket): DgramHandle | undefined {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    const state = (sock as unknown as Record<symbol, unknown>)[sym] as Partial<DgramState> | null;
    const handle = state && typeof state === 'object' ? state.handle : undefined;
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.recvStop !== 'function') {
      continue;
    }
    const s = state as DgramState;
    return {
      fd: handle.fd,
      stopReading: () => {
        if (s.handle.recvStop() !== 0) return false;
        s.receiving = false;
        return true;
      },
      resumeReading: () => {
        s.handle.recvStart();
        s.receiving = true;
      },
    };
  }
  return undefined;
}
