// SPDX-License-Identifier: Apache-2.0
// TUN devices for nexd's agent mode: open /dev/net/tun as a layer-3 device (IFF_TUN | IFF_NO_PI: each
// read or write is exactly one IP packet, no packet-information prefix), and move packets in batches
// of syscalls per JavaScript call, so a burst costs one crossing into C instead of one per packet.
// Readiness comes from the same uv_poll watcher as the UDP sockets (watch/setEvents/unwatch).
// The fd is non-blocking and close-on-exec; errors come back as a negative errno.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "addon.h"

#define TUN_PATH "/dev/net/tun"
// With IFF_VNET_HDR every packet is preceded by a struct virtio_net_hdr (native byte order here).
#define VNET_HDR_LEN ((ssize_t)sizeof(struct virtio_net_hdr))
// The largest packet the kernel hands over with TSO (one IP datagram).
#define MAX_SUPER 65535
// Segments one super-packet may become; a smaller MSS than this allows is dropped (never seen: the
// tunnel MTU keeps the MSS above 1200).
#define MAX_SEGS 128
// Worst case of what one super-packet becomes: its payload plus a copy of the headers per segment.
#define MAX_SEG_OUTPUT (MAX_SUPER + MAX_SEGS * 120)

// tunOpen(name, blocking = false) -> fd (>= 0) or -errno (-ENOENT: no /dev/net/tun, -EPERM: no
// CAP_NET_ADMIN, -EBUSY: the name belongs to another device or another owner's TUN). `blocking` leaves
// O_NONBLOCK off, for reading with Node's fs (one threadpool read per packet; see TunDevice's 'fs' mode).
napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  bool blocking = false;
  bool vnet = false;
  char name[IFNAMSIZ + 1];  // one more than the kernel takes, so a longer name is seen, not cut
  size_t len = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) != napi_ok)
    return throw_args(env, "tunOpen(name) needs a string");
  if (len == 0 || len > IFNAMSIZ - 1) return throw_args(env, "tunOpen: name must be 1-15 characters");
  if (argc > 1) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[1], &t));
    if (t == napi_boolean) CHECK(napi_get_value_bool(env, argv[1], &blocking));
  }
  if (argc > 2) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[2], &t));
    if (t == napi_boolean) CHECK(napi_get_value_bool(env, argv[2], &vnet));
  }
  int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | (blocking ? 0 : O_NONBLOCK));
  if (fd < 0) return make_int(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  // TSO and checksum offload: the kernel may hand over TCP super-packets of up to 64 KiB with the
  // checksum left to us (tunRead segments them). Without it the headers still come, all "none".
  if (vnet) ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
  return make_int(env, fd);
}

// The arguments every batch call starts with: (fd, data: Uint8Array, lengths: Uint32Array, fourth).
typedef struct {
  int32_t fd;
  uint8_t* data;
  size_t data_len;
  uint32_t* lengths;
  size_t max;
  napi_value fourth;
} tun_batch;

// Reads them into `b`; on a wrong argument returns false with a TypeError naming `fn` pending.
static bool batch_args(napi_env env, napi_callback_info info, const char* fn, tun_batch* b) {
  size_t argc = 4;
  napi_value argv[4];
  char msg[96];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &b->fd) != napi_ok) {
    snprintf(msg, sizeof msg, "%s(fd, data, lengths, ...) needs a file descriptor first", fn);
    throw_args(env, msg);
    return false;
  }
  if (!typed_array(env, argv[1], napi_uint8_array, (void**)&b->data, &b->data_len)) {
    snprintf(msg, sizeof msg, "%s: data must be a Uint8Array", fn);
    throw_args(env, msg);
    return false;
  }
  if (!typed_array(env, argv[2], napi_uint32_array, (void**)&b->lengths, &b->max)) {
    snprintf(msg, sizeof msg, "%s: lengths must be a Uint32Array", fn);
    throw_args(env, msg);
    return false;
  }
  b->fourth = argv[3];
  return true;
}

