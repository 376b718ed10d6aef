// SPDX-License-Identifier: Apache-2.0
// The service's DERP relay (Tailscale's protocol, from @nexodus/nat) on a port of its own: TLS with the
// API's certificate when the API serves HTTPS, plain HTTP when it does not (tests). Devices learn its URL
// from `GET /.well-known/nexodus-relays` and relay WireGuard datagrams through it to peers they cannot
// reach directly.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { DerpServer } from '@nexodus/nat';

export interface RelayListen {
  port: number;
  relay: DerpServer;
  close(): Promise<void>;
}

export async function startRelay(
  addr: { host: string; port: number },
  tls: { key: Buffer | string; cert: Buffer | string } | undefined,
): Promise<RelayListen> {
  const relay = new DerpServer({ privateKey: randomBytes(32) });
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
  // A TLS handshake or parse error on one connection is that connection's problem only.
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  relay.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(`--relay-listen ${addr.host}:${addr.port}: ${err.message}; pick another port or pass off`),
      ),
    );
    server.listen(addr.port, addr.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    relay,
    close: async () => {
      relay.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
