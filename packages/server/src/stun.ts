// SPDX-License-Identifier: Apache-2.0
// The service's STUN responder (RFC 8489 Binding, from @nexodus/nat) on a UDP port of its own: devices
// query it through their WireGuard socket to learn the reflexive address their NAT gives that socket.
import { StunServer } from '@nexodus/nat';
import type { Logger } from 'pino';

export interface StunListen {
  port: number;
  close(): Promise<void>;
}

/**
 * Binds the responder. A port that was asked for explicitly and is taken fails the start; the default
 * port (3478) taken by another process only warns, so several services on one host (tests) can start.
 */
export async function startStun(
  addr: { host: string; port: number; isDefault: boolean },
  log: Logger,
): Promise<StunListen | undefined> {
  try {
    const server = await StunServer.listen({ port: addr.port, host: addr.host, software: 'nexodus-server' });
    return server;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (addr.isDefault && code === 'EADDRINUSE') {
      log.warn(
        { port: addr.port },
        'STUN port taken by another process: no STUN responder (pass --stun-listen HOST:PORT or off)',
      );
      return undefined;
    }
    throw new Error(
      `--stun-listen ${addr.host}:${addr.port}: cannot bind UDP: ${(err as Error).message}; pick another port or pass off`,
      { cause: err },
    );
  }
}
