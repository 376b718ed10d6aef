// SPDX-License-Identifier: Apache-2.0
// Link middleware that describes every packet in one line (smoltcp phy/tracer.rs), for test failure output.
import type { PacketLink } from '../link.js';
import { IpProtocol } from '../wire/error.js';
import { IpAddress } from '../wire/ip-address.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import { Ipv6Packet } from '../wire/ipv6.js';
import { TcpFlag, TcpSegment } from '../wire/tcp.js';

export function describeTcpFlags(f: number): string {
  const names: string[] = [];
  if (f & TcpFlag.SYN) names.push('SYN');
  if (f & TcpFlag.FIN) names.push('FIN');
  if (f & TcpFlag.RST) names.push('RST');
  if (f & TcpFlag.PSH) names.push('PSH');
  if (f & TcpFlag.ACK) names.push('ACK');
  return names.join('|') || '-';
}

/** One-line summary of an IP packet, i.e. `100.100.0.1 > 100.100.0.2 TCP 80>49152 SYN|ACK seq=1 ack=2 len=0`. */
export function describePacket(pkt: Uint8Array): string {
  const src = new IpAddress();
  const dst = new IpAddress();
  let proto: number;
  let payload: Uint8Array;
  if (pkt.length > 0 && pkt[0] >> 4 === 4) {
    const p = Ipv4Packet.check(pkt);
    if (typeof p === 'number') return `malformed IPv4 (${p})`;
    p.readSrc(src);
    p.readDst(dst);
    proto = p.protocol;
    payload = p.payload();
  } else {
    const p = Ipv6Packet.check(pkt);
    if (typeof p === 'number') return `malformed IPv6 (${p})`;
    p.readSrc(src);
    p.readDst(dst);
    proto = p.upperProtocol;
    payload = p.payload();
  }
  const head = `${src} > ${dst}`;
  if (proto === IpProtocol.Tcp) {
    const s = new TcpSegment();
    if (s.parse(payload) !== undefined) return `${head} TCP malformed`;
    const sack = s.sackCount > 0 ? ` sack=${s.sackCount}` : '';
    return `${head} TCP ${s.srcPort}>${s.dstPort} ${describeTcpFlags(s.flags)} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payloadLen}${sack}`;
  }
  return `${head} proto=${proto} len=${payload.length}`;
}

export class TracingLink implements PacketLink {
  constructor(
    readonly inner: PacketLink,
    readonly log: (line: string) => void,
    readonly label = '',
  ) {}
  send(packet: Uint8Array): void {
    this.log(`${this.label}${describePacket(packet)}`);
    this.inner.send(packet);
  }
}
