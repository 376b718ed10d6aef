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
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "addon.h"

#define TUN_PATH "/dev/net/tun"

// tunOpen(name, blocking = false) -> fd (>= 0) or -errno (-ENOENT: no /dev/net/tun, -EPERM: no
// CAP_NET_ADMIN, -EBUSY: the name belongs to another device or another owner's TUN). `blocking` leaves
// O_NONBLOCK off, for reading with Node's fs (one threadpool read per packet; see TunDevice's 'fs' mode).
napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool blocking = false;
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
  int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | (blocking ? 0 : O_NONBLOCK));
  if (fd < 0) return make_int(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  return make_int(env, fd);
}

// tunRead(fd, data: Uint8Array, lengths: Uint32Array, slot) -> count or -errno
// Reads packets into `data` back to back while at least `slot` bytes (the largest packet, i.e. the MTU)
// are left and `lengths` has room; stops at EAGAIN. Returns how many packets it read (their sizes in
// `lengths`), or -errno when it read none (-EAGAIN: nothing queued).
napi_value tun_read(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  uint32_t slot;
  uint8_t* data;
  uint32_t* lengths;
  size_t data_len, max;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!typed_array(env, argv[1], napi_uint8_array, (void**)&data, &data_len))
    return throw_args(env, "tunRead: data must be a Uint8Array");
  if (!typed_array(env, argv[2], napi_uint32_array, (void**)&lengths, &max))
    return throw_args(env, "tunRead: lengths must be a Uint32Array");
  CHECK(napi_get_value_uint32(env, argv[3], &slot));
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

// tunWrite(fd, data: Uint8Array, lengths: Uint32Array, count) -> packets the kernel took
// Writes `count` packets laid end to end in `data`. A packet the kernel refuses (i.e. -EINVAL for a
// malformed one) is dropped, as a NIC would; the count says how many went in.
napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  uint32_t count;
  uint8_t* data;
  uint32_t* lengths;
  size_t data_len, max;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!typed_array(env, argv[1], napi_uint8_array, (void**)&data, &data_len))
    return throw_args(env, "tunWrite: data must be a Uint8Array");
  if (!typed_array(env, argv[2], napi_uint32_array, (void**)&lengths, &max))
    return throw_args(env, "tunWrite: lengths must be a Uint32Array");
  CHECK(napi_get_value_uint32(env, argv[3], &count));
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
