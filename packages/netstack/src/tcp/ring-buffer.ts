// SPDX-License-Identifier: Apache-2.0
// A bounded byte ring whose storage is allocated lazily and grows by doubling up to `capacity`, so an idle
// connection costs no buffer memory while a busy one reaches its full window. Copies happen only when the
// application hands data in or takes it out (and once into the outgoing packet).

const MIN_STORAGE = 4096;
/** The storage of every empty ring: release() must not allocate (it runs on ACK and read paths). */
const NO_STORAGE = new Uint8Array(0);

export class RingBuffer {
  private storage: Uint8Array = NO_STORAGE;
  /** Index in storage of the first byte. */
  private head = 0;
  /** Bytes held (readable from head). */
  length = 0;

  constructor(readonly capacity: number) {}

  /** Free space in bytes, i.e. how much write() accepts. */
  get free(): number {
    return this.capacity - this.length;
  }

  /** Bytes of storage currently allocated (for memory accounting). */
  get allocated(): number {
    return this.storage.length;
  }

  private ensure(needed: number): void {
    if (needed <= this.storage.length) return;
    let size = Math.max(MIN_STORAGE, this.storage.length * 2);
    while (size < needed) size *= 2;
    size = Math.min(size, this.capacity);
    const next = new Uint8Array(size);
    // Linearise the whole old ring from head: held bytes and any out-of-order bytes written past them.
    this.copyOut(0, next, 0, this.storage.length);
    this.storage = next;
    this.head = 0;
  }

  /** Copies n bytes starting `offset` bytes after head into dst[dstOff]; does not consume. */
  copyOut(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    const cap = this.storage.length;
    if (n <= 0 || cap === 0) return;
    let start = this.head + offset;
    if (start >= cap) start -= cap;
    const first = Math.min(n, cap - start);
    dst.set(this.storage.subarray(start, start + first), dstOff);
    if (first < n) dst.set(this.storage.subarray(0, n - first), dstOff + first);
  }

  /** Copies src[off, off+n) so it lands `offset` bytes after the current end (offset 0 = append position). */
  writeAt(offset: number, src: Uint8Array, off: number, n: number): void {
    if (n <= 0) return;
    this.ensure(this.length + offset + n);
    const cap = this.storage.length;
    let start = this.head + this.length + offset;
    while (start >= cap) start -= cap;
    const first = Math.min(n, cap - start);
    this.storage.set(src.subarray(off, off + first), start);
    if (first < n) this.storage.set(src.subarray(off + first, off + n), 0);
  }

  /** Marks n bytes written by writeAt(0, ...) (or earlier out-of-order writes) as held. */
  commit(n: number): void {
    this.length += n;
  }

  /** Appends as much of src[off, off+n) as fits; returns the count accepted. */
  write(src: Uint8Array, off: number, n: number): number {
    const k = Math.min(n, this.free);
    this.writeAt(0, src, off, k);
    this.length += k;
    return k;
  }

  /** Moves up to n bytes into dst[dstOff]; returns the count. */
  read(dst: Uint8Array, dstOff: number, n: number): number {
    const k = Math.min(n, this.length);
    this.copyOut(0, dst, dstOff, k);
    this.discard(k);
    return k;
  }

  /** Drops n bytes from the head (acknowledged send data). */
  discard(n: number): void {
    const k = Math.min(n, this.length);
    this.length -= k;
    // head is not reset when empty: out-of-order bytes may sit past the end, positioned relative to it.
    this.head += k;
    if (this.head >= this.storage.length) this.head -= this.storage.length;
  }

  /**
   * Frees storage when empty and no larger than maxStorage (call when a connection goes idle or closes).
   * The caller guarantees no out-of-order bytes sit past the end.
   */
  release(maxStorage = Number.POSITIVE_INFINITY): void {
    if (this.length === 0 && this.storage.length <= maxStorage) {
      this.storage = NO_STORAGE;
      this.head = 0;
    }
  }
}
