// SPDX-License-Identifier: Apache-2.0
// Batched UDP I/O for Node on Linux, as wireguard-go does it in Go:
// - sendBatch: one sendmmsg(2) carries a burst of WireGuard datagrams, and runs of equal-size datagrams
//   to one destination go as UDP GSO super-packets (UDP_SEGMENT), so the kernel walks its UDP/IP path
//   once per run instead of once per datagram;
// - recvBatch: one recvmmsg(2) takes what is queued, with UDP_GRO so that a peer's super-packet arrives
//   as one message plus its segment size;
// - watch: a uv_poll_t on the fd tells JavaScript when the socket is readable (or writable again).
// Node's dgram has none of these: one sendmsg and one JavaScript callback per datagram, about 4 us of
// CPU each, which was most of both proxies' time in bench/proxy.
//
// The socket is bound by node:dgram (bind errors, buffer sizes, close stay there); JavaScript then stops
// dgram's own reading and hands the fd to watch(). Nothing here blocks or allocates per datagram; errors
// come back as a negative errno for the caller to decide (queue, disable GSO, count).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// Messages per sendmmsg call (the kernel caps a call at UIO_MAXIOV = 1024).
#define MAX_MSGS 128
// Segments per GSO super-packet: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels, 128 on newer.
#define MAX_SEGMENTS 64
// A super-packet is one UDP datagram before segmentation: its payload must fit the 16-bit length field.
#define MAX_GSO_BYTES 65000
// Datagrams per call; the JavaScript side flushes before it has more.
#define MAX_DATAGRAMS 4096
// recvBatch: each message gets a slot this large (a GRO message is at most one 64 KiB datagram).
#define RECV_SLOT 65536
#define RECV_MAX_MSGS 64
// recvBatch meta: per message [offset, length, segment size, port, family, addr0..addr3] as uint32.
#define META_STRIDE 9


// Parses an IP literal and port into a sockaddr; returns its length, 0 when the text is not a literal.
static socklen_t parse_addr(const char* ip, uint32_t port, struct sockaddr_storage* ss) {
  memset(ss, 0, sizeof(*ss));
  if (strchr(ip, ':') != NULL) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) return 0;
    return sizeof(*a);
  }
  struct sockaddr_in* a = (struct sockaddr_in*)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) return 0;
  return sizeof(*a);
}

