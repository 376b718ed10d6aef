// SPDX-License-Identifier: Apache-2.0
// Public surface of @nexodus/netstack: the pure core (Interface, sockets, wire views) and the Node façade.

export { DEFAULT_LIMITS, type InterfaceConfig, type InterfaceLimits } from './iface/config.js';
export { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from './iface/fragment.js';
export {
  type BindError,
  type ConnectError,
  Interface,
  tcpStateChannel,
  type UdpSendError,
} from './iface/interface.js';
export type { DropCounters, InterfaceStats } from './iface/stats.js';
export type { PacketLink } from './link.js';
export { NetStackError, type NetStackErrorCode } from './node/errors.js';
export { type ConnectOptions, type ListenOptions, NetStack, type NetStackOptions } from './node/net-stack.js';
export { TcpServer } from './node/tcp-server.js';
export { TcpSocketStream } from './node/tcp-stream.js';
export { type RemoteInfo, UdpSocketHandle } from './node/udp.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/config.js';
export { TcpListener } from './tcp/listener.js';
export { type TcpErrorCode, TcpEvent, type TcpEventSink, TcpSocket, type TcpState } from './tcp/socket.js';
export type { TcpTimer, TcpTimerKind } from './tcp/timers.js';
export { type UdpDatagram, UdpSocket } from './udp/socket.js';
export { IpProtocol, WireError } from './wire/error.js';
export { IcmpPacket } from './wire/icmp.js';
export { Cidr, IpAddress, type IpFamily } from './wire/ip-address.js';
export { Ipv4Packet, Ipv4Repr } from './wire/ipv4.js';
export { Ipv6Packet, Ipv6Repr } from './wire/ipv6.js';
export { TcpFlag, TcpSegment } from './wire/tcp.js';
export { UdpPacket } from './wire/udp.js';
