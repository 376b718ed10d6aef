// SPDX-License-Identifier: Apache-2.0
// A net.Socket-shaped Duplex over one core TCP socket. Backpressure both ways:
// - readable: bytes leave the core receive buffer only while push() returns true, so a slow consumer leaves
//   them there and the advertised window shrinks to zero;
// - writable: _write() completes only when the core send buffer took every byte (highWaterMark = send buffer).
import { Duplex } from 'node:stream';
import { TcpEvent, type TcpEventSink, type TcpSocket } from '../tcp/socket.js';
import { NetStackError, socketError } from './errors.js';

/** What the stream needs from its NetStack (kept narrow to avoid an import cycle). */
export interface StreamHost {
  scheduleFlush(): void;
  /** Start or stop watching this stream's idle timeout (checked on the stack's single timer). */
  watchIdle(s: TcpSocketStream, on: boolean): void;
  /** The core's clock (ms). */
  now(): number;
  readonly sendBufferSize: number;
}

const READ_CHUNK = 64 * 1024;

export class TcpSocketStream extends Duplex implements TcpEventSink {
  /** True until the handshake completes (as net.Socket#connecting). */
  connecting: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly localAddress: string;
  readonly localPort: number;
  bytesRead = 0;
  bytesWritten = 0;
  /** net.Socket#timeout: idle ms before 'timeout' is emitted (0 = off). */
  timeout = 0;
  /** Last read or write (stack clock), for the idle timeout. */
  lastActivity = 0;
  /** 'timeout' was emitted for the current idle period. */
  timeoutEmitted = false;
  private pendingChunk: Uint8Array | undefined = undefined;
  private pendingOff = 0;
  private pendingCb: ((err?: Error | null) => void) | undefined = undefined;
  private wantRead = false;
  private ended = false;

  constructor(
    private readonly host: StreamHost,
    readonly core: TcpSocket,
    connecting: boolean,
  ) {
    super({
      allowHalfOpen: true,
      writableHighWaterMark: host.sendBufferSize,
      readableHighWaterMark: READ_CHUNK,
    });
    this.connecting = connecting;
    this.remoteAddress = core.remote.toString();
    this.remotePort = core.remotePort;
    this.remoteFamily = core.family === 4 ? 'IPv4' : 'IPv6';
    this.localAddress = core.local.toString();
    this.localPort = core.localPort;
    core.sink = this;
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  /** Disables Nagle's algorithm (RFC 9293 3.7.4) when noDelay is true (the default, like net.Socket). */
  setNoDelay(noDelay = true): this {
    this.core.setNoDelay(noDelay);
    this.host.scheduleFlush();
    return this;
  }

  /** Enables TCP keepalive probes after `initialDelay` ms idle (0 keeps the configured default). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.core.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    this.host.scheduleFlush();
    return this;
  }

  /**
   * net.Socket#setTimeout: emit 'timeout' after `ms` without reads or writes (the socket stays open, as in
   * Node). 0 disables. Checked by the stack's one timer, so idle sockets cost no timer of their own.
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`setTimeout: ms must be a finite number >= 0, got ${ms}`);
    this.timeout = ms;
    this.lastActivity = this.host.now();
    this.timeoutEmitted = false;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.host.watchIdle(this, ms > 0);
    return this;
  }

  /** Called by the stack's timer sweep. Returns the next time this stream needs a look. */
  checkIdle(now: number): number {
    const due = this.lastActivity + this.timeout;
    if (now >= due) {
      if (!this.timeoutEmitted) {
        this.timeoutEmitted = true;
        this.emit('timeout');
      }
      return now + this.timeout;
    }
    return due;
  }

  private activity(): void {
    if (this.timeout > 0) {
      this.lastActivity = this.host.now();
      this.timeoutEmitted = false;
    }
  }

  /** Node's net.Socket API; the stack's timer never keeps the process alive on a socket's behalf. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  /** TCP state, i.e. 'established' (for diagnostics). */
  get tcpState(): string {
    return this.core.state;
  }

  // --- core events ---

  tcpEvent(ev: number): void {
    if (ev & TcpEvent.Connected && this.connecting) {
      this.connecting = false;
      this.emit('connect');
      this.emit('ready');
    }
    if (ev & TcpEvent.Writable) this.continueWrite();
    if (ev & TcpEvent.Readable && this.wantRead) this.pump();
    if (ev & TcpEvent.Closed) this.onCoreClosed();
  }

  private onCoreClosed(): void {
    const code = this.core.error;
    if (code) {
      const syscall = this.connecting ? 'connect' : 'read';
      this.destroy(socketError(code, syscall, this.remoteAddress, this.remotePort));
      return;
    }
    if (this.pendingCb) {
      const cb = this.pendingCb;
      this.pendingCb = undefined;
      this.pendingChunk = undefined;
      cb(new NetStackError('EPIPE', 'write EPIPE: the connection closed before all data was sent', 'write'));
    }
    if (this.wantRead) this.pump();
  }

  // --- Duplex implementation ---

  override _read(): void {
    this.wantRead = true;
    this.pump();
  }

  private pump(): void {
    const core = this.core;
    let moved = false;
    while (core.recvAvailable > 0) {
      const n = Math.min(core.recvAvailable, READ_CHUNK);
      const buf = Buffer.allocUnsafe(n);
      core.recv(buf, 0, n);
      this.bytesRead += n;
      this.activity();
      moved = true;
      if (!this.push(buf)) {
        this.wantRead = false;
        break;
      }
    }
    if (moved) this.host.scheduleFlush(); // a window update may be due
    if (!this.ended && core.recvAvailable === 0 && (core.rxEnded || (core.isClosed() && !core.error))) {
      this.ended = true;
      this.push(null);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.core.canSend) {
      cb(new NetStackError('EPIPE', 'write EPIPE: the connection is closed for sending', 'write'));
      return;
    }
    const n = this.core.send(chunk, 0, chunk.length);
    this.bytesWritten += n;
    this.activity();
    this.host.scheduleFlush();
    if (n === chunk.length) {
      cb();
      return;
    }
    this.pendingChunk = chunk;
    this.pendingOff = n;
    this.pendingCb = cb;
  }

  private continueWrite(): void {
    const chunk = this.pendingChunk;
    if (!chunk) return;
    const n = this.core.send(chunk, this.pendingOff, chunk.length - this.pendingOff);
    this.bytesWritten += n;
    this.pendingOff += n;
    if (n > 0) this.host.scheduleFlush();
    if (this.pendingOff >= chunk.length) {
      const cb = this.pendingCb;
      this.pendingChunk = undefined;
      this.pendingCb = undefined;
      cb?.();
    }
  }

  /** end(): half-close. The FIN follows the buffered data; reading continues until the peer's FIN. */
  override _final(cb: (err?: Error | null) => void): void {
    this.core.close();
    this.host.scheduleFlush();
    cb();
  }

  /** destroy(): abortive close (RST) unless our FIN is already on its way. */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const s = this.core.state;
    if (s === 'established' || s === 'close-wait' || s === 'syn-sent' || s === 'syn-received') {
      this.core.abort();
    } else if (this.core.recvAvailable > 0 && s !== 'closed') {
      this.core.abort(); // unread data: like a kernel, reset rather than pretend it was consumed
    }
    this.core.orphan(this.host.now());
    if (this.timeout > 0) this.host.watchIdle(this, false);
    this.pendingCb = undefined;
    this.pendingChunk = undefined;
    this.host.scheduleFlush();
    cb(err);
  }
}