// sendBatch(fd, data: Uint8Array, lengths: Uint32Array, count, ip, port, gso: boolean) -> number
// Sends `count` datagrams laid end to end in `data` (sizes in `lengths`) to ip:port. Returns how many
// datagrams the kernel took (all of them, or fewer when the socket buffer filled: the rest is the
// caller's), or -errno when it took none.
napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_args(env, "sendBatch takes 7 arguments");

  int32_t fd;
  uint32_t count, port;
  bool gso;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[3], &count));
  CHECK(napi_get_value_uint32(env, argv[5], &port));
  CHECK(napi_get_value_bool(env, argv[6], &gso));

  size_t dlen, llen;
  void* dptr;
  void* lptr;
  if (!typed_array(env, argv[1], napi_uint8_array, &dptr, &dlen) ||
      !typed_array(env, argv[2], napi_uint32_array, &lptr, &llen)) {
    return throw_args(env, "data must be a Uint8Array and lengths a Uint32Array");
  }
  if (count > llen || count > MAX_DATAGRAMS) return throw_args(env, "count out of range");

  char ip[INET6_ADDRSTRLEN + 1];
  size_t iplen;
  CHECK(napi_get_value_string_utf8(env, argv[4], ip, sizeof(ip), &iplen));
  struct sockaddr_storage to;
  // A longer string was cut to fit, and an embedded NUL would end it early: neither is a literal.
  socklen_t tolen = iplen < sizeof(ip) - 1 && strlen(ip) == iplen ? parse_addr(ip, port, &to) : 0;
  if (tolen == 0 || port > 65535) return throw_args(env, "destination is not an IP literal and port");

  const uint8_t* data = (const uint8_t*)dptr;
  const uint32_t* lens = (const uint32_t*)lptr;
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) total += lens[i];
  if (total > dlen) return throw_args(env, "lengths add up to more than data");

  struct mmsghdr msgs[MAX_MSGS];
  struct iovec iovs[MAX_MSGS];
  // One control buffer per message, aligned for cmsghdr.
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[MAX_MSGS];
  uint32_t per_msg[MAX_MSGS];

  uint32_t next = 0;  // first datagram not yet handed to the kernel
  size_t off = 0;     // its offset in data
  while (next < count) {
    // Build up to MAX_MSGS messages starting at datagram `next`.
    unsigned int nmsgs = 0;
    uint32_t i = next;
    size_t o = off;
    while (i < count && nmsgs < MAX_MSGS) {
      uint32_t seg = lens[i];
      uint32_t n = 1;
      size_t bytes = seg;
      if (gso && seg > 0) {
        // A run of equal sizes, optionally ended by one shorter datagram (GSO allows a short last
        // segment). Empty datagrams go alone: a segment size of 0 means no segmentation.
        while (i + n < count && n < MAX_SEGMENTS && bytes + lens[i + n] <= MAX_GSO_BYTES) {
          uint32_t l = lens[i + n];
          if (l > seg) break;
          bytes += l;
          n++;
          if (l < seg) break;
        }
      }
      struct msghdr* h = &msgs[nmsgs].msg_hdr;
      memset(h, 0, sizeof(*h));
      iovs[nmsgs].iov_base = (void*)(data + o);
      iovs[nmsgs].iov_len = bytes;
      h->msg_name = &to;
      h->msg_namelen = tolen;
      h->msg_iov = &iovs[nmsgs];
      h->msg_iovlen = 1;
      if (n > 1) {
        h->msg_control = ctrl[nmsgs].buf;
        h->msg_controllen = sizeof(ctrl[nmsgs].buf);
        struct cmsghdr* c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &s, sizeof(s));
      }
      per_msg[nmsgs] = n;
      nmsgs++;
      i += n;
      o += bytes;
    }
    int r;
    do {
      r = sendmmsg(fd, msgs, nmsgs, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    // After a partial send the count is the answer; the caller's next call meets the error again.
    if (r < 0) return make_int(env, next > 0 ? (int64_t)next : -(int64_t)errno);
    for (int m = 0; m < r; m++) {
      next += per_msg[m];
      off += iovs[m].iov_len;
    }
    if ((unsigned int)r < nmsgs) break;  // the socket buffer filled: the rest is the caller's
  }
  return make_int(env, next);
}


