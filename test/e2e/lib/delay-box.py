# SPDX-License-Identifier: Apache-2.0
# A transparent UDP delay for a router namespace, because this kernel has no `netem`: iptables TPROXY hands
# the forwarded UDP datagrams it matches to this process (original source and destination intact), which
# sends each one on after DELAY_MS from a socket bound to the datagram's own source address (IP_TRANSPARENT),
# so neither end sees anything but a slower path. Endpoints need no change (unlike a relay they must be
# configured with), which is what the demos' Pods need: their manifests name no relay.
#
# usage: python3 delay-box.py PORT DELAY_MS     (prints "ready" once bound, then "forwarded N dropped M"
# each second the counts change; SIGTERM stops it)
# The namespace's rules (delay-box.ts sets them up):
#   iptables -t mangle -A PREROUTING -p udp -s A -d B -j TPROXY --on-port PORT --tproxy-mark 0x1/0x1
#   ip rule add fwmark 0x1/0x1 lookup 100; ip route add local 0.0.0.0/0 dev lo table 100
#
# Replies to a source we have bound a socket for are delivered to that socket by TPROXY's socket lookup
# (it prefers a transparent socket bound to the destination over the listener), so every socket is read
# the same way: the destination is the IP_ORIGDSTADDR of the datagram.
import collections
import select
import signal
import socket
import struct
import sys
import time

IP_TRANSPARENT = 19
IP_RECVORIGDSTADDR = 20
IP_ORIGDSTADDR = 20
MAX_QUEUE = 8192


def transparent_socket(bind):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind(bind)
    s.setblocking(False)
    return s


def original_destination(ancillary):
    for level, kind, data in ancillary:
        if level == socket.SOL_IP and kind == IP_ORIGDSTADDR and len(data) >= 8:
            port, raw = struct.unpack_from("!H4s", data, 2)
            return (socket.inet_ntoa(raw), port)
    return None


def main():
    port, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
    listener = transparent_socket(("0.0.0.0", port))
    by_source = {}  # (ip, port) -> socket bound to that address, sending as it
    readers = [listener]
    queue = collections.deque()  # (due, data, source, destination), in due order (fixed delay)
    dropped = forwarded = 0
    reported = (0, 0)
    next_report = time.monotonic() + 1.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        if now >= next_report:
            next_report = now + 1.0
            if (forwarded, dropped) != reported:
                reported = (forwarded, dropped)
                print(f"forwarded {forwarded} dropped {dropped}", flush=True)
        due = queue[0][0] if queue else next_report
        timeout = max(0.0, min(due, next_report) - now)
        readable, _, _ = select.select(readers, [], [], timeout)
        for s in readable:
            while True:
                try:
                    data, ancillary, _, source = s.recvmsg(65535, socket.CMSG_SPACE(16))
                except BlockingIOError:
                    break
                destination = original_destination(ancillary)
                if destination is None:
                    continue
                if len(queue) >= MAX_QUEUE:
                    dropped += 1
                    continue
                queue.append((time.monotonic() + delay, data, source, destination))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, data, source, destination = queue.popleft()
            sender = by_source.get(source)
            if sender is None:
                try:
                    sender = transparent_socket(source)
                except OSError as err:
                    print(f"cannot bind {source}: {err}", file=sys.stderr, flush=True)
                    continue
                by_source[source] = sender
                readers.append(sender)
            try:
                sender.sendto(data, destination)
                forwarded += 1
            except OSError:
                dropped += 1


if __name__ == "__main__":
    main()
