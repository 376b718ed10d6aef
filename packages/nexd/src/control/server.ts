// SPDX-License-Identifier: Apache-2.0
// The control socket server: a Unix socket, owner-only (0600, inside a 0700 state dir), speaking the
// JSON-lines protocol of protocol.ts. Handlers are plain async functions; their NexdErrors become
// `{error:{code,message}}` answers, anything else a generic NEX_ERR_CONTROL answer (never a crash).
import { chmod, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { NexdError } from '../errors.js';
import {
  CONTROL_MAX_LINE,
  type ControlErrorBody,
  type ControlRequest,
  type ControlResponse,
} from './protocol.js';

export type ControlHandler = (params: unknown) => unknown;
export type ControlHandlers = Record<string, ControlHandler>;

/** Linux sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

function errorBody(err: unknown): ControlErrorBody {
  if (err instanceof NexdError) return { code: err.code, message: err.message };
  return { code: 'NEX_ERR_CONTROL', message: `internal error: ${(err as Error)?.message ?? String(err)}` };
}

function isRequest(v: unknown): v is ControlRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (typeof r.id === 'number' || typeof r.id === 'string') && typeof r.method === 'string';
}

/** Is something answering on `path`? Used to tell a stale socket file from a running nexd. */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function serveControl(
  path: string,
  handlers: ControlHandlers,
  logger: Logger,
): Promise<ControlServer> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new NexdError(
      'NEX_ERR_CONTROL',
      `control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter --state-dir`,
    );
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  if (await probe(path)) {
    throw new NexdError(
      'NEX_ERR_CONTROL',
      `another nexd is already serving ${path}; use a different --state-dir`,
    );
  }
  await unlink(path).catch(() => {});
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: a client may shut down its sending side right after its request (`nc -N`, socat,
  // shutdown(SHUT_WR)). Node's default would then end our side at once, and the answer of a handler still
  // running (proxy.add applies the change, then answers) would be lost. So our side ends only once every
  // request read before the client's FIN has been answered.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let pending = 0;
    let peerEnded = false;
    const endIfDone = () => {
      if (peerEnded && pending === 0 && !socket.destroyed) socket.end();
    };
    const send = (r: ControlResponse) => {
      if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(r)}\n`);
    };
    const handle = (line: string) => {
      pending++;
      void handleLine(line).finally(() => {
        pending--;
        endIfDone();
      });
    };
    const handleLine = async (line: string) => {
      let req: unknown;
      try {
        req = JSON.parse(line);
      } catch {
        return send({ id: null, error: { code: 'NEX_ERR_CONTROL', message: 'request is not valid JSON' } });
      }
      if (!isRequest(req)) {
        return send({
          id: null,
          error: {
            code: 'NEX_ERR_CONTROL',
            message: 'request must be {"id":number|string,"method":string,"params"?:...}',
          },
        });
      }
      const handler = Object.hasOwn(handlers, req.method) ? handlers[req.method] : undefined;
      if (!handler) {
        const known = Object.keys(handlers).join(', ');
        return send({
          id: req.id,
          error: { code: 'NEX_ERR_CONTROL', message: `unknown method ${req.method}; known: ${known}` },
        });
      }
      try {
        send({ id: req.id, result: (await handler(req.params)) ?? null });
      } catch (err) {
        if (!(err instanceof NexdError)) logger.error({ err, method: req.method }, 'control handler failed');
        send({ id: req.id, error: errorBody(err) });
      }
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== '') handle(line);
        nl = buffered.indexOf('\n');
      }
      // The limit is in bytes (protocol.ts); a string's length counts UTF-16 units, up to 3x fewer.
      if (Buffer.byteLength(buffered) > CONTROL_MAX_LINE) {
        send({
          id: null,
          error: { code: 'NEX_ERR_CONTROL', message: `request longer than ${CONTROL_MAX_LINE} bytes` },
        });
        socket.end();
      }
    });
    socket.on('end', () => {
      peerEnded = true;
      // The FIN also ends a last request sent without its newline.
      const line = buffered.trim();
      buffered = '';
      if (line !== '' && socket.writable) handle(line);
      endIfDone();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new NexdError(
          'NEX_ERR_CONTROL',
          `cannot listen on control socket ${path}: ${(err as NodeJS.ErrnoException).code}`,
        ),
      ),
    );
    server.listen(path, () => resolve());
  });
  // The state dir is 0700 already; 0600 on the socket itself keeps it private even in a shared dir.
  await chmod(path, 0o600);
  logger.debug({ path }, 'control socket listening');
  return {
    path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await unlink(path).catch(() => {});
    },
  };
}