// recvBatch(fd, data: Uint8Array, meta: Uint32Array, maxMessages) -> number
// Receives up to maxMessages messages (bounded by data.length / 64 KiB and meta.length / 9), packed end
// to end at the start of `data`; meta describes each (see META_STRIDE; the address as 1 or 4 network-
// order words). A message with a segment size holds several datagrams of that size (the last may be
// shorter). Returns the count, or -errno (-EAGAIN: nothing queued).
napi_value recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_args(env, "recvBatch takes 4 arguments");
  int32_t fd;
  uint32_t max;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[3], &max));
  size_t dlen, mlen;
  void* dptr;
  void* mptr;
  if (!typed_array(env, argv[1], napi_uint8_array, &dptr, &dlen) ||
      !typed_array(env, argv[2], napi_uint32_array, &mptr, &mlen)) {
    return throw_args(env, "data must be a Uint8Array and meta a Uint32Array");
  }
  size_t n = max;
  if (n > RECV_MAX_MSGS) n = RECV_MAX_MSGS;
  if (n > dlen / RECV_SLOT) n = dlen / RECV_SLOT;
  if (n > mlen / META_STRIDE) n = mlen / META_STRIDE;
  if (n == 0) return throw_args(env, "recvBatch needs room for one 64 KiB message and its meta");

  uint8_t* data = (uint8_t*)dptr;
  uint32_t* meta = (uint32_t*)mptr;
  struct mmsghdr msgs[RECV_MAX_MSGS];
  struct iovec iovs[RECV_MAX_MSGS];
  struct sockaddr_storage from[RECV_MAX_MSGS];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl[RECV_MAX_MSGS];
  for (size_t i = 0; i < n; i++) {
    struct msghdr* h = &msgs[i].msg_hdr;
    memset(h, 0, sizeof(*h));
    iovs[i].iov_base = data + i * RECV_SLOT;
    iovs[i].iov_len = RECV_SLOT;
    h->msg_iov = &iovs[i];
    h->msg_iovlen = 1;
    from[i].ss_family = AF_UNSPEC;  // a socket that reports no source leaves it so
    h->msg_name = &from[i];
    h->msg_namelen = sizeof(from[i]);
    h->msg_control = ctrl[i].buf;
    h->msg_controllen = sizeof(ctrl[i].buf);
  }
  int r;
  do {
    r = recvmmsg(fd, msgs, (unsigned int)n, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return make_int(env, -(int64_t)errno);

  size_t off = 0;
  for (int i = 0; i < r; i++) {
    struct msghdr* h = &msgs[i].msg_hdr;
    uint32_t len = msgs[i].msg_len;
    uint32_t seg = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof(v));
        seg = v > 0 ? (uint32_t)v : 0;
      }
    }
    // Pack: message i moves down to the end of message i-1 (never past its own slot, so no overlap
    // with the messages still to move).
    if (off != (size_t)i * RECV_SLOT) memmove(data + off, data + (size_t)i * RECV_SLOT, len);
    uint32_t* m = meta + (size_t)i * META_STRIDE;
    m[0] = (uint32_t)off;
    m[1] = len;
    m[2] = seg;
    memset(m + 3, 0, 6 * sizeof(uint32_t));
    socklen_t namelen = h->msg_namelen;
    if (from[i].ss_family == AF_INET6 && namelen >= sizeof(struct sockaddr_in6)) {
      struct sockaddr_in6* a = (struct sockaddr_in6*)&from[i];
      m[3] = ntohs(a->sin6_port);
      m[4] = 6;
      memcpy(m + 5, &a->sin6_addr, 16);
    } else if (from[i].ss_family == AF_INET && namelen >= sizeof(struct sockaddr_in)) {
      struct sockaddr_in* a = (struct sockaddr_in*)&from[i];
      m[3] = ntohs(a->sin_port);
      m[4] = 4;
      memcpy(m + 5, &a->sin_addr, 4);
    }
    off += len;
  }
  return make_int(env, r);
}

// enableGro(fd) -> boolean: asks the kernel to coalesce a peer's GSO bursts into one message.
napi_value enable_gro(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  int one = 1;
  napi_value out;
  napi_get_boolean(env, setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0, &out);
  return out;
}

// A watcher: one uv_poll_t on a socket, calling back JavaScript with 1 (readable) | 2 (writable) |
// 4 (poll error) each time the loop finds the socket ready for what was asked.
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;  // closes the handle if the environment goes first
  int fd;                                  // our own duplicate of the socket's fd (see watch_fd)
  int stopped;                             // unwatch() or teardown ran: no more callbacks
  int closed;                              // libuv is done with the handle
  int finalized;                           // JavaScript dropped the external
} watcher_t;

// Marks externals made by watch(), so that another addon's external is never taken for a watcher.
static const napi_type_tag WATCHER_TAG = {0x6e65786f64757321ULL, 0x7761746368657221ULL};

static void on_poll(uv_poll_t* handle, int status, int events) {
  watcher_t* w = (watcher_t*)handle->data;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg;
  int ev = status < 0 ? 4 : ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, ev, &arg) == napi_ok) {
    if (napi_make_callback(env, w->context, recv, cb, 1, &arg, NULL) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);  // as an exception thrown in any other callback: 'uncaughtException'
    }
  }
  napi_close_handle_scope(env, scope);
}

