// SPDX-License-Identifier: Apache-2.0
// One dial with one deadline, shared by both stream networks (node:net locally, the netstack through the
// tunnel): resolve the name afresh, open the connection, and settle exactly once - on 'connect', on the
// first error, or when the deadline passes (ETIMEDOUT), whichever comes first.
import type { Duplex } from 'node:stream';
import type { Endpoint } from './network.js';
import type { Resolver } from './node-network.js';

export interface DialOptions<S extends Duplex> {
  resolve: Resolver;
  /** Resolution and connection together must finish within this many ms. */
  timeoutMs: number;
  /** Opens the connection to the resolved address (may throw, i.e. no route in the netstack). */
  open(address: string, port: number): S;
  /** Where the dial goes, for the timeout message: i.e. ` through the tunnel`, or empty. */
  via?: string;
}

/**
 * Resolves `target.host`, opens a connection and resolves with it once connected. On failure the
 * half-open socket is destroyed and the promise rejects with the resolver's, the socket's or an
 * ETIMEDOUT error. The resolved socket has no 'error' listener of ours left: the caller attaches its own.
 */
export function dialStream<S extends Duplex>(target: Endpoint, options: DialOptions<S>): Promise<S> {
  const { timeoutMs } = options;
  return new Promise((resolve, reject) => {
    let sock: S | undefined;
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        sock?.destroy();
        reject(err);
        return;
      }
      sock!.removeAllListeners('error');
      resolve(sock!);
    };
    const timer = setTimeout(() => {
      const err = new Error(
        `connect to ${target.host} port ${target.port}${options.via ?? ''} timed out after ${timeoutMs} ms`,
      ) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      settle(err);
    }, timeoutMs);
    options.resolve(target.host).then(
      ({ address }) => {
        if (settled) return;
        try {
          sock = options.open(address, target.port);
        } catch (err) {
          settle(err as Error);
          return;
        }
        sock.once('connect', () => settle(undefined));
        sock.once('error', (err: Error) => settle(err));
      },
      (err: Error) => settle(err),
    );
  });
}
