// SPDX-License-Identifier: Apache-2.0
// What the files of the addon share: argument errors and the functions addon.c registers.
#ifndef NEXODUS_NATIVE_ADDON_H
#define NEXODUS_NATIVE_ADDON_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

// Throws TypeError(code NATIVE_ERR_ARGS): the JavaScript side passed something of the wrong kind.
napi_value throw_args(napi_env env, const char* msg);
napi_value make_int(napi_env env, int64_t v);
// The data and element count of `v` if it is a typed array of `type`; 0 (and nothing set) otherwise.
int typed_array(napi_env env, napi_value v, napi_typedarray_type type, void** data, size_t* length);

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) return throw_args(env, "bad argument types"); \
  } while (0)

// udp_batch.c
napi_value send_batch(napi_env env, napi_callback_info info);
napi_value recv_batch(napi_env env, napi_callback_info info);
napi_value enable_gro(napi_env env, napi_callback_info info);
napi_value watch_fd(napi_env env, napi_callback_info info);
napi_value set_events(napi_env env, napi_callback_info info);
napi_value unwatch_fd(napi_env env, napi_callback_info info);
uint32_t udp_max_datagrams(void);

// checksum.c: fills the TCP checksum of the IP packet at p[0, n) (IPv4 or IPv6); other packets untouched.
void fill_tcp_checksum(uint8_t* p, size_t n);

// tun.c
napi_value tun_open(napi_env env, napi_callback_info info);
napi_value tun_read(napi_env env, napi_callback_info info);
napi_value tun_read_vnet(napi_env env, napi_callback_info info);
napi_value tun_write(napi_env env, napi_callback_info info);
napi_value close_fd(napi_env env, napi_callback_info info);

// aead.c
napi_value aead_seal(napi_env env, napi_callback_info info);
napi_value aead_open(napi_env env, napi_callback_info info);
napi_value aead_path(napi_env env, napi_callback_info info);

#endif
