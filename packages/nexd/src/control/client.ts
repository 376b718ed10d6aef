// SPDX-License-Identifier: Apache-2.0
// Control socket client (used by nexctl). One connection, pipelined requests matched by id.
import net from 'node:net';
import { NexdError } from '../errors.js';
import { CONTROL_MAX_LINE, type ControlMethods, type ControlResponse } from './protocol.js';

/** An error answer from nexd; `code` is nexd's (i.e. NEX_ERR_PROXY_RULE), or NEX_ERR_CONTROL. */
export class ControlCallError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ControlCallError';
    this.code = code;
  }
}

/** How long a call waits for nexd's answer by default. */
export const CONTROL_CALL_TIMEOUT_MS = 10_000;

export class ControlClient {
  readonly #socket: net.Socket;
  readonly #path: string;
  /** Per-call timeout in ms; a call that gets no answer in time rejects with NEX_ERR_CONTROL. */
  timeoutMs = CONTROL_CALL_TIMEOUT_MS;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;
  #buffered = '';
  #closedError: Error | undefined;

  private constructor(socket: net.Socket, path: string) {
    this.#socket = socket;
    this.#path = path;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    const fail = (err: Error) => {
      this.#closedError = err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    socket.on('error', (err) =>
      fail(new NexdError('NEX_ERR_CONTROL', `control socket ${path}: ${err.message}`)),
    );
    socket.on('close', () =>
      fail(new NexdError('NEX_ERR_CONTROL', `nexd closed the control socket ${path}`)),
    );
  }

  /** Connects to nexd's control socket; the error says how to find it when nexd is not running. */
  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket, path));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? 'is nexd running with this --state-dir?'
            : err.code === 'EACCES'
              ? 'the socket is owner-only: run as the user running nexd'
              : err.message;
        reject(new NexdError('NEX_ERR_CONTROL', `cannot connect to nexd at ${path} (${err.code}): ${why}`));
      });
    });
  }

  #onData(chunk: string): void {
    this.#buffered += chunk;
    let nl = this.#buffered.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffered.slice(0, nl);
      this.#buffered = this.#buffered.slice(nl + 1);
      let msg: ControlResponse;
      try {
        msg = JSON.parse(line) as ControlResponse;
      } catch {
        this.#socket.destroy(new Error('nexd sent a line that is not JSON'));
        return;
      }
      const p = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
      if (p) {
        this.#pending.delete(msg.id as number);
        if ('error' in msg) p.reject(new ControlCallError(msg.error.code, msg.error.message));
        else p.resolve(msg.result);
      }
      nl = this.#buffered.indexOf('\n');
    }
    // In bytes, as protocol.ts defines it (a string's length counts UTF-16 units).
    if (Buffer.byteLength(this.#buffered) > CONTROL_MAX_LINE)
      this.#socket.destroy(new Error('nexd sent an over-long line'));
  }

  call<M extends keyof ControlMethods>(
    method: M,
    ...params: ControlMethods[M]['params'] extends undefined ? [] : [ControlMethods[M]['params']]
  ): Promise<ControlMethods[M]['result']> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new NexdError(
            'NEX_ERR_CONTROL',
            `nexd at ${this.#path} did not answer ${method} within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          (resolve as (v: unknown) => void)(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#socket.write(`${JSON.stringify({ id, method, params: params[0] })}\n`);
    });
  }

  close(): void {
    this.#socket.end();
  }
}
