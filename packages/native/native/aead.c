// SPDX-License-Identifier: Apache-2.0
// WireGuard's transport AEAD (ChaCha20-Poly1305, RFC 8439 2.8, empty associated data) in place, with
// the OpenSSL that Node itself carries: its assembly (AVX2/AVX-512 where the CPU has them) seals a
// 1424-byte packet in about 0.6 µs, where the portable libsodium build of sodium-native takes about 4.
//
// Two ways in. Node's binary exports OpenSSL's ChaCha20_ctr32 and Poly1305_* primitives; where they are
// found (weak symbols, checked at run time) the construction of RFC 8439 2.8 is composed here from them,
// which skips the EVP layer's per-call provider dispatch (about 0.3 µs a packet). Otherwise the public
// EVP interface does the same work, with one context per direction set up once.
#include <node_api.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "addon.h"

// OpenSSL internals (crypto/chacha/chacha_enc.c, include/crypto/poly1305.h), not in its public headers.
void ChaCha20_ctr32(unsigned char* out, const unsigned char* inp, size_t len, const unsigned int key[8],
                    const unsigned int counter[4]) __attribute__((weak));
size_t Poly1305_ctx_size(void) __attribute__((weak));
void Poly1305_Init(void* ctx, const unsigned char key[32]) __attribute__((weak));
void Poly1305_Update(void* ctx, const unsigned char* inp, size_t len) __attribute__((weak));
void Poly1305_Final(void* ctx, unsigned char mac[16]) __attribute__((weak));

// Room for OpenSSL's POLY1305 context (about 200 bytes), aligned for its vector code; on the stack of
// each call, since the addon may run in several threads (Workers).
#define POLY_CTX_ROOM 1024

