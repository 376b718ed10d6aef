// SPDX-License-Identifier: Apache-2.0
// Errors at the façade boundary carry the Node-style codes proxy code already handles for net.Socket.

export type NetStackErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EMFILE'
  | 'EMSGSIZE'
  | 'ENOBUFS'
  | 'EPIPE'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_STACK_CLOSED';

export class NetStackError extends Error {
  override name = 'NetStackError';
  constructor(
    readonly code: NetStackErrorCode,
    message: string,
    readonly syscall?: string,
    readonly address?: string,
    readonly port?: number,
  ) {
    super(message);
  }
}

/** i.e. `connect ECONNREFUSED 100.100.0.2:80`, the shape of Node's own messages. */
export function socketError(
  code: NetStackErrorCode,
  syscall: string,
  address: string,
  port: number,
): NetStackError {
  const hostPort = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return new NetStackError(code, `${syscall} ${code} ${hostPort}`, syscall, address, port);
}
