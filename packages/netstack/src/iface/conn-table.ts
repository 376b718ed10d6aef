// SPDX-License-Identifier: Apache-2.0
// TCP connections keyed by 4-tuple without building a string per packet: a Map from a 32-bit hash of the
// tuple to a chain of sockets linked through `nextInBucket` (collisions are compared field by field).
import type { TcpSocket } from '../tcp/socket.js';
import type { IpAddress } from '../wire/ip-address.js';

function tupleHash(local: IpAddress, lport: number, remote: IpAddress, rport: number): number {
  let h = Math.imul(remote.hash() ^ rport, 0x9e3779b1);
  h = Math.imul(h ^ local.hash() ^ (lport << 7), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

export class ConnectionTable {
  private readonly buckets = new Map<number, TcpSocket>();
  /** Sockets in the table (every state but CLOSED, TIME-WAIT included). */
  size = 0;

  find(local: IpAddress, lport: number, remote: IpAddress, rport: number): TcpSocket | undefined {
    let s = this.buckets.get(tupleHash(local, lport, remote, rport));
    while (s) {
      if (
        s.localPort === lport &&
        s.remotePort === rport &&
        s.local.equals(local) &&
        s.remote.equals(remote)
      ) {
        return s;
      }
      s = s.nextInBucket;
    }
    return undefined;
  }

  insert(sock: TcpSocket): void {
    const key = tupleHash(sock.local, sock.localPort, sock.remote, sock.remotePort);
    sock.tableKey = key;
    sock.nextInBucket = this.buckets.get(key);
    this.buckets.set(key, sock);
    sock.inTable = true;
    this.size++;
  }

  remove(sock: TcpSocket): void {
    if (!sock.inTable) return;
    sock.inTable = false;
    this.size--;
    let s = this.buckets.get(sock.tableKey);
    let prev: TcpSocket | undefined;
    while (s && s !== sock) {
      prev = s;
      s = s.nextInBucket;
    }
    if (!s) return;
    if (prev) prev.nextInBucket = sock.nextInBucket;
    else if (sock.nextInBucket) this.buckets.set(sock.tableKey, sock.nextInBucket);
    else this.buckets.delete(sock.tableKey);
    sock.nextInBucket = undefined;
  }

  *values(): IterableIterator<TcpSocket> {
    for (const head of this.buckets.values()) {
      for (let s: TcpSocket | undefined = head; s; s = s.nextInBucket) yield s;
    }
  }
}