static uint32_t le32(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

// RFC 8439 2.8 with empty AAD: the Poly1305 key is the first half of ChaCha20 block 0, the data is
// encrypted from block 1, and the MAC covers ciphertext || zero pad to 16 || le64(0) || le64(len).
static void mac_of(const unsigned int key[8], unsigned int counter[4], const uint8_t* ct, size_t len,
                   uint8_t tag[16]) {
  static const uint8_t zeros[64];
  _Alignas(64) unsigned char poly_ctx[POLY_CTX_ROOM];
  uint8_t poly_key[32];
  counter[0] = 0;
  ChaCha20_ctr32(poly_key, zeros, sizeof(poly_key), key, counter);
  Poly1305_Init(poly_ctx, poly_key);
  Poly1305_Update(poly_ctx, ct, len);
  if (len % 16) Poly1305_Update(poly_ctx, zeros, 16 - len % 16);
  uint8_t lens[16] = {0};
  for (int i = 0; i < 8; i++) lens[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
  Poly1305_Update(poly_ctx, lens, sizeof(lens));
  Poly1305_Final(poly_ctx, tag);
  memset(poly_key, 0, sizeof(poly_key));
}

static void load_key(const uint8_t* key, const uint8_t* nonce, unsigned int k[8], unsigned int c[4]) {
  for (int i = 0; i < 8; i++) k[i] = le32(key + 4 * i);
  c[1] = le32(nonce);
  c[2] = le32(nonce + 4);
  c[3] = le32(nonce + 8);
}

// Per thread: each Worker that loads the addon gets its own contexts.
static _Thread_local EVP_CIPHER_CTX* seal_ctx;
static _Thread_local EVP_CIPHER_CTX* open_ctx;

static int setup(void) {
  static _Thread_local int ready;
  if (ready) return 1;
  if (seal_ctx == NULL) seal_ctx = EVP_CIPHER_CTX_new();
  if (open_ctx == NULL) open_ctx = EVP_CIPHER_CTX_new();
  if (seal_ctx == NULL || open_ctx == NULL) return 0;
  if (EVP_CipherInit_ex(seal_ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, 1) != 1 ||
      EVP_CipherInit_ex(open_ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, 0) != 1) {
    return 0;
  }
  ready = 1;
  return 1;
}

// Whether the primitives are there and compute what EVP computes: they are OpenSSL internals, so a
// Node whose OpenSSL changed their signatures must fall back, not seal garbage. Checked once, on a
// packet long enough to take the vector code paths.
static int have_primitives(void) {
  static _Thread_local int known = -1;
  if (known >= 0) return known;
  known = 0;
  if (ChaCha20_ctr32 == NULL || Poly1305_ctx_size == NULL || Poly1305_Init == NULL || Poly1305_Update == NULL ||
      Poly1305_Final == NULL || Poly1305_ctx_size() > POLY_CTX_ROOM || !setup()) {
    return known;
  }
  uint8_t key[32], nonce[12], a[1037], b[1037], tag_a[16], tag_b[16];
  for (size_t i = 0; i < sizeof(key); i++) key[i] = (uint8_t)(i * 7 + 1);
  for (size_t i = 0; i < sizeof(nonce); i++) nonce[i] = (uint8_t)(i * 13 + 5);
  for (size_t i = 0; i < sizeof(a); i++) a[i] = b[i] = (uint8_t)(i * 31 + 3);
  unsigned int k[8], c[4];
  load_key(key, nonce, k, c);
  c[0] = 1;
  ChaCha20_ctr32(a, a, sizeof(a), k, c);
  mac_of(k, c, a, sizeof(a), tag_a);
  int outl = 0, fin = 0;
  if (EVP_CipherInit_ex(seal_ctx, NULL, NULL, key, nonce, 1) != 1 ||
      EVP_CipherUpdate(seal_ctx, b, &outl, b, (int)sizeof(b)) != 1 ||
      EVP_CipherFinal_ex(seal_ctx, b + outl, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(seal_ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag_b) != 1) {
    return known;
  }
  known = memcmp(a, b, sizeof(a)) == 0 && memcmp(tag_a, tag_b, sizeof(tag_a)) == 0;
  return known;
}

typedef struct {
  uint8_t* key;
  uint8_t* nonce;
  uint8_t* buf;
  uint8_t* tag;
  size_t len;
  bool fill_checksum;
} aead_args_t;

// (key: 32 bytes, nonce: 12 bytes, buf, tag: 16 bytes), all Uint8Arrays, then for seal an optional
// boolean: fill the TCP checksum of the IP packet in buf first (checksum offload, see checksum.c).
static int get_args(napi_env env, napi_callback_info info, aead_args_t* a) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return 0;
  a->fill_checksum = false;
  if (argc >= 5 && napi_get_value_bool(env, argv[4], &a->fill_checksum) != napi_ok) a->fill_checksum = false;
  uint8_t** ptrs[4] = {&a->key, &a->nonce, &a->buf, &a->tag};
  size_t want[4] = {32, 12, 0, 16};
  for (int i = 0; i < 4; i++) {
    size_t len;
    void* p;
    if (!typed_array(env, argv[i], napi_uint8_array, &p, &len)) return 0;
    if (want[i] != 0 && len != want[i]) return 0;
    *ptrs[i] = (uint8_t*)p;
    if (i == 2) a->len = len;
  }
  return a->len <= 0x7fffffff;
}

// sealInPlace(key, nonce, buf, tag, fillTcpChecksum?): encrypts buf in place and writes the tag.
napi_value aead_seal(napi_env env, napi_callback_info info) {
  aead_args_t a;
  if (!get_args(env, info, &a)) return throw_args(env, "sealInPlace(key[32], nonce[12], buf, tag[16]) takes Uint8Arrays");
  if (a.fill_checksum) fill_tcp_checksum(a.buf, a.len);
  if (have_primitives()) {
    unsigned int k[8], c[4];
    load_key(a.key, a.nonce, k, c);
    c[0] = 1;
    ChaCha20_ctr32(a.buf, a.buf, a.len, k, c);
    mac_of(k, c, a.buf, a.len, a.tag);
    return NULL;
  }
  int outl = 0, fin = 0;
  if (!setup() || EVP_CipherInit_ex(seal_ctx, NULL, NULL, a.key, a.nonce, 1) != 1 ||
      EVP_CipherUpdate(seal_ctx, a.buf, &outl, a.buf, (int)a.len) != 1 ||
      EVP_CipherFinal_ex(seal_ctx, a.buf + outl, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(seal_ctx, EVP_CTRL_AEAD_GET_TAG, 16, a.tag) != 1) {
    napi_throw_error(env, "NATIVE_ERR_CRYPTO", "ChaCha20-Poly1305 seal failed in OpenSSL");
    return NULL;
  }
  return NULL;
}

// openInPlace(key, nonce, buf, tag) -> boolean: decrypts buf in place; false when the tag does not
// authenticate it (buf is then untouched on the primitives path, undefined on the EVP path).
// aeadPath() -> 'primitives' | 'evp': which of the two ways this process uses.
napi_value aead_path(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, have_primitives() ? "primitives" : "evp", NAPI_AUTO_LENGTH, &out);
  return out;
}

napi_value aead_open(napi_env env, napi_callback_info info) {
  aead_args_t a;
  if (!get_args(env, info, &a)) return throw_args(env, "openInPlace(key[32], nonce[12], buf, tag[16]) takes Uint8Arrays");
  if (have_primitives()) {
    unsigned int k[8], c[4];
    uint8_t want[16];
    load_key(a.key, a.nonce, k, c);
    mac_of(k, c, a.buf, a.len, want);
    uint8_t diff = 0;  // constant time: how many bytes match says nothing
    for (int i = 0; i < 16; i++) diff |= want[i] ^ a.tag[i];
    napi_value out;
    if (diff != 0) {
      napi_get_boolean(env, false, &out);
      return out;
    }
    c[0] = 1;
    ChaCha20_ctr32(a.buf, a.buf, a.len, k, c);
    napi_get_boolean(env, true, &out);
    return out;
  }
  int outl = 0, fin = 0;
  int ok = setup() && EVP_CipherInit_ex(open_ctx, NULL, NULL, a.key, a.nonce, 0) == 1 &&
           EVP_CipherUpdate(open_ctx, a.buf, &outl, a.buf, (int)a.len) == 1 &&
           EVP_CIPHER_CTX_ctrl(open_ctx, EVP_CTRL_AEAD_SET_TAG, 16, a.tag) == 1 &&
           EVP_CipherFinal_ex(open_ctx, a.buf + outl, &fin) == 1;
  napi_value out;
  napi_get_boolean(env, ok, &out);
  return out;
}