// The memory goes when both libuv (after unwatch) and JavaScript (the external) are done with it.
static void on_closed(uv_handle_t* handle) {
  watcher_t* w = (watcher_t*)handle->data;
  w->closed = 1;
  close(w->fd);
  if (w->cleanup != NULL) {
    napi_remove_async_cleanup_hook(w->cleanup);
    w->cleanup = NULL;
  }
  if (w->finalized) free(w);
}

static void stop_watcher(watcher_t* w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t*)&w->poll, on_closed);
}

// A Worker (or the main environment) ending with a watcher still open: close it, or libuv would find
// an open handle on a loop being closed and abort the process. on_closed removes this hook.
static void on_teardown(napi_async_cleanup_hook_handle handle, void* arg) { stop_watcher((watcher_t*)arg); }

static void on_finalize(napi_env env, void* data, void* hint) {
  watcher_t* w = (watcher_t*)data;
  w->finalized = 1;
  if (w->closed) free(w);
}

napi_value watch_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_function) return throw_args(env, "watch(fd, callback) needs a callback");
  uv_loop_t* loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watcher_t* w = calloc(1, sizeof(*w));
  if (w == NULL) return throw_args(env, "out of memory");
  // The watcher polls a duplicate of the fd. Whoever owns the socket may close its fd while the watcher
  // is still registered (an exception between watch and unwatch, a Worker's teardown closing its
  // handles first): libuv aborts the process when epoll meets a closed fd, but a duplicate stays valid
  // until the watcher itself is closed.
  w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (w->fd < 0) {
    int e = errno;
    free(w);
    napi_throw_error(env, "NATIVE_ERR_WATCH", strerror(e));
    return NULL;
  }
  int rc = uv_poll_init_socket(loop, &w->poll, w->fd);
  if (rc != 0) {
    close(w->fd);
    free(w);
    napi_throw_error(env, "NATIVE_ERR_WATCH", uv_strerror(rc));
    return NULL;
  }
  w->poll.data = w;
  w->env = env;
  napi_value name;
  napi_create_string_utf8(env, "UDPBATCHWATCH", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_async_init(env, NULL, name, &w->context);
  napi_add_async_cleanup_hook(env, on_teardown, w, &w->cleanup);
  napi_value ext;
  napi_create_external(env, w, on_finalize, NULL, &ext);
  napi_type_tag_object(env, ext, &WATCHER_TAG);
  return ext;
}

static watcher_t* get_watcher(napi_env env, napi_value v) {
  bool ours = false;
  void* p = NULL;
  if (napi_check_object_type_tag(env, v, &WATCHER_TAG, &ours) != napi_ok || !ours) return NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (watcher_t*)p;
}

// setEvents(watcher, events): 1 readable, 2 writable, 3 both, 0 none (the watcher stays usable).
napi_value set_events(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t ev;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[1], &ev));
  watcher_t* w = get_watcher(env, argv[0]);
  if (w == NULL || w->stopped) return throw_args(env, "not a live watcher");
  int uvev = ((ev & 1) ? UV_READABLE : 0) | ((ev & 2) ? UV_WRITABLE : 0);
  int rc = uvev ? uv_poll_start(&w->poll, uvev, on_poll) : uv_poll_stop(&w->poll);
  if (rc != 0) {
    napi_throw_error(env, "NATIVE_ERR_WATCH", uv_strerror(rc));
    return NULL;
  }
  return NULL;
}

// unwatch(watcher): stops and frees it; call before the socket closes. Idempotent.
napi_value unwatch_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t* w = get_watcher(env, argv[0]);
  if (w == NULL) return throw_args(env, "not a watcher");
  if (w->stopped) return NULL;
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
  stop_watcher(w);
  return NULL;
}

uint32_t udp_max_datagrams(void) { return MAX_DATAGRAMS; }
