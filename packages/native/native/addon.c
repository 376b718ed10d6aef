// SPDX-License-Identifier: Apache-2.0
// @nexodus/native: the data path's two hot spots that Node has no fast API for, on Linux.
// - udp_batch.c: batched UDP I/O (sendmmsg + GSO, recvmmsg + GRO, a uv_poll watcher);
// - aead.c: WireGuard's transport ChaCha20-Poly1305 through the OpenSSL inside Node;
// - tun.c: TUN devices (open with TUNSETIFF, batched read/write) for nexd's agent mode.
// Every function is optional for the JavaScript side, which falls back to dgram and sodium-native.
#include "addon.h"

napi_value throw_args(napi_env env, const char* msg) {
  napi_throw_type_error(env, "NATIVE_ERR_ARGS", msg);
  return NULL;
}

napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

int typed_array(napi_env env, napi_value v, napi_typedarray_type type, void** data, size_t* length) {
  napi_typedarray_type t;
  size_t len, offset;
  void* p;
  napi_value buffer;
  if (napi_get_typedarray_info(env, v, &t, &len, &p, &buffer, &offset) != napi_ok || t != type) return 0;
  *data = p;
  *length = len;
  return 1;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_default, NULL},
      {"recvBatch", NULL, recv_batch, NULL, NULL, NULL, napi_default, NULL},
      {"enableGro", NULL, enable_gro, NULL, NULL, NULL, napi_default, NULL},
      {"watch", NULL, watch_fd, NULL, NULL, NULL, napi_default, NULL},
      {"setEvents", NULL, set_events, NULL, NULL, NULL, napi_default, NULL},
      {"unwatch", NULL, unwatch_fd, NULL, NULL, NULL, napi_default, NULL},
      {"sealInPlace", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL},
      {"openInPlace", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL},
      {"aeadPath", NULL, aead_path, NULL, NULL, NULL, napi_default, NULL},
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
      {"tunRead", NULL, tun_read, NULL, NULL, NULL, napi_default, NULL},
      {"tunReadVnet", NULL, tun_read_vnet, NULL, NULL, NULL, napi_default, NULL},
      {"tunWrite", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value max;
  napi_create_uint32(env, udp_max_datagrams(), &max);
  napi_set_named_property(env, exports, "maxDatagrams", max);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
