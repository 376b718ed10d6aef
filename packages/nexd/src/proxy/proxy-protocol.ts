// SPDX-License-Identifier: Apache-2.0
// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a rule with
// `,proxy-protocol=v1|v2` writes to its destination before the first byte of the client's stream, so that
// a backend behind the proxy (nginx `listen ... proxy_protocol`, HAProxy, Envoy) sees the real client: for
// ingress the remote device's VPC address, not nexd's. Built once per connection, never per packet.
// Encoding is proxy-protocol-js's; this file only maps our endpoints onto it.
import { isIPv4, isIPv6 } from 'node:net';
import { IpAddress } from '@nexodus/netstack';
import {
  Command,
  INETProtocol,
  IPv4Address,
  IPv4ProxyAddress,
  IPv6Address,
  IPv6ProxyAddress,
  Peer,
  TransportProtocol,
  UnspecProxyAddress,
  V1ProxyProtocol,
  V2ProxyProtocol,
} from 'proxy-protocol-js';
import type { Endpoint } from './network.js';

export type ProxyProtocolVersion = 'v1' | 'v2';
export const PROXY_PROTOCOL_VERSIONS: readonly ProxyProtocolVersion[] = ['v1', 'v2'];

/** `::ffff:1.2.3.4` (a dual-stack socket's view of an IPv4 peer) is `1.2.3.4`. */
function plain(host: string): string {
  return host.startsWith('::ffff:') && isIPv4(host.slice(7)) ? host.slice(7) : host;
}

function v6Bytes(text: string): number[] {
  const a = IpAddress.from(text);
  const words = [a.w0, a.w1, a.w2, a.w3];
  return Array.from({ length: 16 }, (_, i) => (words[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff);
}

/**
 * The header for a TCP connection from `source` (the client) to `destination` (the address it connected
 * to). Addresses of different or unknown families give v1's `UNKNOWN` / v2's LOCAL command, which tell the
 * backend to use the connection's own addresses, as the specification asks.
 */
export function proxyProtocolHeader(
  version: ProxyProtocolVersion,
  source: Endpoint,
  destination: Endpoint,
): Uint8Array {
  const src = plain(source.host);
  const dst = plain(destination.host);
  const family = isIPv4(src) && isIPv4(dst) ? 4 : isIPv6(src) && isIPv6(dst) ? 6 : 0;
  if (version === 'v1') {
    const proto = family === 4 ? INETProtocol.TCP4 : family === 6 ? INETProtocol.TCP6 : INETProtocol.UNKNOWN;
    const text =
      family === 0
        ? 'PROXY UNKNOWN\r\n'
        : new V1ProxyProtocol(proto, new Peer(src, source.port), new Peer(dst, destination.port)).build();
    return Buffer.from(text, 'latin1');
  }
  const address =
    family === 4
      ? new IPv4ProxyAddress(
          IPv4Address.createFrom(src.split('.').map(Number)),
          source.port,
          IPv4Address.createFrom(dst.split('.').map(Number)),
          destination.port,
        )
      : family === 6
        ? new IPv6ProxyAddress(
            IPv6Address.createFrom(v6Bytes(src)),
            source.port,
            IPv6Address.createFrom(v6Bytes(dst)),
            destination.port,
          )
        : new UnspecProxyAddress();
  const command = family === 0 ? Command.LOCAL : Command.PROXY;
  const transport = family === 0 ? TransportProtocol.UNSPEC : TransportProtocol.STREAM;
  return new V2ProxyProtocol(command, transport, address).build();
}