// tunRead(fd, data: Uint8Array, lengths: Uint32Array, slot) -> count or -errno
// Reads packets into `data` back to back while at least `slot` bytes (the largest packet, i.e. the MTU)
// are left and `lengths` has room; stops at EAGAIN. Returns how many packets it read (their sizes in
// `lengths`), or -errno when it read none (-EAGAIN: nothing queued).
napi_value tun_read(napi_env env, napi_callback_info info) {
  tun_batch b;
  uint32_t slot;
  if (!batch_args(env, info, "tunRead", &b)) return NULL;
  CHECK(napi_get_value_uint32(env, b.fourth, &slot));
  int32_t fd = b.fd;
  uint8_t* data = b.data;
  uint32_t* lengths = b.lengths;
  size_t data_len = b.data_len, max = b.max;
  if (slot == 0) return throw_args(env, "tunRead: slot must be > 0");
  size_t off = 0, n = 0;
  while (n < max && data_len - off >= slot) {
    ssize_t r = read(fd, data + off, slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (n == 0) return make_int(env, -errno);
      break;
    }
    lengths[n++] = (uint32_t)r;
    off += (size_t)r;
  }
  return make_int(env, (int64_t)n);
}

// One's-complement sum of big-endian 16-bit words of p[0, n), added to sum.
static uint32_t csum_add(const uint8_t* p, size_t n, uint32_t sum) {
  size_t i = 0;
  for (; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (i < n) sum += (uint32_t)p[i] << 8;
  return sum;
}

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// VIRTIO_NET_HDR_F_NEEDS_CSUM: the field at start+offset holds the pseudo-header sum; the checksum
// covers [start, n). A result of 0 is sent as 0xffff (for UDP 0 would mean "no checksum").
static void finish_csum(uint8_t* p, size_t n, size_t start, size_t offset) {
  if (start + offset + 2 > n) return;
  uint16_t c = csum_fold(csum_add(p + start, n - start, 0));
  if (c == 0) c = 0xffff;
  p[start + offset] = (uint8_t)(c >> 8);
  p[start + offset + 1] = (uint8_t)c;
}

// Splits a TCP super-packet (TSO, one IP header + one TCP header + up to 64 KiB payload) into segments
// of gso_size payload bytes at out, as a NIC would: IPv4 length, id and header checksum, IPv6 payload
// length, TCP sequence numbers, FIN/PSH only on the last segment, CWR only on the first, and every TCP
// checksum computed. Returns the number of segments (sizes in lens), 0 when the packet is not one we
// can split (it is then dropped and counted by the caller).
static size_t segment_tcp(const uint8_t* p, size_t n, size_t mss, uint8_t* out, uint32_t* lens) {
  size_t iphl;
  int v4 = (p[0] >> 4) == 4;
  if (v4) {
    iphl = (size_t)(p[0] & 15) * 4;
    if (iphl < 20 || p[9] != 6) return 0;
  } else if ((p[0] >> 4) == 6) {
    iphl = 40;
    if (p[6] != 6) return 0;  // extension headers before TCP: not produced by Linux's TSO here
  } else {
    return 0;
  }
  if (n < iphl + 20) return 0;
  size_t tcphl = (size_t)(p[iphl + 12] >> 4) * 4;
  size_t hdrs = iphl + tcphl;
  if (tcphl < 20 || n < hdrs || mss == 0) return 0;
  size_t payload = n - hdrs;
  size_t nseg = (payload + mss - 1) / mss;
  if (nseg == 0) nseg = 1;
  if (nseg > MAX_SEGS) return 0;
  uint32_t seq0 = (uint32_t)p[iphl + 4] << 24 | (uint32_t)p[iphl + 5] << 16 | (uint32_t)p[iphl + 6] << 8 | p[iphl + 7];
  uint16_t id0 = v4 ? (uint16_t)(p[4] << 8 | p[5]) : 0;
  uint8_t flags0 = p[iphl + 13];
  size_t off = 0;
  for (size_t i = 0; i < nseg; i++) {
    size_t len = payload - i * mss < mss ? payload - i * mss : mss;
    uint8_t* o = out + off;
    memcpy(o, p, hdrs);
    memcpy(o + hdrs, p + hdrs + i * mss, len);
    size_t total = hdrs + len;
    if (v4) {
      o[2] = (uint8_t)(total >> 8);
      o[3] = (uint8_t)total;
      uint16_t id = (uint16_t)(id0 + i);
      o[4] = (uint8_t)(id >> 8);
      o[5] = (uint8_t)id;
      o[10] = o[11] = 0;
      uint16_t c = csum_fold(csum_add(o, iphl, 0));
      o[10] = (uint8_t)(c >> 8);
      o[11] = (uint8_t)c;
    } else {
      size_t pl = total - 40;
      o[4] = (uint8_t)(pl >> 8);
      o[5] = (uint8_t)pl;
    }
    uint8_t* t = o + iphl;
    uint32_t seq = seq0 + (uint32_t)(i * mss);
    t[4] = (uint8_t)(seq >> 24);
    t[5] = (uint8_t)(seq >> 16);
    t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    uint8_t f = flags0;
    if (i + 1 < nseg) f &= (uint8_t)~0x09;  // FIN, PSH: last segment only
    if (i > 0) f &= (uint8_t)~0x80;         // CWR: first segment only
    t[13] = f;
    fill_tcp_checksum(o, total);
    lens[i] = (uint32_t)total;
    off += total;
  }
  return nseg;
}

// tunReadVnet(fd, data, lengths, counters: Uint32Array(2)) -> count or -errno
// counters[0]: packets dropped (could not be split), counters[1]: super-packets split.
// tunRead for a device opened with vnet headers: each read is a virtio_net_hdr and a packet; checksums
// left to us are finished and TCP super-packets are split into MSS-sized segments, so the caller sees
// plain IP packets. Reads while the worst case of one super-packet fits in what is left.
napi_value tun_read_vnet(napi_env env, napi_callback_info info) {
  tun_batch b;
  uint32_t* drops;
  size_t drops_len;
  static _Thread_local uint8_t scratch[MAX_SUPER + sizeof(struct virtio_net_hdr)];  // per thread: Workers
  if (!batch_args(env, info, "tunReadVnet", &b)) return NULL;
  if (!typed_array(env, b.fourth, napi_uint32_array, (void**)&drops, &drops_len) || drops_len < 2)
    return throw_args(env, "tunReadVnet: counters must be a Uint32Array(2)");
  int32_t fd = b.fd;
  uint8_t* data = b.data;
  uint32_t* lengths = b.lengths;
  size_t data_len = b.data_len, max = b.max;
  size_t off = 0, n = 0;
  while (max - n >= MAX_SEGS && data_len - off >= MAX_SEG_OUTPUT) {
    ssize_t r = read(fd, scratch, sizeof(scratch));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (n == 0) return make_int(env, -errno);
      break;
    }
    if (r < VNET_HDR_LEN) continue;
    struct virtio_net_hdr h;
    memcpy(&h, scratch, sizeof(h));
    uint8_t* p = scratch + VNET_HDR_LEN;
    size_t plen = (size_t)(r - VNET_HDR_LEN);
    if (plen == 0) continue;
    uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
      if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) finish_csum(p, plen, h.csum_start, h.csum_offset);
      memcpy(data + off, p, plen);
      lengths[n++] = (uint32_t)plen;
      off += plen;
    } else if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
      size_t k = segment_tcp(p, plen, h.gso_size, data + off, lengths + n);
      if (k == 0) {
        drops[0]++;
        continue;
      }
      for (size_t i = 0; i < k; i++) off += lengths[n + i];
      n += k;
      drops[1]++;
    } else {
      drops[0]++;  // UDP GSO is not enabled, so not expected
    }
  }
  return make_int(env, (int64_t)n);
}

// tunWrite(fd, data: Uint8Array, lengths: Uint32Array, count) -> packets the kernel took
// Writes `count` packets laid end to end in `data`. A packet the kernel refuses (i.e. -EINVAL for a
// malformed one) is dropped, as a NIC would; the count says how many went in.
napi_value tun_write(napi_env env, napi_callback_info info) {
  tun_batch b;
  uint32_t count;
  if (!batch_args(env, info, "tunWrite", &b)) return NULL;
  CHECK(napi_get_value_uint32(env, b.fourth, &count));
  int32_t fd = b.fd;
  uint8_t* data = b.data;
  uint32_t* lengths = b.lengths;
  size_t data_len = b.data_len, max = b.max;
  if (count > max) return throw_args(env, "tunWrite: count exceeds lengths");
  size_t off = 0;
  int64_t ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = lengths[i];
    if (len > data_len - off) return throw_args(env, "tunWrite: lengths exceed data");
    ssize_t r;
    do r = write(fd, data + off, len);
    while (r < 0 && errno == EINTR);
    if (r >= 0) ok++;
    off += len;
  }
  return make_int(env, ok);
}

// closeFd(fd): close(2) for the TUN fd (Node's fs.closeSync would also do; this keeps the fd's life
// in one place). Returns 0 or -errno.
napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  return make_int(env, close(fd) == 0 ? 0 : -errno);
}
